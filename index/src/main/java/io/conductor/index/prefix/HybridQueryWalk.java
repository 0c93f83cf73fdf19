package io.conductor.index.prefix;

import io.conductor.index.BlockHashSequence;
import java.util.Arrays;

/**
 * The query walk of a hybrid context ({@link GroupLayout}): for every candidate (instance, DP rank), the longest
 * prefix the engine's hybrid KV-cache coordinator would reuse, per tier level, written into a reusable
 * {@link PrefixMatch}. Stateless; runs on any query thread without a lock, like {@link QueryWalk}, and allocates
 * nothing once the match's scratch fits.
 */
final class HybridQueryWalk {
    /*
     * The rule (learned from vLLM's HybridKVCacheCoordinator and its single-type managers): a prefix of L tokens is
     * reused only if L is a multiple of the hit alignment (the least common multiple of the group block sizes) and
     * every group accepts it:
     *   full attention   the group holds every block before L;
     *   sliding window   it holds the c = ceil((window - 1) / blockSize) blocks just before L (every block before
     *                    L when L is shorter than that);
     *   Mamba            it holds the state block ending exactly at L.
     * Each manager returns the longest length it accepts up to a bound and the coordinator iterates to a fixed
     * point, so the answer is the largest L every group accepts; L = 0 always qualifies.
     *
     * One pass, all ranks at once: the walk reads block i of the hash chain in every group whose blocks end there
     * (group block j = (i + 1) / k - 1 when k divides i + 1) and keeps, per rank, what decides acceptance at the
     * next aligned end, as owner bitmaps so that all ranks move together: "still contiguous" per full group,
     * "holds the block just read" per Mamba group, and per sliding-window group "the window before here is held"
     * (true until a miss, then again c blocks after the last miss; only ranks that missed recently are looked at
     * one by one, with their last miss position). At every aligned end the ranks all groups accept record L.
     *
     * Tiers: levels are cumulative here. Level GPU sees GPU blocks, level CPU blocks on GPU or on a CPU tier the
     * rank can use, level disk any of them, so gpu <= cpu <= disk. (The plain walk's strict phases, which never go
     * back to a faster tier, have no clear meaning once groups keep different blocks.)
     *
     * Early exit: when the model has a full-attention group and no rank is still contiguous in every full group at
     * the disk level, no longer prefix can qualify and the walk stops; without one the whole prompt is read.
     */

    private static final int LEVELS = 3;

    private HybridQueryWalk() {
    }

    /**
     * Matches a prompt against one hybrid context; the caller resolved the directory, the LoRA base id and the
     * instance range. See {@link PrefixIndex#query}.
     */
    static boolean run(ContextState cs, ContextState.Directory dir, BlockHashSequence hashes, int loraBase,
            int first, int last, PrefixMatch out) {
        GroupLayout layout = java.util.Objects.requireNonNull(cs.layout, "hybrid walk without a group layout");
        int n = hashes.blockCount();
        int words = dir.words;
        int groups = layout.groupCount();
        int owners = words << 6;
        out.prepareHybridScratch(words, groups);
        long[] cand = out.inGpu;
        for (int i = first; i < last; i++) {
            for (int o : dir.rankOwners[i]) {
                cand[o >>> 6] |= 1L << o;
                out.ownerGpuEnd[o] = 0;
                out.ownerCpuEnd[o] = 0;
                out.ownerDiskEnd[o] = 0;
            }
        }
        long[] alive = out.hybridAlive;
        long[] held = out.hybridHeld;
        int[] lastMiss = out.hybridRuns;
        long[] level = out.hybridLevel;
        long[] acc = out.inCpu;
        byte[] kinds = layout.kinds;
        int[] per = layout.blocksPerGroupBlock;
        int[] window = layout.windowBlocks;
        int align = layout.alignment;
        for (int p = 0; p < LEVELS; p++) {
            for (int g = 0; g < groups; g++) {
                int base = (p * groups + g) * words;
                System.arraycopy(cand, 0, alive, base, words);
                Arrays.fill(held, base, base + words, 0L);
            }
        }
        ReadBuffer buf = out.buffer;
        BlockTable table = cs.table;
        int hashed = 0;
        boolean any = loraBase >= 0 && first < last;
        for (int i = 0; any && i < n; i++) {
            long h = hashes.blockHash(i);
            hashed++;
            int end = i + 1;
            for (int g = 0; g < groups; g++) {
                int k = per[g];
                if (end % k != 0) {
                    continue;
                }
                if (table.read(h, loraBase + g, buf)) {
                    QueryWalk.expandPools(dir, buf, words);
                }
                for (int w = 0; w < words; w++) {
                    long gpu = buf.gpu[w];
                    long cpu = gpu | buf.cpu[w];
                    level[w] = gpu;
                    level[words + w] = cpu;
                    level[2 * words + w] = cpu | buf.disk[w];
                }
                for (int p = 0; p < LEVELS; p++) {
                    int base = (p * groups + g) * words;
                    switch (kinds[g]) {
                        case GroupLayout.FULL -> {
                            for (int w = 0; w < words; w++) {
                                alive[base + w] &= level[p * words + w];
                            }
                        }
                        case GroupLayout.MAMBA -> {
                            for (int w = 0; w < words; w++) {
                                held[base + w] = level[p * words + w] & cand[w];
                            }
                        }
                        default -> {
                            int c = window[g];
                            if (c == 0) {
                                break;
                            }
                            int j = end / k - 1;
                            int missBase = (p * groups + g) * owners;
                            for (int w = 0; w < words; w++) {
                                long miss = cand[w] & ~level[p * words + w];
                                long waiting = held[base + w] & ~miss;
                                while (waiting != 0) {
                                    int o = (w << 6) + Long.numberOfTrailingZeros(waiting);
                                    if (j - lastMiss[missBase + o] >= c) {
                                        alive[base + w] |= 1L << o;
                                        held[base + w] &= ~(1L << o);
                                    }
                                    waiting &= waiting - 1;
                                }
                                for (long m = miss; m != 0; m &= m - 1) {
                                    lastMiss[missBase + (w << 6) + Long.numberOfTrailingZeros(m)] = j;
                                }
                                alive[base + w] &= ~miss;
                                held[base + w] |= miss;
                            }
                        }
                    }
                }
            }
            if (end % align == 0) {
                recordAccepted(layout, end, words, cand, alive, held, acc, out);
            }
            if (layout.hasFull) {
                long stillOpen = 0;
                for (int w = 0; w < words; w++) {
                    long a = cand[w];
                    for (int g = 0; g < groups; g++) {
                        if (kinds[g] == GroupLayout.FULL) {
                            a &= alive[(2 * groups + g) * words + w];
                        }
                    }
                    stillOpen |= a;
                }
                any = stillOpen != 0;
            }
        }
        for (int i = first; i < last; i++) {
            out.addInstance(dir.instances[i], dir.ranks[i], dir.rankOwners[i]);
        }
        out.setFound(hashed);
        return true;
    }

    /** At an aligned end {@code end}: every rank all groups accept at a level records {@code end} there. */
    private static void recordAccepted(GroupLayout layout, int end, int words, long[] cand, long[] alive,
            long[] held, long[] acc, PrefixMatch out) {
        int groups = layout.groupCount();
        byte[] kinds = layout.kinds;
        for (int p = 0; p < LEVELS; p++) {
            System.arraycopy(cand, 0, acc, 0, words);
            for (int g = 0; g < groups; g++) {
                long[] accepts = kinds[g] == GroupLayout.MAMBA ? held : alive;
                int base = (p * groups + g) * words;
                for (int w = 0; w < words; w++) {
                    acc[w] &= accepts[base + w];
                }
            }
            int[] ends = p == 0 ? out.ownerGpuEnd : p == 1 ? out.ownerCpuEnd : out.ownerDiskEnd;
            for (int w = 0; w < words; w++) {
                long c = acc[w];
                while (c != 0) {
                    ends[(w << 6) + Long.numberOfTrailingZeros(c)] = end;
                    c &= c - 1;
                }
            }
        }
    }
}
