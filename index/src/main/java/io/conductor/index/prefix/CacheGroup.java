package io.conductor.index.prefix;

/**
 * One KV-cache group of a hybrid model, as the engine's KV-cache manager lays it out: its attention kind and its
 * block size in tokens. The group index is the position in the {@link GroupLayout}, which is vLLM's
 * {@code group_idx}. Immutable.
 */
public sealed interface CacheGroup permits CacheGroup.FullAttention, CacheGroup.SlidingWindow, CacheGroup.Mamba {
    /**
     * Returns the tokens per block of this group (a multiple of the context's hash block size).
     *
     * @return the block size, {@code > 0}
     */
    long blockSize();

    /**
     * Returns vLLM's name of the kind ({@code kv_cache_spec_kind}).
     *
     * @return {@code full_attention}, {@code sliding_window} or {@code mamba}
     */
    String kindName();

    /**
     * Full attention (also MLA): a prefix is reusable only if the group holds every block up to it.
     *
     * @param blockSize tokens per block, {@code > 0}
     */
    record FullAttention(long blockSize) implements CacheGroup {
        /**
         * Validates the block size.
         *
         * @throws IllegalArgumentException if it is not positive
         */
        public FullAttention {
            checkBlockSize(blockSize);
        }

        @Override
        public String kindName() {
            return "full_attention";
        }
    }

    /**
     * Sliding-window attention: a prefix is reusable if the group holds the blocks covering the last
     * {@code windowTokens - 1} tokens before it (or every block, for a prefix shorter than that).
     *
     * @param blockSize    tokens per block, {@code > 0}
     * @param windowTokens the window in tokens ({@code kv_cache_spec_sliding_window}), {@code > 0}
     */
    record SlidingWindow(long blockSize, long windowTokens) implements CacheGroup {
        /**
         * Validates the sizes.
         *
         * @throws IllegalArgumentException if one is not positive
         */
        public SlidingWindow {
            checkBlockSize(blockSize);
            if (windowTokens <= 0) {
                throw new IllegalArgumentException("sliding window must be positive: " + windowTokens);
            }
        }

        /**
         * Returns how many contiguous blocks must end at a reusable prefix: {@code ceil((window - 1) / blockSize)}
         * (the token being computed is itself inside the window).
         *
         * @return the blocks, {@code >= 0}
         */
        public long windowBlocks() {
            return (windowTokens - 1 + blockSize - 1) / blockSize;
        }

        @Override
        public String kindName() {
            return "sliding_window";
        }
    }

    /**
     * Mamba (linear attention, state-space): a prefix is reusable only if the group holds the state block that
     * ends exactly at it; earlier blocks do not matter.
     *
     * @param blockSize tokens per block (one state per block), {@code > 0}
     */
    record Mamba(long blockSize) implements CacheGroup {
        /**
         * Validates the block size.
         *
         * @throws IllegalArgumentException if it is not positive
         */
        public Mamba {
            checkBlockSize(blockSize);
        }

        @Override
        public String kindName() {
            return "mamba";
        }
    }

    /** The kind names {@link #of} accepts, for error messages. */
    String KIND_NAMES = "full_attention, mla_attention, sliding_window, sliding_window_mla, mamba";

    /**
     * Builds a group from vLLM's kind name ({@code kv_cache_spec_kind}).
     *
     * @param kind         {@code full_attention} or {@code mla_attention}; {@code sliding_window} or
     *                     {@code sliding_window_mla}; {@code mamba}
     * @param blockSize    tokens per block, {@code > 0}
     * @param windowTokens the sliding window in tokens; required ({@code > 0}) for a sliding window, {@code 0}
     *                     (none) for the other kinds
     * @return the group
     * @throws IllegalArgumentException for another kind (chunked local, cross or encoder-only attention have no
     *                                  prefix reuse rule here), a missing or superfluous window, or a bad size
     */
    static CacheGroup of(String kind, long blockSize, long windowTokens) {
        CacheGroup g = switch (kind) {
            case "full_attention", "mla_attention" -> new FullAttention(blockSize);
            case "sliding_window", "sliding_window_mla" -> {
                if (windowTokens <= 0) {
                    throw new IllegalArgumentException("a sliding_window group needs its window in tokens");
                }
                yield new SlidingWindow(blockSize, windowTokens);
            }
            case "mamba" -> new Mamba(blockSize);
            default -> throw new IllegalArgumentException("unsupported group kind \"" + kind + "\" (supported: "
                    + KIND_NAMES + ")");
        };
        if (!(g instanceof SlidingWindow) && windowTokens != 0) {
            throw new IllegalArgumentException("only a sliding_window group has a window, not " + kind);
        }
        return g;
    }

    private static void checkBlockSize(long blockSize) {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("group block size must be positive: " + blockSize);
        }
    }
}
