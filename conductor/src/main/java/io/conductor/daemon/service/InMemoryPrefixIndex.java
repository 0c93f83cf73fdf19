package io.conductor.daemon.service;

import io.conductor.daemon.api.QueryResult;
import io.conductor.daemon.registry.ContextKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceType;
import io.conductor.index.BlockHashSequence;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * PLACEHOLDER until the prefix-index module lands: a simple concurrent map implementing the reference's query
 * semantics exactly (mooncake-api.md §5.3) but with none of the real index's memory layout, budget or speed.
 * GPU owners are {@code (instance, rank)}; CPU and disk owners are backends shared by every instance of the
 * context. Thread-safe (concurrent maps and sets).
 */
public final class InMemoryPrefixIndex implements PrefixIndexPort {
    /** A residency tier. */
    public enum Tier {
        /** Engine GPU memory, owned by (instance, rank). */
        GPU,
        /** Shared CPU pool, owned by a backend. */
        CPU,
        /** Shared disk pool, owned by a backend. */
        DISK
    }

    private static final class Owners {
        final Set<String> gpu = ConcurrentHashMap.newKeySet();
        final Set<String> cpu = ConcurrentHashMap.newKeySet();
        final Set<String> disk = ConcurrentHashMap.newKeySet();

        boolean isEmpty() {
            return gpu.isEmpty() && cpu.isEmpty() && disk.isEmpty();
        }
    }

    private final Map<ContextKey, Map<Long, Owners>> contexts = new ConcurrentHashMap<>();

    /**
     * Records that {@code owner} holds {@code hash} on {@code tier}.
     *
     * @param context the context
     * @param tier the tier
     * @param owner {@code instance|rank} for GPU, a backend id otherwise (see {@link #gpuOwner})
     * @param hash the block hash
     */
    public void store(ContextKey context, Tier tier, String owner, long hash) {
        Owners owners = contexts.computeIfAbsent(context, k -> new ConcurrentHashMap<>())
                .computeIfAbsent(hash, k -> new Owners());
        set(owners, tier).add(owner);
    }

    /**
     * Removes one record; unknown records are ignored.
     *
     * @param context the context
     * @param tier the tier
     * @param owner the owner
     * @param hash the block hash
     */
    public void remove(ContextKey context, Tier tier, String owner, long hash) {
        Map<Long, Owners> table = contexts.get(context);
        if (table == null) {
            return;
        }
        table.computeIfPresent(hash, (k, owners) -> {
            set(owners, tier).remove(owner);
            return owners.isEmpty() ? null : owners;
        });
    }

    /**
     * Removes every record of an owner on every tier of a context.
     *
     * @param context the context
     * @param owner the owner
     */
    public void clearOwner(ContextKey context, String owner) {
        Map<Long, Owners> table = contexts.get(context);
        if (table == null) {
            return;
        }
        for (Long hash : List.copyOf(table.keySet())) {
            table.computeIfPresent(hash, (k, owners) -> {
                owners.gpu.remove(owner);
                owners.cpu.remove(owner);
                owners.disk.remove(owner);
                return owners.isEmpty() ? null : owners;
            });
        }
    }

    /**
     * Returns the GPU owner name of an (instance, rank).
     *
     * @param instanceId the instance
     * @param dpRank the rank
     * @return the owner name
     */
    public static String gpuOwner(String instanceId, int dpRank) {
        return instanceId + "|" + dpRank;
    }

    /**
     * Returns the owner name a registration's records are stored under.
     *
     * @param registration the registration
     * @return {@code instance|rank} for vLLM, the endpoint for Mooncake
     */
    public static String ownerOf(ServiceRegistration registration) {
        return registration.type() == ServiceType.VLLM
                ? gpuOwner(registration.instanceId(), registration.dpRank()) : registration.endpoint();
    }

    @Override
    public void purge(ServiceRegistration registration) {
        clearOwner(registration.context(), ownerOf(registration));
    }

    @Override
    public long prefixCount(ContextKey context) {
        Map<Long, Owners> table = contexts.get(context);
        return table == null ? 0 : table.size();
    }

    @Override
    public QueryResult query(ContextKey context, SortedMap<String, int[]> instanceRanks, BlockHashSequence chain) {
        Map<Long, Owners> table = contexts.getOrDefault(context, Map.of());
        int n = chain.blockCount();
        long b = context.blockSize();
        List<QueryResult.InstanceMatch> out = new ArrayList<>(instanceRanks.size());
        for (Map.Entry<String, int[]> e : instanceRanks.entrySet()) {
            List<QueryResult.RankMatch> ranks = new ArrayList<>(e.getValue().length);
            long gpuMax = 0;
            long cpuMax = 0;
            long diskMax = 0;
            for (int rank : e.getValue()) {
                String owner = gpuOwner(e.getKey(), rank);
                int cursor = 0;
                while (cursor < n && has(table, chain.blockHash(cursor), Tier.GPU, owner)) {
                    cursor++;
                }
                long gpu = saturatingTokens(cursor, b);
                while (cursor < n && has(table, chain.blockHash(cursor), Tier.CPU, null)) {
                    cursor++;
                }
                long cpu = saturatingTokens(cursor, b);
                while (cursor < n && has(table, chain.blockHash(cursor), Tier.DISK, null)) {
                    cursor++;
                }
                long disk = saturatingTokens(cursor, b);
                ranks.add(new QueryResult.RankMatch(rank, gpu, cpu, disk));
                gpuMax = Math.max(gpuMax, gpu);
                cpuMax = Math.max(cpuMax, cpu);
                diskMax = Math.max(diskMax, disk);
            }
            out.add(new QueryResult.InstanceMatch(e.getKey(), diskMax, gpuMax, cpuMax, diskMax, List.copyOf(ranks)));
        }
        return new QueryResult(List.copyOf(out));
    }

    private static long saturatingTokens(int blocks, long blockSize) {
        return blockSize > Long.MAX_VALUE / Math.max(1, blocks) ? Long.MAX_VALUE : blocks * blockSize;
    }

    private static boolean has(Map<Long, Owners> table, long hash, Tier tier, @Nullable String owner) {
        Owners owners = table.get(hash);
        if (owners == null) {
            return false;
        }
        Set<String> set = set(owners, tier);
        return owner == null ? !set.isEmpty() : set.contains(owner);
    }

    private static Set<String> set(Owners owners, Tier tier) {
        return switch (tier) {
            case GPU -> owners.gpu;
            case CPU -> owners.cpu;
            case DISK -> owners.disk;
        };
    }
}
