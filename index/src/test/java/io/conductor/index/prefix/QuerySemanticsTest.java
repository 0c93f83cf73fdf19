package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.index.BlockHashSequence;
import org.junit.jupiter.api.Test;

/** Pins the reference conductor's query semantics (mooncake-api.md section 5.3) case by case. */
class QuerySemanticsTest extends IndexFixture {
    private static final long BASE = 1000;

    @Test
    void shouldReproduceSpecWorkedExampleWhenBlocksSpanGpuCpuAndDisk() {
        RankHandle a0 = rank("a", 0);
        index.addPoolReader("a", PrefixIndex.ANY_BACKEND);
        store(a0, Tier.GPU, BASE, 0, 2);
        PoolStream pool = index.openPoolStream("tcp://master:5557");
        batch.poolStore(pool, CTX, "", "pool-a", "k2", Tier.CPU, BASE + 2);
        batch.poolStore(pool, CTX, "", "pool-a", "k3", Tier.DISK, BASE + 3);
        index.apply(batch);

        PrefixMatch m = query(BASE, 4);

        assertTrue(m.contextFound());
        assertEquals(1, m.instanceCount());
        assertEquals("a", m.instanceId(0));
        assertEquals(1, m.rankCount(0));
        assertEquals(0, m.rank(0, 0));
        assertEquals(32, m.rankGpuTokens(0, 0));
        assertEquals(48, m.rankCpuTokens(0, 0));
        assertEquals(64, m.rankDiskTokens(0, 0));
        assertEquals(32, m.gpuTokens(0));
        assertEquals(48, m.cpuTokens(0));
        assertEquals(64, m.diskTokens(0));
        assertEquals(64, m.longestMatchedTokens(0));
        assertEquals(0, m.bestRank(0));
        assertEquals(2, m.bestRankGpuBlocks(0));
        assertEquals(1, m.bestRankCpuBlocks(0));
        assertEquals(1, m.bestRankDiskBlocks(0));
    }

    @Test
    void shouldNeverReturnToGpuWhenCpuPhaseStarted() {
        RankHandle a0 = rank("a", 0);
        store(a0, Tier.CPU, BASE, 0, 1);
        store(a0, Tier.GPU, BASE, 1, 3);

        PrefixMatch m = query(BASE, 3);

        // GPU misses block 0; CPU covers block 0 only; disk misses block 1; blocks 1-2 on GPU never count.
        assertEquals(0, m.rankGpuTokens(0, 0));
        assertEquals(16, m.rankCpuTokens(0, 0));
        assertEquals(16, m.rankDiskTokens(0, 0));
        assertEquals(16, m.longestMatchedTokens(0));
    }

    @Test
    void shouldFallThroughToDiskWhenCpuPhaseIsEmpty() {
        RankHandle a0 = rank("a", 0);
        store(a0, Tier.GPU, BASE, 0, 1);
        store(a0, Tier.DISK, BASE, 1, 3);

        PrefixMatch m = query(BASE, 4);

        assertEquals(16, m.rankGpuTokens(0, 0));
        assertEquals(16, m.rankCpuTokens(0, 0));
        assertEquals(48, m.rankDiskTokens(0, 0));
        assertEquals(0, m.bestRankCpuBlocks(0));
        assertEquals(2, m.bestRankDiskBlocks(0));
    }

    @Test
    void shouldEndRankAtFirstDiskMissWhenLaterBlocksAreOnGpu() {
        RankHandle a0 = rank("a", 0);
        store(a0, Tier.GPU, BASE, 0, 1);
        store(a0, Tier.CPU, BASE, 1, 2);
        store(a0, Tier.DISK, BASE, 2, 3);
        store(a0, Tier.GPU, BASE, 4, 6);

        PrefixMatch m = query(BASE, 6);

        assertEquals(16, m.rankGpuTokens(0, 0));
        assertEquals(32, m.rankCpuTokens(0, 0));
        assertEquals(48, m.rankDiskTokens(0, 0));
    }

    @Test
    void shouldNeverConcatenateRanksWhenEachHoldsPartOfThePrefix() {
        RankHandle a0 = rank("a", 0);
        RankHandle a1 = rank("a", 1);
        store(a0, Tier.GPU, BASE, 0, 2);
        store(a1, Tier.GPU, BASE, 2, 4);

        PrefixMatch m = query(BASE, 4);

        assertEquals(2, m.rankCount(0));
        assertEquals(32, m.rankGpuTokens(0, 0));
        assertEquals(0, m.rankGpuTokens(0, 1));
        assertEquals(32, m.gpuTokens(0));
        assertEquals(32, m.longestMatchedTokens(0));
        assertEquals(0, m.bestRank(0));
    }

    @Test
    void shouldListZeroHitRanksAndInstancesWhenNothingMatches() {
        rank("b", 3);
        rank("a", 1);
        rank("a", 0);

        PrefixMatch m = query(BASE, 5);

        assertEquals(2, m.instanceCount());
        assertEquals("a", m.instanceId(0));
        assertEquals("b", m.instanceId(1));
        assertEquals(2, m.rankCount(0));
        assertEquals(0, m.rank(0, 0));
        assertEquals(1, m.rank(0, 1));
        assertEquals(3, m.rank(1, 0));
        assertEquals(0, m.longestMatchedTokens(0));
        assertEquals(0, m.longestMatchedTokens(1));
        assertEquals(1, m.hashedBlocks(), "a cold query hashes one block");
    }

    @Test
    void shouldPickLowestRankWhenRanksTie() {
        RankHandle a0 = rank("a", 0);
        RankHandle a1 = rank("a", 1);
        store(a1, Tier.GPU, BASE, 0, 2);
        store(a0, Tier.GPU, BASE, 0, 2);

        PrefixMatch m = query(BASE, 3);

        assertEquals(0, m.bestRank(0));
        assertEquals(32, m.rankGpuTokens(0, 0));
        assertEquals(32, m.rankGpuTokens(0, 1));
    }

    @Test
    void shouldPreferMoreGpuWhenUsablePrefixesTie() {
        RankHandle a0 = rank("a", 0);
        RankHandle a1 = rank("a", 1);
        store(a0, Tier.GPU, BASE, 0, 1);
        store(a0, Tier.CPU, BASE, 1, 3);
        store(a1, Tier.GPU, BASE, 0, 3);

        PrefixMatch m = query(BASE, 3);

        assertEquals(48, m.rankDiskTokens(0, 0));
        assertEquals(48, m.rankDiskTokens(0, 1));
        assertEquals(1, m.bestRank(0));
        assertEquals(3, m.bestRankGpuBlocks(0));
    }

    @Test
    void shouldCountLocalOffloadOnlyForItsOwnRankWhenOtherRanksShareTheInstance() {
        RankHandle a0 = rank("a", 0);
        RankHandle a1 = rank("a", 1);
        store(a0, Tier.GPU, BASE, 0, 1);
        store(a1, Tier.GPU, BASE, 0, 1);
        store(a0, Tier.CPU, BASE, 1, 3);

        PrefixMatch m = query(BASE, 3);

        assertEquals(48, m.rankCpuTokens(0, 0));
        assertEquals(16, m.rankCpuTokens(0, 1));
    }

    @Test
    void shouldHashOnlyUpToFirstBlockNoCandidateHasWhenChainIsLazy() {
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);
        store(a0, Tier.GPU, BASE, 0, 2);
        store(b0, Tier.GPU, BASE, 0, 4);
        int[] asked = new int[1];
        BlockHashSequence lazy = new BlockHashSequence() {
            @Override
            public int blockCount() {
                return 10;
            }

            @Override
            public long blockHash(int i) {
                asked[0]++;
                return BASE + i;
            }
        };

        index.query(CTX, lazy, "", null, match);

        assertEquals(5, asked[0], "blocks 0..3 hit for b, block 4 misses for everyone");
        assertEquals(5, match.hashedBlocks());
        assertEquals(32, match.longestMatchedTokens(0));
        assertEquals(64, match.longestMatchedTokens(1));
    }

    @Test
    void shouldMatchWholePromptWhenEveryBlockIsHeld() {
        RankHandle a0 = rank("a", 0);
        store(a0, Tier.GPU, BASE, 0, 8);

        PrefixMatch m = query(BASE, 8);

        assertEquals(128, m.longestMatchedTokens(0));
        assertEquals(8, m.longestMatchedBlocks(0));
        assertEquals(8, m.hashedBlocks());
    }

    @Test
    void shouldCountOnlyCompleteBlocksWhenSequenceIsEmpty() {
        RankHandle a0 = rank("a", 0);
        store(a0, Tier.GPU, BASE, 0, 2);

        // A prompt shorter than one block has no complete block: the hasher gives an empty chain.
        index.query(CTX, new BlockHashArray(), "", null, match);

        assertTrue(match.contextFound());
        assertEquals(0, match.blockCount());
        assertEquals(0, match.longestMatchedTokens(0));
        assertEquals(0, match.hashedBlocks());
    }

    @Test
    void shouldRestrictToOneInstanceWhenFilterGiven() {
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);
        store(a0, Tier.GPU, BASE, 0, 2);
        store(b0, Tier.GPU, BASE, 0, 3);

        index.query(CTX, new BlockHashArray(chain(BASE, 3)), "", "b", match);

        assertEquals(1, match.instanceCount());
        assertEquals("b", match.instanceId(0));
        assertEquals(48, match.longestMatchedTokens(0));
    }

    @Test
    void shouldReturnNoInstancesWhenContextOrFilteredInstanceIsUnknown() {
        rank("a", 0);

        boolean unknownInstance = index.query(CTX, new BlockHashArray(1, 2), "", "zz", match);
        int afterFilter = match.instanceCount();
        boolean unknownContext = index.query(new ContextKey("default", "qwen", 32), new BlockHashArray(1, 2), "",
                null, match);

        assertFalse(unknownInstance);
        assertEquals(0, afterFilter);
        assertFalse(unknownContext);
        assertEquals(0, match.instanceCount());
    }

    @Test
    void shouldSaturateTokensWhenBlockSizeIsHuge() {
        ContextKey huge = new ContextKey("default", "qwen", Long.MAX_VALUE / 2);
        RankHandle a0;
        try {
            a0 = index.register(huge, PROFILE, "a", 0);
        } catch (ProfileConflictException e) {
            throw new AssertionError(e);
        }
        batch.store(a0, "", Tier.GPU, 0, false, chain(BASE, 3), 0, 3);
        index.apply(batch);

        index.query(huge, new BlockHashArray(chain(BASE, 3)), "", null, match);

        assertEquals(Long.MAX_VALUE, match.longestMatchedTokens(0));
        assertEquals(Long.MAX_VALUE, match.rankGpuTokens(0, 0));
    }
}
