package io.conductor.index;

/**
 * A prompt's chain of published 64-bit block hashes, as the prefix index walks it. Implementations may compute
 * block {@code i} lazily on first access (the vLLM hash chain does, so a query that misses at block 0 hashes one
 * block) or wrap precomputed hashes ({@code /query_by_hash}).
 *
 * <p>Not thread-safe: one instance belongs to one query on one thread; all instances and DP ranks of that query
 * share it, so each block is hashed at most once per query.
 */
public interface BlockHashSequence {
    /**
     * Returns the number of complete blocks in the prompt.
     *
     * @return the number of complete blocks, {@code >= 0}
     */
    int blockCount();

    /**
     * Returns the published (projected) 64-bit hash of block {@code index}; values above {@link Long#MAX_VALUE}
     * appear as negative longs.
     *
     * @param index block index, {@code 0 <= index < blockCount()}; blocks are normally asked for in ascending order
     * @return the block's 64-bit hash
     * @throws IndexOutOfBoundsException if {@code index} is outside the chain
     */
    long blockHash(int index);
}
