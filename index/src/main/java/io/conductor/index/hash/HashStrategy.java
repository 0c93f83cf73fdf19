package io.conductor.index.hash;

/**
 * The hashing scheme of a {@link HashProfile}. Only vLLM v1 prefix-cache hashing exists today; the enum leaves room
 * for others without changing the profile's shape. Immutable and thread-safe.
 */
public enum HashStrategy {
    /** vLLM v1 block hashes: a chain of digests over (parent, block tokens, extra keys). */
    VLLM_V1("vllm_v1");

    private final String wireName;

    HashStrategy(String wireName) {
        this.wireName = wireName;
    }

    /**
     * Returns the configuration / registration spelling, e.g. {@code vllm_v1}.
     *
     * @return the wire name
     */
    public String wireName() {
        return wireName;
    }
}
