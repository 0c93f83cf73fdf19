package io.conductor.index.hash;

/**
 * The hashing scheme of a {@link HashProfile}: how block digests chain and what goes into each. Immutable and
 * thread-safe.
 */
public enum HashStrategy {
    /** vLLM v1 block hashes: a chain of digests over (parent, block tokens, extra keys). */
    VLLM_V1("vllm_v1"),
    /**
     * SGLang's page hashes (hashing.md 10): {@code d_i = SHA-256(d_{i-1} || tokens as u32 little-endian)}, nothing
     * before the first page, published as the first 8 digest bytes as a signed int ({@link IndexProjection#HIGH64_BE}).
     * A cache salt seeds the chain with {@code SHA-256("sglang-cache-salt-v1" || 0x00 || salt UTF-8)} as the first
     * page's parent. No LoRA key. Algorithm {@code sha256} only; the seed text is not used.
     */
    SGLANG("sglang"),
    /**
     * LMCache's chunk hashes: vLLM's chain (same algorithms, same {@code NONE_HASH} root from the seed text) over
     * chunks of the context's block size (LMCache's {@code chunk_size}, 256 by default) with no extra keys: LMCache
     * hashes {@code (prefix, tuple(tokens), None)} and ignores LoRA and salt. A partial last chunk is not hashed.
     */
    LMCACHE("lmcache");

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

    /**
     * Finds the strategy with the given wire name (case-sensitive).
     *
     * @param wireName e.g. {@code sglang}
     * @return the strategy, or {@code null} if none has that name
     */
    public static @org.jspecify.annotations.Nullable HashStrategy fromWireName(String wireName) {
        for (HashStrategy strategy : values()) {
            if (strategy.wireName.equals(wireName)) {
                return strategy;
            }
        }
        return null;
    }
}
