package io.conductor.index.prefix;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * Property test (jqwik): any sequence of store, remove, clear (per owner, per owner and tier) and unregister
 * leaves the index answering every query as a simple model does: per (instance, rank) a set of hashes per tier,
 * and a query walks the prompt's chain on GPU, then CPU, then disk (see {@link PrefixMatch}). The structural
 * invariants hold after every step.
 */
class IndexModelPropertyTest {

    private static final ContextKey CTX = new ContextKey("default", "qwen", 16);
    private static final String PROFILE = "p";
    private static final int CHAIN = 8;
    private static final long[] BASES = {1_000, 2_000, 3_000};
    private static final String[] INSTANCES = {"a", "b"};
    private static final int RANKS = 2;
    private static final Tier[] TIERS = {Tier.GPU, Tier.CPU, Tier.DISK};

    /** One step. {@code chain} picks a base, {@code to} the stored prefix length, {@code mask} removed blocks. */
    record Op(int kind, int instance, int rank, int tier, int chain, int to, int mask) {
        @Override
        public String toString() {
            final String owner = INSTANCES[instance] + "/" + rank;
            return switch (kind) {
                case 0, 1, 2 -> "store(" + owner + ", " + TIERS[tier] + ", chain " + chain + ", 0.." + to + ")";
                case 3 -> "remove(" + owner + ", " + TIERS[tier] + ", chain " + chain + ", mask " + mask + ")";
                case 4 -> "clearOwner(" + owner + ", " + TIERS[tier] + ")";
                case 5 -> "clearOwner(" + owner + ")";
                default -> "unregister(" + owner + ")";
            };
        }
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        final Arbitrary<Op> op = Combinators.combine(List.of(
                Arbitraries.integers().between(0, 6), Arbitraries.integers().between(0, INSTANCES.length - 1),
                Arbitraries.integers().between(0, RANKS - 1), Arbitraries.integers().between(0, TIERS.length - 1),
                Arbitraries.integers().between(0, BASES.length - 1), Arbitraries.integers().between(1, CHAIN),
                Arbitraries.integers().between(0, (1 << CHAIN) - 1)))
                .as(v -> new Op(v.get(0), v.get(1), v.get(2), v.get(3), v.get(4), v.get(5), v.get(6)));
        return op.list().ofMinSize(1).ofMaxSize(60);
    }

    @Property(tries = 300)
    void shouldAnswerLikeTheModelAfterAnySequenceOfUpdates(@ForAll("ops") @Size(min = 1) List<Op> ops)
            throws ProfileConflictException {
        final PrefixIndex<String> index = new PrefixIndex<>(new PrefixIndexConfig(64L << 20, 0, 42));
        final Map<String, RankHandle> handles = new HashMap<>();
        final Map<String, EnumMap<Tier, Set<Long>>> model = new HashMap<>();
        final IndexBatch batch = new IndexBatch();
        final PrefixMatch match = new PrefixMatch();
        final List<Op> done = new ArrayList<>();
        for (final Op op : ops) {
            done.add(op);
            final String owner = INSTANCES[op.instance()] + "/" + op.rank();
            RankHandle h = handles.get(owner);
            if (h == null && op.kind() < 6) {
                h = index.register(CTX, PROFILE, INSTANCES[op.instance()], op.rank());
                handles.put(owner, h);
                model.put(owner, new EnumMap<>(Tier.class));
            }
            final Tier tier = TIERS[op.tier()];
            final long base = BASES[op.chain()];
            batch.clear();
            switch (op.kind()) {
                case 0, 1, 2 -> {
                    final long[] hs = IndexFixture.chain(base, op.to());
                    batch.store(h, "", tier, 0, false, hs, 0, hs.length);
                    final Set<Long> set = model.get(owner).computeIfAbsent(tier, t -> new HashSet<>());
                    for (final long x : hs) {
                        set.add(x);
                    }
                }
                case 3 -> {
                    final List<Long> removed = new ArrayList<>();
                    for (int i = 0; i < CHAIN; i++) {
                        if ((op.mask() & (1 << i)) != 0) {
                            removed.add(base + i);
                        }
                    }
                    final long[] hs = removed.stream().mapToLong(Long::longValue).toArray();
                    batch.remove(h, tier, hs, 0, hs.length);
                    final Set<Long> set = model.get(owner).get(tier);
                    if (set != null) {
                        removed.forEach(set::remove);
                    }
                }
                case 4 -> {
                    batch.clearOwner(h, tier);
                    model.get(owner).remove(tier);
                }
                case 5 -> {
                    batch.clearOwner(h);
                    model.get(owner).clear();
                }
                default -> {
                    if (h != null) {
                        index.unregister(h);
                        handles.remove(owner);
                        model.remove(owner);
                    }
                }
            }
            if (batch.size() > 0) {
                index.apply(batch);
            }
            batch.clear();
            final List<String> violations = index.invariantViolations();
            if (!violations.isEmpty()) {
                throw new AssertionError("invariants after " + done + ": " + violations);
            }
            for (final long queryBase : BASES) {
                check(index, match, model, queryBase, done);
            }
        }
    }

    private static void check(PrefixIndex<String> index, PrefixMatch match,
                              Map<String, EnumMap<Tier, Set<Long>>> model, long base, List<Op> done) {
        index.query(CTX, new BlockHashArray(IndexFixture.chain(base, CHAIN)), "", null, match);
        for (final String instance : INSTANCES) {
            int gpu = 0;
            int cpu = 0;
            int disk = 0;
            for (int r = 0; r < RANKS; r++) {
                final EnumMap<Tier, Set<Long>> tiers = model.get(instance + "/" + r);
                if (tiers == null) {
                    continue;
                }
                int i = walk(tiers.get(Tier.GPU), base, 0);
                gpu = Math.max(gpu, i);
                i = walk(tiers.get(Tier.CPU), base, i);
                cpu = Math.max(cpu, i);
                i = walk(tiers.get(Tier.DISK), base, i);
                disk = Math.max(disk, i);
            }
            final int at = find(match, instance);
            final long gotGpu = at < 0 ? 0 : match.gpuTokens(at) / 16;
            final long gotCpu = at < 0 ? 0 : match.cpuTokens(at) / 16;
            final long gotDisk = at < 0 ? 0 : match.diskTokens(at) / 16;
            if (gotGpu != gpu || gotCpu != cpu || gotDisk != disk) {
                throw new AssertionError("instance " + instance + ", chain " + base + ": index gpu/cpu/disk "
                        + gotGpu + "/" + gotCpu + "/" + gotDisk + ", model " + gpu + "/" + cpu + "/" + disk
                        + " after " + done);
            }
        }
    }

    private static int walk(Set<Long> held, long base, int from) {
        int i = from;
        while (held != null && i < CHAIN && held.contains(base + i)) {
            i++;
        }
        return i;
    }

    private static int find(PrefixMatch m, String id) {
        for (int i = 0; i < m.instanceCount(); i++) {
            if (m.instanceId(i).equals(id)) {
                return i;
            }
        }
        return -1;
    }
}
