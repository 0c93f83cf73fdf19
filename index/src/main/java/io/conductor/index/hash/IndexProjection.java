package io.conductor.index.hash;

/**
 * How a block digest is reduced to the 64-bit value that events carry and the prefix index stores. Immutable and
 * thread-safe.
 */
public enum IndexProjection {
    /**
     * The last 8 digest bytes read as a big-endian unsigned 64-bit integer (vLLM's default {@code block_hashes}).
     * For XXH3 the 64-bit {@code seq_hash} itself.
     */
    LOW64_BE("low64_be"),
    /**
     * The first 8 digest bytes read as a big-endian 64-bit integer: SGLang's published value (a signed int64 on
     * the wire, the same bit pattern).
     */
    HIGH64_BE("high64_be");

    private final String wireName;

    IndexProjection(String wireName) {
        this.wireName = wireName;
    }

    /**
     * Returns the configuration / registration spelling, e.g. {@code low64_be}.
     *
     * @return the wire name
     */
    public String wireName() {
        return wireName;
    }

    /**
     * Returns where in a digest of {@code digestLength} bytes the 8 key bytes start.
     *
     * @param digestLength the digest length
     * @return the offset of the big-endian key bytes
     */
    public int keyOffset(int digestLength) {
        return this == HIGH64_BE ? 0 : digestLength - 8;
    }
}
