package io.conductor.index.prefix;

import java.util.List;
import java.util.Objects;

/**
 * The KV-cache groups of a hybrid model (Gemma 3, Qwen3-Next, Jamba-style): group {@code g} is vLLM's
 * {@code group_idx = g}. A context registered with a layout keeps its blocks per (hash, group) and answers a query
 * with the prefix the engine's hybrid coordinator would reuse (see {@code docs/index.md}). Block sizes are
 * multiples of the context's hash block size {@code B}; a group block of {@code k * B} tokens is keyed by the
 * chain hash of its last {@code B}-token block, as vLLM publishes it. Immutable and thread-safe.
 */
public final class GroupLayout {
    /*
     * Units: the query walks the prompt's hash chain at B tokens per block, so every size here is converted to
     * B-blocks once: per group its blocks per group block (k) and, for a sliding window, the group blocks the
     * window needs; the hit alignment is the least common multiple of the k (vLLM's scheduler block size / B).
     */

    /** The most groups a layout may have (the LoRA id space of a context is shared with the groups). */
    public static final int MAX_GROUPS = 64;
    /** The largest hit alignment accepted, in hash blocks. */
    static final int MAX_ALIGNMENT = 1 << 16;

    static final byte FULL = 0;
    static final byte WINDOW = 1;
    static final byte MAMBA = 2;

    private final long hashBlockSize;
    private final List<CacheGroup> groups;
    final byte[] kinds;
    /** Per group, hash blocks per group block. */
    final int[] blocksPerGroupBlock;
    /** Per group, group blocks a sliding window needs before a hit (0 for other kinds). */
    final int[] windowBlocks;
    /** Hash blocks between possible hits. */
    final int alignment;
    final boolean hasFull;

    /**
     * Creates a layout.
     *
     * @param hashBlockSize the context's block size (the hash chain's tokens per block), {@code > 0}
     * @param groups        the groups in {@code group_idx} order, 1 to {@link #MAX_GROUPS}
     * @throws IllegalArgumentException if a group's block size is not a multiple of {@code hashBlockSize}, there
     *                                  are no or too many groups, or the sizes make the hit alignment too large
     */
    public GroupLayout(long hashBlockSize, List<CacheGroup> groups) {
        if (hashBlockSize <= 0) {
            throw new IllegalArgumentException("hash block size must be positive: " + hashBlockSize);
        }
        if (groups.isEmpty() || groups.size() > MAX_GROUPS) {
            throw new IllegalArgumentException("a layout has 1 to " + MAX_GROUPS + " groups, got " + groups.size());
        }
        this.hashBlockSize = hashBlockSize;
        this.groups = List.copyOf(groups);
        int n = this.groups.size();
        kinds = new byte[n];
        blocksPerGroupBlock = new int[n];
        windowBlocks = new int[n];
        long lcm = 1;
        boolean full = false;
        for (int g = 0; g < n; g++) {
            CacheGroup c = Objects.requireNonNull(this.groups.get(g), "group");
            long bs = c.blockSize();
            if (bs % hashBlockSize != 0 || bs / hashBlockSize > MAX_ALIGNMENT) {
                throw new IllegalArgumentException("group " + g + " block size " + bs
                        + " is not a multiple of the block size " + hashBlockSize + " (at most " + MAX_ALIGNMENT
                        + " times it)");
            }
            int k = (int) (bs / hashBlockSize);
            blocksPerGroupBlock[g] = k;
            lcm = lcm / gcd(lcm, k) * k;
            if (lcm > MAX_ALIGNMENT) {
                throw new IllegalArgumentException("group block sizes make a hit alignment of more than "
                        + MAX_ALIGNMENT + " blocks");
            }
            switch (c) {
                case CacheGroup.FullAttention f -> {
                    kinds[g] = FULL;
                    full = true;
                }
                case CacheGroup.SlidingWindow w -> {
                    kinds[g] = WINDOW;
                    windowBlocks[g] = (int) Math.min(Integer.MAX_VALUE, w.windowBlocks());
                }
                case CacheGroup.Mamba m -> kinds[g] = MAMBA;
            }
        }
        this.alignment = (int) lcm;
        this.hasFull = full;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    /**
     * Returns the hash block size the layout was built for.
     *
     * @return tokens per hash block
     */
    public long hashBlockSize() {
        return hashBlockSize;
    }

    /**
     * Returns the groups in {@code group_idx} order.
     *
     * @return an immutable list
     */
    public List<CacheGroup> groups() {
        return groups;
    }

    /**
     * Returns the number of groups.
     *
     * @return {@code 1..MAX_GROUPS}
     */
    public int groupCount() {
        return kinds.length;
    }

    /**
     * Returns the granularity of a hit in tokens: the least common multiple of the group block sizes (vLLM's
     * scheduler block size).
     *
     * @return tokens
     */
    public long hitAlignmentTokens() {
        return alignment * hashBlockSize;
    }

    /**
     * Tells whether this layout is a plain model: one full-attention group with the hash block size. A plain
     * layout is indexed exactly like a context registered without one.
     *
     * @return whether it adds nothing to a plain context
     */
    public boolean isPlain() {
        return kinds.length == 1 && kinds[0] == FULL && blocksPerGroupBlock[0] == 1;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GroupLayout l && l.hashBlockSize == hashBlockSize && l.groups.equals(groups);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(hashBlockSize) * 31 + groups.hashCode();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("GroupLayout[");
        for (int g = 0; g < groups.size(); g++) {
            CacheGroup c = groups.get(g);
            sb.append(g == 0 ? "" : ", ").append(g).append('=').append(c.kindName()).append('/').append(c.blockSize());
            if (c instanceof CacheGroup.SlidingWindow w) {
                sb.append("/window=").append(w.windowTokens());
            }
        }
        return sb.append(']').toString();
    }
}
