package io.conductor.daemon.service;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.index.BlockHashSequence;
import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * PLACEHOLDER until the hashing module lands: a lazy, deterministic 64-bit chain over the tokens, the LoRA name
 * (every block) and the salt (block 0), chained through the parent. It is NOT vLLM's hash: streams must be fed
 * with the same chain (tests do) to get hits. Thread-safe (stateless).
 */
public final class PlaceholderHashing implements PromptHashing {
    @Override
    public BlockHashSequence chain(@Nullable HashProfileSpec profile, long blockSize, int[] tokens, String loraName,
            @Nullable String cacheSalt) {
        return new Chain(profile == null ? 0 : profile.rootDigest().hashCode(), blockSize, tokens,
                mix(0x9E3779B97F4A7C15L, loraName), cacheSalt == null ? 0 : mix(0x632BE59BD9B4E019L, cacheSalt));
    }

    private static long mix(long seed, String text) {
        long h = seed;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            h = finalizeHash(h ^ b);
        }
        return h;
    }

    static long finalizeHash(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Computes block i on first access, caching the chain up to the deepest block asked. */
    private static final class Chain implements BlockHashSequence {
        private final long root;
        private final int blockSize;
        private final int[] tokens;
        private final long lora;
        private final long salt;
        private final long[] cache;
        private int computed;

        Chain(long root, long blockSize, int[] tokens, long lora, long salt) {
            this.root = root;
            this.blockSize = (int) Math.min(blockSize, Integer.MAX_VALUE);
            this.tokens = tokens;
            this.lora = lora;
            this.salt = salt;
            this.cache = new long[(int) (tokens.length / blockSize)];
        }

        @Override
        public int blockCount() {
            return cache.length;
        }

        @Override
        public long blockHash(int index) {
            if (index < 0 || index >= cache.length) {
                throw new IndexOutOfBoundsException("block " + index + " of " + cache.length);
            }
            while (computed <= index) {
                long h = computed == 0 ? root ^ salt : cache[computed - 1];
                h = finalizeHash(h ^ lora);
                int start = computed * blockSize;
                for (int t = start; t < start + blockSize; t++) {
                    h = finalizeHash(h ^ tokens[t]);
                }
                cache[computed++] = h;
            }
            return cache[index];
        }
    }
}
