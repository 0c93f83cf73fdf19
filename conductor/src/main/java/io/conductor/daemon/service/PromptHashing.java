package io.conductor.daemon.service;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.index.BlockHashSequence;
import org.jspecify.annotations.Nullable;

/**
 * Turns a prompt into the chain of block hashes its context publishes. Implementations must be thread-safe;
 * the returned chain belongs to one query.
 */
public interface PromptHashing {
    /**
     * Returns the lazy block-hash chain of a prompt.
     *
     * @param profile the context's profile, or {@code null} for token-rehash mode
     * @param blockSize hash block size in tokens
     * @param tokens the prompt's token ids
     * @param loraName LoRA name, {@code ""} for none
     * @param cacheSalt cache salt, or {@code null}
     * @return the chain; its length is {@code floor(tokens / blockSize)}
     */
    BlockHashSequence chain(@Nullable HashProfileSpec profile, long blockSize, int[] tokens, String loraName,
            @Nullable String cacheSalt);
}
