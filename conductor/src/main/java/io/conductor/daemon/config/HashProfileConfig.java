package io.conductor.daemon.config;

import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashProfile;
import org.jspecify.annotations.Nullable;

/**
 * The {@code hash_profile} of an entry, kept as the validated spec texts: how the engine behind the entry computes
 * its block hashes, so the conductor can compute the same hashes for a query. Immutable and thread-safe.
 *
 * <p>Every instance is valid: the constructor applies {@link HashProfile}'s per-field rules (the reference contract,
 * §2.4, widened where the reference is too strict), the same that {@code POST /register} applies:
 * <ul>
 *   <li>{@code strategy}: {@code vllm_v1}, {@code lmcache} (vLLM's chain over LMCache's chunks, same rules below), or
 *       {@code sglang} (SGLang's own page hashes: algorithm {@code sha256}, projection {@code high64_be}, any seed
 *       text, which SGLang does not use);</li>
 *   <li>{@code algorithm}: {@code sha256}, {@code sha256_cbor} or {@code xxh3};</li>
 *   <li>{@code python_hash_seed}: {@code random}, {@code vllm-none-hash} (vLLM's default root text when
 *       {@code PYTHONHASHSEED} is unset), or 1+ ASCII digits whose value is at most 4294967295; the text is kept
 *       verbatim, so {@code "0"} and {@code "00"} are different seeds;</li>
 *   <li>{@code index_projection}: {@code low64_be};</li>
 *   <li>for {@code xxh3}, the seed must be decimal (it is the seed S).</li>
 * </ul>
 *
 * @param strategy        the chaining strategy: {@code vllm_v1}, {@code lmcache} or {@code sglang}
 * @param algorithm       the engine's {@code --prefix-caching-hash-algo}
 * @param pythonHashSeed  the engine's {@code PYTHONHASHSEED} text (the hash chain's root)
 * @param indexProjection how a digest becomes the 64-bit value engines publish
 */
public record HashProfileConfig(String strategy, String algorithm, String pythonHashSeed, String indexProjection) {

    /** vLLM's chain, and the default when {@code strategy} is absent. */
    public static final String STRATEGY_VLLM_V1 = "vllm_v1";
    /** SGLang's own page hashes; only for SGLang entries. */
    public static final String STRATEGY_SGLANG = "sglang";
    /** SGLang's projection: the first 8 digest bytes, big-endian. */
    public static final String PROJECTION_HIGH64_BE = "high64_be";
    /** vLLM's default algorithm, and ours when {@code algorithm} is absent. */
    public static final String ALGORITHM_SHA256 = "sha256";
    /** SHA-256 over canonical CBOR. */
    public static final String ALGORITHM_SHA256_CBOR = "sha256_cbor";
    /** The RFC #1527 XXH3-64 chain. */
    public static final String ALGORITHM_XXH3 = "xxh3";
    /** vLLM's projection, and the default when {@code index_projection} is absent. */
    public static final String PROJECTION_LOW64_BE = "low64_be";
    /** vLLM's fixed root text when {@code PYTHONHASHSEED} is unset (vLLM PR #51875 on). */
    public static final String SEED_VLLM_NONE_HASH = "vllm-none-hash";
    /** CPython's literal {@code PYTHONHASHSEED=random}; vLLM hashes the text itself. */
    public static final String SEED_RANDOM = "random";

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
        if (STRATEGY_SGLANG.equals(strategy)) {
            if (!ALGORITHM_SHA256.equals(algorithm)) {
                return "unsupported hash algorithm: " + algorithm + " (the sglang strategy is sha256)";
            }
            return PROJECTION_HIGH64_BE.equals(indexProjection) ? null
                : "unsupported index projection: " + indexProjection + " (the sglang strategy is high64_be)";
        }
        String error = strategyProblem(strategy);
        if (error == null) {
            error = algorithmProblem(algorithm);
        }
        if (error == null) {
            error = projectionProblem(indexProjection);
        }
        return error == null ? seedProblem(algorithm, pythonHashSeed) : error;
    }

    static @Nullable String strategyProblem(String strategy) {
        // lmcache: vLLM's chain over LMCache's chunks (same algorithm, seed and projection rules)
        return STRATEGY_VLLM_V1.equals(strategy) || "lmcache".equals(strategy) ? null
            : "unsupported hash strategy: " + strategy;
    }

    static @Nullable String algorithmProblem(String algorithm) {
        return HashProfile.algorithmProblem(algorithm);
    }

    static @Nullable String projectionProblem(String indexProjection) {
        return HashProfile.indexProjectionProblem(indexProjection);
    }

    /**
     * Checks a seed text for an algorithm text.
     *
     * @param algorithm the {@code algorithm} text (an unknown one skips the algorithm-specific rule)
     * @param seed the {@code python_hash_seed} text
     * @return the error text, or {@code null} when the seed is valid
     */
    static @Nullable String seedProblem(String algorithm, String seed) {
        return HashProfile.seedProblem(HashAlgorithm.fromWireName(algorithm), seed);
    }
}
