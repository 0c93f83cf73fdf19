package io.conductor.index.prefix;

import java.util.Arrays;

/**
 * The answer to one {@link PrefixIndex#query}: per instance (sorted by id) and per registered DP rank (ascending),
 * the reference conductor's numbers, plus the best rank and its tier breakdown. Token values are block counts times
 * the context's block size, saturating at {@link Long#MAX_VALUE}.
 *
 * <p>Per rank {@code r} a cursor walks the prompt's blocks: first while {@code (instance, r)} holds the block on
 * GPU, then, from where it stopped, while the block is on a CPU tier that rank can use (its own offload buffer or a
 * pool its instance reads), then on such a disk tier. {@code rankGpu <= rankCpu <= rankDisk}; an instance's
 * {@code gpu}, {@code cpu}, {@code disk} are the maxima over its ranks and {@code longestMatched = disk}. Ranks are
 * never combined.
 *
 * <p>Reusable: one object serves many queries (and holds the query's scratch), so a query allocates nothing once
 * the buffers fit. Not thread-safe: one per query thread. Instance id strings are shared with the index, not copied.
 */
public final class PrefixMatch {
    // ---- results
    private boolean contextFound;
    private long blockSize;
    private int blockCount;
    private int hashedBlocks;
    private int instanceCount;
    private String[] instanceIds = new String[4];
    private int[] rankStart = new int[5];
    private int[] rankIds = new int[8];
    private int[] gpuEnd = new int[8];
    private int[] cpuEnd = new int[8];
    private int[] diskEnd = new int[8];
    private int[] bestSlot = new int[4];

    // ---- scratch owned by the query thread
    final ReadBuffer buffer = new ReadBuffer();
    long[] inGpu = new long[1];
    long[] inCpu = new long[1];
    long[] inDisk = new long[1];
    int[] ownerGpuEnd = new int[64];
    int[] ownerCpuEnd = new int[64];
    int[] ownerDiskEnd = new int[64];

    /** Clears the result (no context) for a prompt of {@code blocks} blocks. */
    void reset(long newBlockSize, int blocks) {
        contextFound = false;
        blockSize = newBlockSize;
        blockCount = blocks;
        hashedBlocks = 0;
        instanceCount = 0;
    }

    void prepareScratch(int words) {
        buffer.prepare(words);
        if (inGpu.length < words) {
            inGpu = new long[words];
            inCpu = new long[words];
            inDisk = new long[words];
        }
        Arrays.fill(inGpu, 0, words, 0L);
        Arrays.fill(inCpu, 0, words, 0L);
        Arrays.fill(inDisk, 0, words, 0L);
        int owners = words << 6;
        if (ownerGpuEnd.length < owners) {
            ownerGpuEnd = new int[owners];
            ownerCpuEnd = new int[owners];
            ownerDiskEnd = new int[owners];
        }
    }

    /** Hybrid walk scratch: per (tier level, group) owner bitmaps and last-miss positions, the levels of a read. */
    long[] hybridAlive = new long[0];
    long[] hybridHeld = new long[0];
    int[] hybridRuns = new int[0];
    long[] hybridLevel = new long[0];

    /** Sizes the hybrid scratch for {@code words} owner words and {@code groups} groups; after prepareScratch. */
    void prepareHybridScratch(int words, int groups) {
        int bits = 3 * groups * words;
        if (hybridAlive.length < bits) {
            hybridAlive = new long[bits];
            hybridHeld = new long[bits];
        }
        if (hybridRuns.length < bits << 6) {
            hybridRuns = new int[bits << 6];
        }
        if (hybridLevel.length < 3 * words) {
            hybridLevel = new long[3 * words];
        }
    }

    void setFound(int hashed) {
        contextFound = true;
        hashedBlocks = hashed;
    }

    /** Appends one instance with its ranks, reading the cursor ends from the owner scratch. */
    void addInstance(String instanceId, int[] ranks, int[] owners) {
        int i = instanceCount;
        if (i == instanceIds.length) {
            instanceIds = Arrays.copyOf(instanceIds, i * 2);
            bestSlot = Arrays.copyOf(bestSlot, i * 2);
            rankStart = Arrays.copyOf(rankStart, i * 2 + 1);
        }
        int start = i == 0 ? 0 : rankStart[i];
        int end = start + ranks.length;
        if (end > rankIds.length) {
            int n = Math.max(end, rankIds.length * 2);
            rankIds = Arrays.copyOf(rankIds, n);
            gpuEnd = Arrays.copyOf(gpuEnd, n);
            cpuEnd = Arrays.copyOf(cpuEnd, n);
            diskEnd = Arrays.copyOf(diskEnd, n);
        }
        int best = -1;
        for (int k = 0; k < ranks.length; k++) {
            int s = start + k;
            int o = owners[k];
            rankIds[s] = ranks[k];
            gpuEnd[s] = ownerGpuEnd[o];
            cpuEnd[s] = ownerCpuEnd[o];
            diskEnd[s] = ownerDiskEnd[o];
            // Best rank: longest usable prefix, then more of it on GPU, then the lowest rank.
            if (best < 0 || diskEnd[s] > diskEnd[best] || (diskEnd[s] == diskEnd[best] && gpuEnd[s] > gpuEnd[best])) {
                best = s;
            }
        }
        instanceIds[i] = instanceId;
        rankStart[i] = start;
        rankStart[i + 1] = end;
        bestSlot[i] = best;
        instanceCount = i + 1;
    }

    private static long tokens(long blocks, long blockSize) {
        long hi = Math.multiplyHigh(blocks, blockSize);
        long lo = blocks * blockSize;
        return hi != 0 || lo < 0 ? Long.MAX_VALUE : lo;
    }

    /**
     * Tells whether the context existed (and, with a filter, the instance was registered). When false the result
     * has no instances: the reference answers {@code {"instances": {}}}.
     *
     * @return whether the query found its context
     */
    public boolean contextFound() {
        return contextFound;
    }

    /**
     * Returns the context's block size in tokens.
     *
     * @return tokens per block
     */
    public long blockSize() {
        return blockSize;
    }

    /**
     * Returns the number of complete blocks in the prompt.
     *
     * @return the prompt's block count {@code n}
     */
    public int blockCount() {
        return blockCount;
    }

    /**
     * Returns how many block hashes the query asked the sequence for (early exit: the walk stops at the first
     * block no candidate rank can use, so a lazy chain hashes only these).
     *
     * @return blocks hashed
     */
    public int hashedBlocks() {
        return hashedBlocks;
    }

    /**
     * Returns the number of instances in the result.
     *
     * @return the instance count
     */
    public int instanceCount() {
        return instanceCount;
    }

    /**
     * Returns an instance id; instances are sorted by id.
     *
     * @param i instance index, {@code 0 <= i < instanceCount()}
     * @return the instance id
     */
    public String instanceId(int i) {
        return instanceIds[checkInstance(i)];
    }

    /**
     * Returns the number of registered DP ranks of an instance.
     *
     * @param i instance index
     * @return the rank count (at least 1)
     */
    public int rankCount(int i) {
        checkInstance(i);
        return rankStart[i + 1] - rankStart[i];
    }

    /**
     * Returns the {@code k}-th DP rank of an instance (ascending).
     *
     * @param i instance index
     * @param k rank position, {@code 0 <= k < rankCount(i)}
     * @return the DP rank
     */
    public int rank(int i, int k) {
        return rankIds[slot(i, k)];
    }

    /**
     * Returns {@code gpu_r}: tokens of the GPU run from block 0 on that rank ({@code dp[r]} in the reference).
     *
     * @param i instance index
     * @param k rank position
     * @return tokens
     */
    public long rankGpuTokens(int i, int k) {
        return tokens(gpuEnd[slot(i, k)], blockSize);
    }

    /**
     * Returns {@code cpu_r}: where the cursor stood after the CPU phase, in tokens.
     *
     * @param i instance index
     * @param k rank position
     * @return tokens
     */
    public long rankCpuTokens(int i, int k) {
        return tokens(cpuEnd[slot(i, k)], blockSize);
    }

    /**
     * Returns {@code disk_r}: where the cursor stood after the disk phase, in tokens (the rank's usable prefix).
     *
     * @param i instance index
     * @param k rank position
     * @return tokens
     */
    public long rankDiskTokens(int i, int k) {
        return tokens(diskEnd[slot(i, k)], blockSize);
    }

    /**
     * Returns the instance's {@code gpu}: the maximum {@code gpu_r}.
     *
     * @param i instance index
     * @return tokens
     */
    public long gpuTokens(int i) {
        return tokens(maxEnd(gpuEnd, i), blockSize);
    }

    /**
     * Returns the instance's {@code cpu}: the maximum {@code cpu_r}.
     *
     * @param i instance index
     * @return tokens
     */
    public long cpuTokens(int i) {
        return tokens(maxEnd(cpuEnd, i), blockSize);
    }

    /**
     * Returns the instance's {@code disk}: the maximum {@code disk_r}.
     *
     * @param i instance index
     * @return tokens
     */
    public long diskTokens(int i) {
        return tokens(maxEnd(diskEnd, i), blockSize);
    }

    /**
     * Returns the reference's {@code longest_matched} (equal to {@link #diskTokens}).
     *
     * @param i instance index
     * @return tokens
     */
    public long longestMatchedTokens(int i) {
        return diskTokens(i);
    }

    /**
     * Returns the longest usable prefix of the instance in blocks ({@code /route}, {@code /cache} percent).
     *
     * @param i instance index
     * @return blocks, {@code <= blockCount()}
     */
    public int longestMatchedBlocks(int i) {
        return maxEnd(diskEnd, i);
    }

    /**
     * Returns the rank with the longest usable prefix (ties: more of it on GPU, then the lowest rank).
     *
     * @param i instance index
     * @return the DP rank
     */
    public int bestRank(int i) {
        checkInstance(i);
        return rankIds[bestSlot[i]];
    }

    /**
     * Returns how many blocks of the best rank's prefix are on its GPU.
     *
     * @param i instance index
     * @return blocks
     */
    public int bestRankGpuBlocks(int i) {
        checkInstance(i);
        return gpuEnd[bestSlot[i]];
    }

    /**
     * Returns how many blocks of the best rank's prefix follow on a CPU tier.
     *
     * @param i instance index
     * @return blocks
     */
    public int bestRankCpuBlocks(int i) {
        checkInstance(i);
        return cpuEnd[bestSlot[i]] - gpuEnd[bestSlot[i]];
    }

    /**
     * Returns how many blocks of the best rank's prefix follow on a disk tier.
     *
     * @param i instance index
     * @return blocks
     */
    public int bestRankDiskBlocks(int i) {
        checkInstance(i);
        return diskEnd[bestSlot[i]] - cpuEnd[bestSlot[i]];
    }

    private int maxEnd(int[] ends, int i) {
        checkInstance(i);
        int m = 0;
        for (int s = rankStart[i]; s < rankStart[i + 1]; s++) {
            m = Math.max(m, ends[s]);
        }
        return m;
    }

    private int checkInstance(int i) {
        return java.util.Objects.checkIndex(i, instanceCount);
    }

    private int slot(int i, int k) {
        checkInstance(i);
        java.util.Objects.checkIndex(k, rankStart[i + 1] - rankStart[i]);
        return rankStart[i] + k;
    }
}
