package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

/** Shared helpers: an index under test whose invariants are checked after every test. */
abstract class IndexFixture {
    static final String PROFILE = "vllm_v1/sha256_cbor/0";
    static final ContextKey CTX = new ContextKey("default", "qwen", 16);

    PrefixIndex<String> index = new PrefixIndex<>(new PrefixIndexConfig(64L << 20, 0, 42));
    final IndexBatch batch = new IndexBatch();
    final PrefixMatch match = new PrefixMatch();

    @org.junit.jupiter.api.AfterEach
    void checkInvariants() {
        List<String> bad = index.invariantViolations();
        assertEquals(List.of(), bad, "structural invariants");
    }

    RankHandle rank(String instance, int dpRank) {
        try {
            return index.register(CTX, PROFILE, instance, dpRank);
        } catch (ProfileConflictException e) {
            throw new AssertionError(e);
        }
    }

    /** Stores blocks {@code from..to-1} of a chain (hash = base + i) with a known depth. */
    void store(RankHandle owner, Tier tier, long base, int from, int to) {
        store(owner, "", tier, base, from, to);
    }

    void store(RankHandle owner, String lora, Tier tier, long base, int from, int to) {
        long[] hs = new long[to - from];
        for (int i = from; i < to; i++) {
            hs[i - from] = base + i;
        }
        batch.clear();
        batch.store(owner, lora, tier, base + from - 1, from > 0, hs, 0, hs.length);
        index.apply(batch);
        batch.clear();
    }

    void remove(RankHandle owner, Tier tier, long... hashes) {
        batch.clear();
        batch.remove(owner, tier, hashes, 0, hashes.length);
        index.apply(batch);
        batch.clear();
    }

    static long[] chain(long base, int n) {
        long[] hs = new long[n];
        for (int i = 0; i < n; i++) {
            hs[i] = base + i;
        }
        return hs;
    }

    PrefixMatch query(long base, int blocks) {
        index.query(CTX, new BlockHashArray(chain(base, blocks)), "", null, match);
        return match;
    }

    static int instanceIndex(PrefixMatch m, String id) {
        for (int i = 0; i < m.instanceCount(); i++) {
            if (m.instanceId(i).equals(id)) {
                return i;
            }
        }
        throw new AssertionError("instance " + id + " not in result");
    }
}
