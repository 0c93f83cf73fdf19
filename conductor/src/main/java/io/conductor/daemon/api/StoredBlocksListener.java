package io.conductor.daemon.api;

/**
 * Told of the GPU blocks an engine stream stores, so that {@code /route} reservations end when the engine has
 * computed the prompt they were made for. Implementations are called on event poller threads, once per
 * {@code BlockStored} event, with the hashes the index stores (projected or rehashed): they must not block for
 * long, must not keep the array, and must allocate nothing when they have nothing pending.
 */
@FunctionalInterface
public interface StoredBlocksListener {
    /** A listener that ignores everything. */
    StoredBlocksListener NONE = (instanceId, hashes, from, count) -> { };

    /**
     * Reports stored GPU blocks of one instance.
     *
     * @param instanceId the engine instance
     * @param hashes the index-space block hashes (read only, valid during the call)
     * @param from first index in {@code hashes}
     * @param count number of hashes
     */
    void onGpuBlocksStored(String instanceId, long[] hashes, int from, int count);
}
