package io.conductor.index.hash;

import org.jspecify.annotations.Nullable;

/**
 * The serialization and digest of a block hash chain. Immutable and thread-safe.
 *
 * <p>{@link #SHA256} and {@link #SHA256_CBOR} are vLLM's {@code --prefix-caching-hash-algo} values and what the
 * reference conductor accepts. {@link #XXH3} is the Mooncake RFC #1527 rolling standard (XXH3-64 with a seed), an
 * extension of ours: no engine publishes it today, it serves the token-rehash mode and future engines.
 */
public enum HashAlgorithm {
    /** SHA-256 over CPython {@code pickle.dumps(value, protocol=5)}; 32-byte digests. */
    SHA256("sha256", 32),
    /** SHA-256 over canonical CBOR; 32-byte digests. */
    SHA256_CBOR("sha256_cbor", 32),
    /** RFC #1527: XXH3-64 with seed {@code S} over little-endian u32 tokens, rolling {@code seq_hash}; 8 bytes. */
    XXH3("xxh3", 8);

    private final String wireName;
    private final int digestLength;

    HashAlgorithm(String wireName, int digestLength) {
        this.wireName = wireName;
        this.digestLength = digestLength;
    }

    /**
     * Returns the configuration / command-line spelling, e.g. {@code sha256_cbor}.
     *
     * @return the wire name
     */
    public String wireName() {
        return wireName;
    }

    /**
     * Returns the length in bytes of one block digest (and of the root): 32 for the SHA-256 algorithms, 8 for XXH3
     * (the {@code seq_hash} as big-endian bytes).
     *
     * @return the digest length in bytes
     */
    public int digestLength() {
        return digestLength;
    }

    /**
     * Finds the algorithm with the given wire name (case-sensitive).
     *
     * @param wireName e.g. {@code sha256}
     * @return the algorithm, or {@code null} if no algorithm has that name
     */
    public static @Nullable HashAlgorithm fromWireName(String wireName) {
        for (HashAlgorithm algorithm : values()) {
            if (algorithm.wireName.equals(wireName)) {
                return algorithm;
            }
        }
        return null;
    }
}
