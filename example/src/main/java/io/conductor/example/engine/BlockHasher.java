package io.conductor.example.engine;

import org.jspecify.annotations.Nullable;

/**
 * Computes the published 64-bit prefix-cache hashes of a prompt's complete blocks, as vLLM does
 * ({@code hashing.md}): a chain over blocks of {@link #blockSize()} tokens, the LoRA name in every block's extra
 * keys and the cache salt in block 0's.
 *
 * <p>Implementations must be safe for concurrent use by request threads.
 */
public interface BlockHasher {
    /**
     * Returns the hash block size in tokens.
     *
     * @return tokens per block, {@code > 0}
     */
    int blockSize();

    /**
     * Hashes the complete blocks of {@code tokens[0, length)}; a trailing partial block is ignored.
     *
     * @param tokens token ids
     * @param length number of tokens to consider
     * @param loraName LoRA adapter name, or {@code null} without LoRA
     * @param cacheSalt cache salt, or {@code null}
     * @return one published 64-bit value (low 64 bits of the digest, big-endian) per complete block
     */
    long[] hashBlocks(int[] tokens, int length, @Nullable String loraName, @Nullable String cacheSalt);
}
