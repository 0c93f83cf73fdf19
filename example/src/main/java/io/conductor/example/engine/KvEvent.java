package io.conductor.example.engine;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One vLLM KV-cache event as the simulated engine emits it ({@code events.md} section 2.3). Values are immutable;
 * the arrays inside are never modified after construction, so instances are safe to share between threads.
 */
public sealed interface KvEvent {

    /**
     * Newly full blocks entered the prefix cache.
     *
     * @param blockHashes published 64-bit hashes in chain order (unsigned values as bit patterns)
     * @param parentBlockHash hash of the block before the first one, or {@code null} when the run starts at block 0
     * @param tokenIds all tokens of the stored blocks
     * @param blockSize tokens per block
     * @param loraId LoRA adapter int id, or {@code null} without LoRA
     * @param medium storage medium, {@code GPU} for the block pool
     * @param loraName LoRA adapter name, or {@code null}
     * @param extraKeys per-block extra-key tuples (each {@code null} or a list of strings), or {@code null}
     */
    record BlockStored(long[] blockHashes, @Nullable Long parentBlockHash, int[] tokenIds, int blockSize,
                       @Nullable Integer loraId, String medium, @Nullable String loraName,
                       @Nullable List<@Nullable List<String>> extraKeys) implements KvEvent {
    }

    /**
     * Blocks left the prefix cache (eviction or reset).
     *
     * @param blockHashes published 64-bit hashes of the removed blocks
     * @param medium storage medium
     */
    record BlockRemoved(long[] blockHashes, String medium) implements KvEvent {
    }

    /** The engine dropped its whole prefix cache ({@code /reset_prefix_cache}). */
    record AllBlocksCleared() implements KvEvent {
    }
}
