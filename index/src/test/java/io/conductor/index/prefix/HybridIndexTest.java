package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Hybrid contexts: blocks kept per (hash, group) and the reuse rule of vLLM's hybrid coordinator, checked on the
 * issue's cases and against an independent model of the coordinator's fixed-point search on random layouts.
 */
class HybridIndexTest extends IndexFixture {
    static final ContextKey HYB = new ContextKey("default", "gemma3", 16);
    /** Gemma-3 style: group 0 full attention, group 1 a 64-token sliding window (4 blocks of 16 before a hit). */
    static final GroupLayout GEMMA = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
            new CacheGroup.SlidingWindow(16, 65)));

    RankHandle hybridRank(GroupLayout layout, String instance, int dp) {
        try {
            return index.register(HYB, PROFILE, layout, instance, dp);
        } catch (ProfileConflictException e) {
            throw new AssertionError(e);
        }
    }

    void storeGroup(RankHandle r, Tier tier, int group, long... hashes) {
        batch.clear();
        batch.storeGroup(r, "", tier, group, 0, false, hashes, 0, hashes.length);
        index.apply(batch);
        batch.clear();
    }

    void removeGroup(RankHandle r, Tier tier, int group, long... hashes) {
        batch.clear();
        batch.removeGroup(r, tier, group, hashes, 0, hashes.length);
        index.apply(batch);
        batch.clear();
    }

    /** Hash-chain blocks {@code from..to-1}. */
    static long[] blocks(int from, int to) {
        long[] hs = new long[to - from];
        for (int i = from; i < to; i++) {
            hs[i - from] = 1000 + i;
        }
        return hs;
    }

    /** "lora name/group/hash/tiers/depth" of every exported block. */
    static java.util.Set<String> contents(RankBlocks b) {
        java.util.Set<String> out = new java.util.HashSet<>();
        for (int i = 0; i < b.size(); i++) {
            int field = b.loraOf(i);
            out.add(b.loraNames().get(field / b.groupCount()) + "/" + field % b.groupCount() + "/" + b.hash(i) + "/"
                    + b.tierBits(i) + "/" + b.depth(i));
        }
        return out;
    }

    long longest(String instance, int prompt) {
        assertTrue(index.query(HYB, new BlockHashArray(blocks(0, prompt)), "", null, match));
        return match.longestMatchedTokens(instanceIndex(match, instance));
    }

    @Test
    void shouldAnswerTheSameAfterAnExportAndRestoreIntoAFreshIndexWithEveryGroupKept() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 8));
        storeGroup(a, Tier.GPU, 1, blocks(4, 8));
        batch.clear();
        batch.storeGroup(a, "ad", Tier.CPU, 1, 0, false, blocks(0, 2), 0, 2);
        index.apply(batch);
        batch.clear();
        long before = longest("a", 8);
        RankBlocks exported = index.exportRanks(List.of(a)).getFirst();
        assertEquals(2, exported.groupCount());
        assertEquals(8 + 4 + 2, exported.size());

        index = new PrefixIndex<>(new PrefixIndexConfig(64L << 20, 0, 9));
        RankHandle a2 = hybridRank(GEMMA, "a", 0);
        assertEquals(14, index.restoreRank(a2, exported));

        assertEquals(128, before);
        assertEquals(before, longest("a", 8), "both groups restored: the window before the end is complete");
        assertEquals(contents(exported), contents(index.exportRank(a2)), "every (hash, LoRA, group) with its tiers");
        removeGroup(a2, Tier.GPU, 1, 1000 + 6);
        assertEquals(0, longest("a", 8), "a group-1 removal applies to the restored group-1 block");

        // Blocks of another layout (a plain context's export) are dropped whole, not put in the wrong groups.
        RankHandle plain = rank("p", 0);
        store(plain, Tier.GPU, 1000, 0, 4);
        RankHandle b = hybridRank(GEMMA, "b", 0);
        assertEquals(0, index.restoreRank(b, index.exportRank(plain)));
    }

    @Test
    void shouldReuseOnlyFourBlocksWhenTheSlidingWindowGroupHoldsOnlyTheFirstFour() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 8));
        storeGroup(a, Tier.GPU, 1, blocks(0, 4));

        // A hit at 8 blocks needs window blocks 4..7; at 7, 3..6; ... only 4 (blocks 0..3) qualifies.
        assertEquals(64, longest("a", 8));
        // The group-0 prefix alone (what a plain index answers) would be 128; both groups' entries are kept.
        assertEquals(12, index.stats().blocks());
    }

    @Test
    void shouldReuseTheWholePromptWhenTheWindowBeforeItsEndIsHeldAfterEarlierBlocksLeftTheWindow() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 8));
        storeGroup(a, Tier.GPU, 1, blocks(4, 8));
        assertEquals(128, longest("a", 8));
        // Losing one window block moves the hit back to the last end whose window is complete.
        removeGroup(a, Tier.GPU, 1, 1000 + 6);
        assertEquals(0, longest("a", 8), "ends 8 and 7 miss block 6; ends 6..1 miss blocks 0..3");
        storeGroup(a, Tier.GPU, 1, blocks(2, 4));
        assertEquals(96, longest("a", 8), "end 6 needs blocks 2..5");
    }

    @Test
    void shouldKeepOtherGroupsWhenOneGroupRemovesAHash() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 4));
        storeGroup(a, Tier.GPU, 1, blocks(0, 4));
        assertEquals(64, longest("a", 4));
        removeGroup(a, Tier.GPU, 1, blocks(0, 4));
        assertEquals(0, longest("a", 4));
        assertEquals(1, index.tiersOf(a, "", 1000), "group 0 keeps block 0 on GPU");
        assertEquals(4, index.stats().blocks(), "group 1's entries are gone, group 0's stay");
        removeGroup(a, Tier.GPU, 0, 1000 + 3);
        storeGroup(a, Tier.GPU, 1, blocks(0, 4));
        assertEquals(48, longest("a", 4));
        assertEquals(0, index.stats().unknownRemovals());
        removeGroup(a, Tier.GPU, 0, 1000 + 3);
        assertEquals(1, index.stats().unknownRemovals(), "already gone from group 0");
    }

    @Test
    void shouldReuseUpToTheLastMambaStateBlockThatFullAttentionCovers() {
        GroupLayout qwenNext = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
                new CacheGroup.Mamba(16), new CacheGroup.Mamba(16)));
        RankHandle a = hybridRank(qwenNext, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 8));
        storeGroup(a, Tier.GPU, 1, 1000 + 2, 1000 + 5, 1000 + 7);
        storeGroup(a, Tier.GPU, 2, 1000 + 2, 1000 + 5);
        assertEquals(96, longest("a", 8), "states at ends 3 and 6 in both Mamba groups; end 8 only in one");
        assertEquals(96, longest("a", 7));
        assertEquals(48, longest("a", 5));
        removeGroup(a, Tier.GPU, 2, 1000 + 5);
        assertEquals(48, longest("a", 8));
        removeGroup(a, Tier.GPU, 0, 1000 + 1);
        assertEquals(0, longest("a", 8), "full attention must hold every block before the state");
    }

    @Test
    void shouldAlignHitsToTheLargestGroupBlockWhenGroupsHaveDifferentBlockSizes() {
        // Mamba blocks of 64 tokens (4 hash blocks): hits only at 64-token ends, keyed by the 4th hash block.
        GroupLayout layout = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
                new CacheGroup.Mamba(64)));
        assertEquals(64, layout.hitAlignmentTokens());
        RankHandle a = hybridRank(layout, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 10));
        storeGroup(a, Tier.GPU, 1, 1000 + 3, 1000 + 7);
        assertEquals(128, longest("a", 10));
        assertEquals(64, longest("a", 7));
        // A state stored under a hash that does not end a 64-token block never counts.
        storeGroup(a, Tier.GPU, 1, 1000 + 8);
        assertEquals(128, longest("a", 10));
    }

    @Test
    void shouldCountCpuBlocksForTheCpuLevelOfEveryGroup() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 8));
        storeGroup(a, Tier.GPU, 1, blocks(0, 4));
        storeGroup(a, Tier.CPU, 1, blocks(4, 8));
        assertTrue(index.query(HYB, new BlockHashArray(blocks(0, 8)), "", null, match));
        int i = instanceIndex(match, "a");
        assertEquals(64, match.gpuTokens(i));
        assertEquals(128, match.cpuTokens(i));
        assertEquals(128, match.longestMatchedTokens(i));
    }

    @Test
    void shouldStopHashingWhenNoRankIsStillContiguousInFullAttention() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 3));
        storeGroup(a, Tier.GPU, 1, blocks(0, 3));
        assertEquals(48, longest("a", 64));
        assertEquals(4, match.hashedBlocks());
    }

    @Test
    void shouldRejectARegistrationWhoseLayoutDiffersFromTheContexts() {
        hybridRank(GEMMA, "a", 0);
        GroupLayout other = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
                new CacheGroup.SlidingWindow(16, 128)));
        ProfileConflictException e = assertThrows(ProfileConflictException.class,
                () -> index.register(HYB, PROFILE, other, "b", 0));
        assertTrue(e.getMessage().contains("sliding_window"), e.getMessage());
        assertThrows(ProfileConflictException.class, () -> index.register(HYB, PROFILE, "b", 0));
        assertEquals(GEMMA, index.layout(HYB));
    }

    @Test
    void shouldRegisterAPlainContextWhenTheLayoutIsOneFullGroup() throws Exception {
        GroupLayout plain = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16)));
        assertTrue(plain.isPlain());
        RankHandle a = index.register(CTX, PROFILE, plain, "a", 0);
        assertEquals(null, index.layout(CTX));
        store(a, Tier.GPU, 1000, 0, 4);
        assertEquals(64, query(1000, 4).longestMatchedTokens(0));
    }

    @Test
    void shouldDropAndCountStoresOfAGroupTheLayoutDoesNotHave() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        long before = index.stats().droppedEvents();
        storeGroup(a, Tier.GPU, 2, blocks(0, 4));
        removeGroup(a, Tier.GPU, 5, blocks(0, 4));
        assertEquals(before + 2, index.stats().droppedEvents());
        assertEquals(0, index.stats().blocks());
        RankHandle p = rank("plain", 0);
        storeGroup(p, Tier.GPU, 1, blocks(0, 4));
        assertEquals(before + 3, index.stats().droppedEvents());
    }

    @Test
    void shouldKeepEveryGroupWalkableWhenTheBudgetEvictsDeepestFirst() {
        index = new PrefixIndex<>(new PrefixIndexConfig(200_000, 0, 7));
        RankHandle a = hybridRank(GEMMA, "a", 0);
        for (int run = 0; run < 40; run++) {
            long[] hs = new long[64];
            for (int i = 0; i < 64; i++) {
                hs[i] = run * 1_000_000L + i;
            }
            batch.clear();
            batch.storeGroup(a, "", Tier.GPU, 0, 0, false, hs, 0, 64);
            batch.storeGroup(a, "", Tier.GPU, 1, 0, false, hs, 0, 64);
            index.apply(batch);
        }
        batch.clear();
        assertTrue(index.stats().evictedPairs() > 0, "the budget evicted");
        // Whatever survived of the last run is a prefix in both groups, so the answer is that prefix.
        long[] last = new long[64];
        for (int i = 0; i < 64; i++) {
            last[i] = 39 * 1_000_000L + i;
        }
        index.query(HYB, new BlockHashArray(last), "", null, match);
        long hit = match.longestMatchedTokens(0) / 16;
        for (int i = 0; i < hit; i++) {
            assertEquals(1, index.tiersOf(a, "", last[i]), "block " + i + " of the reported prefix");
        }
    }

    @Test
    void shouldMatchAnIndependentModelOfTheHybridCoordinatorOnRandomLayoutsAndBlocks() {
        Random rnd = new Random(1234);
        for (int trial = 0; trial < 400; trial++) {
            index = new PrefixIndex<>(new PrefixIndexConfig(64L << 20, 0, trial));
            List<CacheGroup> groups = new ArrayList<>();
            int ng = 1 + rnd.nextInt(4);
            for (int g = 0; g < ng; g++) {
                long bs = 16L * (1 + rnd.nextInt(2));
                switch (g == 0 && rnd.nextInt(4) != 0 ? 0 : rnd.nextInt(3)) {
                    case 0 -> groups.add(new CacheGroup.FullAttention(bs));
                    case 1 -> groups.add(new CacheGroup.SlidingWindow(bs, 2 + rnd.nextInt(80)));
                    default -> groups.add(new CacheGroup.Mamba(bs));
                }
            }
            GroupLayout layout = new GroupLayout(16, groups);
            if (layout.isPlain()) {
                continue;
            }
            ContextKey ctx = new ContextKey("t", "m" + trial, 16);
            int prompt = rnd.nextInt(14);
            int ranks = 1 + rnd.nextInt(3);
            BitSet[][] held = new BitSet[ranks][ng];
            RankHandle[] handles = new RankHandle[ranks];
            for (int r = 0; r < ranks; r++) {
                try {
                    handles[r] = index.register(ctx, PROFILE, layout, "i", r);
                } catch (ProfileConflictException e) {
                    throw new AssertionError(e);
                }
                for (int g = 0; g < ng; g++) {
                    int k = (int) (groups.get(g).blockSize() / 16);
                    held[r][g] = new BitSet();
                    double p = rnd.nextDouble();
                    for (int j = 0; (j + 1) * k <= prompt + 1; j++) {
                        if (rnd.nextDouble() < p) {
                            held[r][g].set(j);
                            long h = 1000 + (long) (j + 1) * k - 1;
                            batch.storeGroup(handles[r], "", Tier.GPU, g, 0, false, new long[] {h}, 0, 1);
                        }
                    }
                }
            }
            index.apply(batch);
            batch.clear();
            index.query(ctx, new BlockHashArray(blocks(0, prompt)), "", null, match);
            for (int r = 0; r < ranks; r++) {
                long expected = CoordinatorModel.longestHit(layout, held[r], prompt) * 16L;
                assertEquals(expected, match.rankGpuTokens(0, r),
                        "trial " + trial + " " + layout + " prompt " + prompt + " rank " + r + " held "
                                + java.util.Arrays.toString(held[r]));
            }
            assertEquals(List.of(), index.invariantViolations());
        }
    }

    @Test
    void shouldAnswerNothingForALoraTheHybridContextHasNeverSeen() {
        RankHandle a = hybridRank(GEMMA, "a", 0);
        storeGroup(a, Tier.GPU, 0, blocks(0, 4));
        assertTrue(index.query(HYB, new BlockHashArray(blocks(0, 4)), "unknown", null, match));
        assertEquals(0, match.longestMatchedTokens(0));
        assertEquals(0, match.hashedBlocks());
        assertFalse(index.query(HYB, new BlockHashArray(blocks(0, 4)), "", "nobody", match));
    }

    /**
     * An independent model of vLLM's hybrid coordinator, in hash blocks: each group type returns the longest hit
     * it accepts up to a bound (sliding windows scanned right to left, as the engine does), and the bound shrinks
     * until every group agrees.
     */
    static final class CoordinatorModel {
        static int longestHit(GroupLayout layout, BitSet[] held, int promptBlocks) {
            int align = (int) (layout.hitAlignmentTokens() / layout.hashBlockSize());
            int bound = promptBlocks;
            while (true) {
                int l = bound;
                for (int g = 0; g < layout.groupCount(); g++) {
                    CacheGroup c = layout.groups().get(g);
                    int k = (int) (c.blockSize() / layout.hashBlockSize());
                    int max = l / k;
                    int hitBlocks = switch (c) {
                        case CacheGroup.FullAttention f -> {
                            int run = 0;
                            while (run < max && held[g].get(run)) {
                                run++;
                            }
                            while (run * k % align != 0) {
                                run--;
                            }
                            yield run;
                        }
                        case CacheGroup.SlidingWindow w -> {
                            int need = (int) w.windowBlocks();
                            int run = 0;
                            int found = -1;
                            for (int j = max - 1; j >= 0; j--) {
                                if (held[g].get(j)) {
                                    if (run == 0 && (j + 1) * k % align != 0) {
                                        continue;
                                    }
                                    run++;
                                    if (run >= need) {
                                        found = j + run;
                                        break;
                                    }
                                } else {
                                    run = 0;
                                }
                            }
                            if (found < 0) {
                                found = run;
                                while (found * k % align != 0) {
                                    found--;
                                }
                            }
                            yield found;
                        }
                        case CacheGroup.Mamba m -> {
                            int hit = 0;
                            for (int j = max - 1; j >= 0; j--) {
                                if (held[g].get(j) && (j + 1) * k % align == 0) {
                                    hit = j + 1;
                                    break;
                                }
                            }
                            yield hit;
                        }
                    };
                    l = Math.min(l, hitBlocks * k);
                }
                if (l >= bound) {
                    return l;
                }
                bound = l;
            }
        }
    }
}
