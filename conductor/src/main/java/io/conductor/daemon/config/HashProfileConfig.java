package io.conductor.daemon.config;

import org.jspecify.annotations.Nullable;

/**
 * The {@code hash_profile} of an entry, kept as the validated spec texts: how the engine behind the entry computes
 * its block hashes, so the conductor can compute the same hashes for a query. Immutable and thread-safe.
 *
 * <p>Every instance is valid: the constructor applies the rules of the reference contract (§2.4), widened where the
 * reference is too strict:
 * <ul>
 *   <li>{@code strategy}: {@code vllm_v1};</li>
 *   <li>{@code algorithm}: {@code sha256}, {@code sha256_cbor} or {@code xxh3};</li>
 *   <li>{@code python_hash_seed}: {@code random}, {@code vllm-none-hash} (vLLM's default root text when
 *       {@code PYTHONHASHSEED} is unset), or 1+ ASCII digits whose value is at most 4294967295; the text is kept
 *       verbatim, so {@code "0"} and {@code "00"} are different seeds;</li>
 *   <li>{@code index_projection}: {@code low64_be}.</li>
 * </ul>
 * The hashing module's {@code io.conductor.index.hash.HashProfile} owns the same rules; this record will delegate
 * to it once both are merged.
 *
 * @param strategy        the chaining strategy, {@code vllm_v1}
 * @param algorithm       the engine's {@code --prefix-caching-hash-algo}
 * @param pythonHashSeed  the engine's {@code PYTHONHASHSEED} text (the hash chain's root)
 * @param indexProjection how a digest becomes the 64-bit value engines publish
 */
public record HashProfileConfig(String strategy, String algorithm, String pythonHashSeed, String indexProjection) {

    /** The only strategy, and the default when {@code strategy} is absent. */
    public static final String STRATEGY_VLLM_V1 = "vllm_v1";
    /** vLLM's default algorithm, and ours when {@code algorithm} is absent. */
    public static final String ALGORITHM_SHA256 = "sha256";
    /** SHA-256 over canonical CBOR. */
    public static final String ALGORITHM_SHA256_CBOR = "sha256_cbor";
    /** The RFC #1527 XXH3-64 chain. */
    public static final String ALGORITHM_XXH3 = "xxh3";
    /** The only projection, and the default when {@code index_projection} is absent. */
    public static final String PROJECTION_LOW64_BE = "low64_be";
    /** vLLM's fixed root text when {@code PYTHONHASHSEED} is unset (vLLM PR #51875 on). */
    public static final String SEED_VLLM_NONE_HASH = "vllm-none-hash";
    /** CPython's literal {@code PYTHONHASHSEED=random}; vLLM hashes the text itself. */
    public static final String SEED_RANDOM = "random";

    /** Expected form of {@code python_hash_seed}, used in error messages. */
    static final String SEED_EXPECTED =
        "python_hash_seed must be \"random\", \"vllm-none-hash\" or ASCII decimal text in 0..4294967295";

    private static final long MAX_SEED = 4_294_967_295L;

    /**
     * Validates the four texts.
     *
     * @throws IllegalArgumentException with one of the texts {@code unsupported hash strategy: X},
     *                                  {@code unsupported hash algorithm: X}, {@code unsupported index projection: X},
     *                                  {@code python_hash_seed must be ...}, {@code python_hash_seed must be in range
     *                                  0..4294967295}
     */
    public HashProfileConfig {
        String error = problem(strategy, algorithm, pythonHashSeed, indexProjection);
        if (error != null) {
            throw new IllegalArgumentException(error);
        }
    }

    /**
     * Checks the four texts without building a profile; the first failing field wins, in the reference's order
     * (strategy, algorithm, projection, then seed).
     *
     * @param strategy        the {@code strategy} text
     * @param algorithm       the {@code algorithm} text
     * @param pythonHashSeed  the {@code python_hash_seed} text
     * @param indexProjection the {@code index_projection} text
     * @return the error text, or {@code null} when all four are valid
     */
    public static @Nullable String problem(
        String strategy, String algorithm, String pythonHashSeed, String indexProjection) {
        String error = strategyProblem(strategy);
        if (error == null) {
            error = algorithmProblem(algorithm);
        }
        if (error == null) {
            error = projectionProblem(indexProjection);
        }
        return error == null ? seedProblem(pythonHashSeed) : error;
    }

    static @Nullable String strategyProblem(String strategy) {
        // lmcache: vLLM's chain over LMCache's chunks (same algorithm, seed and projection rules)
        return STRATEGY_VLLM_V1.equals(strategy) || "lmcache".equals(strategy) ? null
            : "unsupported hash strategy: " + strategy;
    }

    static @Nullable String algorithmProblem(String algorithm) {
        return ALGORITHM_SHA256.equals(algorithm) || ALGORITHM_SHA256_CBOR.equals(algorithm)
            || ALGORITHM_XXH3.equals(algorithm) ? null : "unsupported hash algorithm: " + algorithm;
    }

    static @Nullable String projectionProblem(String indexProjection) {
        return PROJECTION_LOW64_BE.equals(indexProjection) ? null : "unsupported index projection: " + indexProjection;
    }

    /**
     * Checks a seed text.
     *
     * @param seed the {@code python_hash_seed} text
     * @return the error text, or {@code null} when the seed is valid
     */
    static @Nullable String seedProblem(String seed) {
        if (SEED_RANDOM.equals(seed) || SEED_VLLM_NONE_HASH.equals(seed)) {
            return null;
        }
        if (seed.isEmpty()) {
            return SEED_EXPECTED;
        }
        // Only ASCII digits: Character.isDigit would let other scripts' digits through, which CPython refuses.
        int firstSignificant = 0;
        for (int i = 0; i < seed.length(); i++) {
            char c = seed.charAt(i);
            if (c < '0' || c > '9') {
                return SEED_EXPECTED;
            }
            if (c == '0' && firstSignificant == i) {
                firstSignificant = i + 1;
            }
        }
        // Leading zeros are allowed (and kept: "0" and "00" hash differently), so compare the significant digits.
        int significant = seed.length() - firstSignificant;
        if (significant > 10 || (significant > 0 && Long.parseLong(seed.substring(firstSignificant)) > MAX_SEED)) {
            return "python_hash_seed must be in range 0..4294967295";
        }
        return null;
    }
}
