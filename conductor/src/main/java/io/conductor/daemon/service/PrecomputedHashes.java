package io.conductor.daemon.service;

import io.conductor.index.BlockHashSequence;

/**
 * A {@link BlockHashSequence} over hashes the client computed ({@code /query_by_hash}). Not thread-safe in the
 * sense of its contract (one query); it is immutable.
 */
public final class PrecomputedHashes implements BlockHashSequence {
    private final long[] hashes;

    /**
     * Wraps the hashes without copying.
     *
     * @param hashes the block hashes, block 0 first
     */
    public PrecomputedHashes(long[] hashes) {
        this.hashes = hashes;
    }

    @Override
    public int blockCount() {
        return hashes.length;
    }

    @Override
    public long blockHash(int index) {
        return hashes[index];
    }
}
