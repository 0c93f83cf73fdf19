package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The byte budget, deepest-first eviction, per-instance counters and quotas. */
class EvictionTest extends IndexFixture {
    private static final int CHAINS = 400;
    private static final int DEPTH = 32;

    private static long chainBase(int c) {
        return (long) c << 20;
    }

    @Test
    void shouldStayUnderBudgetAndKeepPrefixesCoherentWhenFull() {
        long budget = 512 * 1024;
        index = new PrefixIndex<>(new PrefixIndexConfig(budget, 0, 3));
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);

        for (int c = 0; c < CHAINS; c++) {
            store(c % 2 == 0 ? a0 : b0, Tier.GPU, chainBase(c), 0, DEPTH / 2);
            store(c % 2 == 0 ? a0 : b0, Tier.GPU, chainBase(c), DEPTH / 2, DEPTH);
            assertTrue(index.stats().bytes() <= budget, "bytes " + index.stats().bytes());
        }

        IndexStats s = index.stats();
        assertTrue(s.evictedPairs() > 0, "the budget forced evictions");
        assertEquals(s.evictedPairs(), s.evictionsByInstance().get("a") + s.evictionsByInstance().get("b"));
        assertTrue(s.blocks() < (long) CHAINS * DEPTH);
        // Coherence: within every chain the blocks still held form a prefix (a deeper block never outlives
        // its ancestors).
        for (int c = 0; c < CHAINS; c++) {
            RankHandle owner = c % 2 == 0 ? a0 : b0;
            boolean gap = false;
            for (int i = 0; i < DEPTH; i++) {
                boolean held = index.tiersOf(owner, "", chainBase(c) + i) != 0;
                assertTrue(!(gap && held), "chain " + c + " holds block " + i + " after a missing ancestor");
                gap |= !held;
            }
        }
        // The newest chain is complete: room was made for it.
        PrefixMatch m = query(chainBase(CHAINS - 1), DEPTH);
        assertEquals((long) DEPTH * 16, m.longestMatchedTokens(instanceIndex(m, "b")));
    }

    @Test
    void shouldEvictOrphansAndPoolBlocksFirstWhenDepthIsUnknown() {
        long budget = 256 * 1024;
        index = new PrefixIndex<>(new PrefixIndexConfig(budget, 0, 3));
        RankHandle a0 = rank("a", 0);
        // A run whose parent is unknown gets the unknown depth, which sorts as deepest.
        batch.store(a0, "", Tier.GPU, 123456789L, true, chain(1L << 40, 64), 0, 64);
        index.apply(batch);
        batch.clear();
        for (int c = 0; c < 200 && index.stats().evictedPairs() == 0; c++) {
            store(a0, Tier.GPU, chainBase(c), 0, DEPTH);
        }

        assertTrue(index.stats().evictedPairs() > 0);
        assertEquals(0, index.tiersOf(a0, "", 1L << 40), "the orphan run went first");
        assertEquals(Tier.GPU.bit(), index.tiersOf(a0, "", chainBase(0)), "chain roots stay");
    }

    @Test
    void shouldEnforceQuotaPerInstanceWhenConfigured() {
        index = new PrefixIndex<>(new PrefixIndexConfig(64L << 20, 100, 3));
        RankHandle a0 = rank("a", 0);
        RankHandle a1 = rank("a", 1);
        RankHandle b0 = rank("b", 0);

        for (int c = 0; c < 10; c++) {
            store(c % 2 == 0 ? a0 : a1, Tier.GPU, chainBase(c), 0, 20);
        }
        store(b0, Tier.GPU, chainBase(50), 0, 90);

        IndexStats s = index.stats();
        long heldByA = s.pairs() - 90;
        assertTrue(heldByA <= 100, "instance a holds " + heldByA);
        assertTrue(s.evictionsByInstance().get("a") >= 100);
        assertEquals(null, s.evictionsByInstance().get("b"));
        assertEquals(Tier.GPU.bit(), index.tiersOf(a0, "", chainBase(8)), "roots of recent chains stay");
    }

    @Test
    void shouldEvictInsteadOfGrowingWhenBudgetHoldsOnlyTheSmallestTable() {
        index = new PrefixIndex<>(new PrefixIndexConfig(133 * 1024, 0, 3));
        RankHandle a0 = rank("a", 0);

        store(a0, Tier.GPU, 1, 0, 40);

        IndexStats s = index.stats();
        assertTrue(s.bytes() <= s.maxBytes());
        assertTrue(s.blocks() <= 12, "a 16-slot table holds at most 12 blocks: " + s.blocks());
        assertEquals(40 - s.blocks(), s.evictedPairs());
        assertEquals(Tier.GPU.bit(), index.tiersOf(a0, "", 1 + 39), "the newest block was stored");
    }
}
