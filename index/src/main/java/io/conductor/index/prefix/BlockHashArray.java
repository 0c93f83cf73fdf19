package io.conductor.index.prefix;

import io.conductor.index.BlockHashSequence;
import java.util.Objects;

/**
 * A {@link BlockHashSequence} over precomputed hashes ({@code /query_by_hash}, tests, benchmarks): a window of a
 * caller's {@code long[]}, not copied. Reusable through {@link #wrap}. Not thread-safe; the caller must not change
 * the array while a query reads it.
 */
public final class BlockHashArray implements BlockHashSequence {
    private long[] hashes;
    private int offset;
    private int length;

    /**
     * Wraps the whole array.
     *
     * @param hashes block hashes in chain order
     */
    public BlockHashArray(long... hashes) {
        this.hashes = hashes;
        this.length = hashes.length;
    }

    /**
     * Points this sequence at {@code hashes[offset, offset + length)}.
     *
     * @param hashes block hashes in chain order
     * @param offset first block
     * @param length number of blocks
     * @return this
     * @throws IndexOutOfBoundsException if the window is outside the array
     */
    public BlockHashArray wrap(long[] hashes, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, hashes.length);
        this.hashes = hashes;
        this.offset = offset;
        this.length = length;
        return this;
    }

    @Override
    public int blockCount() {
        return length;
    }

    @Override
    public long blockHash(int index) {
        Objects.checkIndex(index, length);
        return hashes[offset + index];
    }
}
