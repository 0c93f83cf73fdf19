package io.conductor.index.hash;

import java.util.Objects;

/**
 * A copy of a {@link TokenRehasher}'s map, for snapshots: per engine hash its own hash, reference count and own
 * digest (the chain state a later child block needs). Entry {@code i} is {@code engineHashes[i]},
 * {@code ownHashes[i]}, {@code counts[i]} and {@code digests[i * digestLength ..]}. Immutable by contract: the
 * holder must not change the arrays after construction.
 *
 * @param digestLength the own profile's digest length, {@code 1..64}
 * @param engineHashes the engine hashes, distinct
 * @param ownHashes    the own hash of each
 * @param counts       the reference count of each, {@code >= 1}
 * @param digests      the own digests, {@code size * digestLength} bytes
 */
public record RehashEntries(int digestLength, long[] engineHashes, long[] ownHashes, int[] counts, byte[] digests) {
    /** Longest digest a snapshot may declare. */
    public static final int MAX_DIGEST_LENGTH = 64;

    /**
     * Checks the shape.
     *
     * @throws IllegalArgumentException when lengths disagree, a count is below 1 or the digest length is out of
     *                                  range
     */
    public RehashEntries {
        Objects.requireNonNull(engineHashes, "engineHashes");
        Objects.requireNonNull(ownHashes, "ownHashes");
        Objects.requireNonNull(counts, "counts");
        Objects.requireNonNull(digests, "digests");
        if (digestLength < 1 || digestLength > MAX_DIGEST_LENGTH) {
            throw new IllegalArgumentException("digest length must be in 1.." + MAX_DIGEST_LENGTH + ", was "
                    + digestLength);
        }
        int n = engineHashes.length;
        if (ownHashes.length != n || counts.length != n || (long) digests.length != (long) n * digestLength) {
            throw new IllegalArgumentException("rehash entry arrays disagree in length");
        }
        for (int c : counts) {
            if (c < 1) {
                throw new IllegalArgumentException("reference count must be at least 1, was " + c);
            }
        }
    }

    /**
     * Returns the number of entries.
     *
     * @return the size
     */
    public int size() {
        return engineHashes.length;
    }
}
