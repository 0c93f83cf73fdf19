package io.conductor.index.hash;

import org.jspecify.annotations.Nullable;

import java.util.HexFormat;
import java.util.Objects;

/**
 * A resolved hash profile: how an engine hashes blocks and where its chain starts. Two profiles are equal only if
 * all five fields are equal (the reference conductor's rule), so contexts registered with different seeds or
 * algorithms never share an index. Immutable and thread-safe.
 *
 * <p>Create one with {@link #parse} (registration and configuration: the reference conductor's rules and error
 * texts, plus the seed text {@code vllm-none-hash}), {@link #of} (the same with a typed algorithm) or
 * {@link #forAnySeedText} (the {@code hash} command: any well-formed text). The canonical constructor checks that
 * the root matches the seed, so every instance is consistent.
 *
 * <p>For {@link HashAlgorithm#XXH3} (RFC #1527) the "root" is the 8-byte big-endian XXH3 seed {@code S}, parsed
 * from the seed text as an unsigned decimal: the RFC has no root digest.
 *
 * @param strategy        the hashing scheme ({@code vllm_v1}, {@code sglang}, {@code lmcache})
 * @param algorithm       serializer and digest
 * @param pythonHashSeed  the seed text exactly as configured ({@code "0"} and {@code "00"} differ)
 * @param indexProjection how digests become 64-bit index keys ({@code low64_be}; {@code high64_be} for sglang)
 * @param rootDigestHex   lowercase hex of the root: 64 digits for the SHA-256 algorithms, 16 for XXH3, empty for
 *                        sglang (its first page has no parent)
 */
public record HashProfile(HashStrategy strategy, HashAlgorithm algorithm, String pythonHashSeed,
                          IndexProjection indexProjection, String rootDigestHex) {

    /** vLLM's fixed seed text when {@code PYTHONHASHSEED} is unset (vLLM PR #51875, 2026-08 on). */
    public static final String VLLM_NONE_HASH_SEED = "vllm-none-hash";

    private static final HexFormat HEX = HexFormat.of();
    private static final long MAX_PYTHON_HASH_SEED = 4_294_967_295L;

    /**
     * Checks that the root is the one the seed gives.
     *
     * @throws IllegalArgumentException if {@code rootDigestHex} is not the root of {@code pythonHashSeed} under
     *                                  {@code algorithm}, or the seed cannot be encoded
     */
    public HashProfile {
        Objects.requireNonNull(strategy, "strategy");
        Objects.requireNonNull(algorithm, "algorithm");
        Objects.requireNonNull(pythonHashSeed, "pythonHashSeed");
        Objects.requireNonNull(indexProjection, "indexProjection");
        Objects.requireNonNull(rootDigestHex, "rootDigestHex");
        final String expected = expectedRoot(strategy, algorithm, pythonHashSeed, indexProjection);
        if (!expected.equals(rootDigestHex)) {
            throw new IllegalArgumentException("root digest " + rootDigestHex + " is not the " + algorithm.wireName()
                    + " root of python_hash_seed \"" + pythonHashSeed + "\" (expected " + expected + ")");
        }
    }

    private static String expectedRoot(HashStrategy strategy, HashAlgorithm algorithm, String seed,
                                       IndexProjection projection) {
        if (strategy == HashStrategy.SGLANG) {
            if (algorithm != HashAlgorithm.SHA256 || projection != IndexProjection.HIGH64_BE) {
                throw new IllegalArgumentException("the sglang strategy is sha256 / high64_be, was "
                        + algorithm.wireName() + " / " + projection.wireName());
            }
            return "";
        }
        if (projection != IndexProjection.LOW64_BE) {
            throw new IllegalArgumentException(strategy.wireName() + " publishes low64_be, not "
                    + projection.wireName());
        }
        return RootDigests.rootHex(algorithm, seed);
    }

    /**
     * Resolves a profile from its four raw strings, with the reference conductor's rules and error texts
     * ({@code mooncake-api.md} section 2.4), checked in the order strategy, algorithm, index projection, seed.
     * Accepted: strategy {@code vllm_v1} or {@code lmcache} (same rules below) or {@code sglang} (algorithm
     * {@code sha256}, projection {@code high64_be}, any seed text); algorithm {@code sha256}, {@code sha256_cbor} or (our extension)
     * {@code xxh3}; projection {@code low64_be}; seed {@code random}, {@code vllm-none-hash} (vLLM's default when
     * {@code PYTHONHASHSEED} is unset; the reference rejects it, a defect we fix) or 1+ ASCII digits with value at
     * most 4294967295, leading zeros kept. For {@code xxh3} the seed must be decimal.
     *
     * @param strategy        raw strategy
     * @param algorithm       raw algorithm
     * @param pythonHashSeed  raw seed text
     * @param indexProjection raw projection
     * @return the resolved profile
     * @throws HashProfileException with the offending field and the reference error text
     */
    public static HashProfile parse(String strategy, String algorithm, String pythonHashSeed,
                                    String indexProjection) {
        final String strategyProblem = strategyProblem(strategy);
        if (strategyProblem != null) {
            throw new HashProfileException(HashProfileException.STRATEGY, strategyProblem);
        }
        final HashStrategy resolvedStrategy = java.util.Objects.requireNonNull(HashStrategy.fromWireName(strategy));
        if (resolvedStrategy == HashStrategy.SGLANG) {
            if (!HashAlgorithm.SHA256.wireName().equals(algorithm)) {
                throw new HashProfileException(HashProfileException.ALGORITHM,
                        "unsupported hash algorithm: " + algorithm + " (the sglang strategy is sha256)");
            }
            if (!IndexProjection.HIGH64_BE.wireName().equals(indexProjection)) {
                throw new HashProfileException(HashProfileException.INDEX_PROJECTION,
                        "unsupported index projection: " + indexProjection + " (the sglang strategy is high64_be)");
            }
            return sglang(pythonHashSeed);
        }
        final String algorithmProblem = algorithmProblem(algorithm);
        if (algorithmProblem != null) {
            throw new HashProfileException(HashProfileException.ALGORITHM, algorithmProblem);
        }
        final String projectionProblem = indexProjectionProblem(indexProjection);
        if (projectionProblem != null) {
            throw new HashProfileException(HashProfileException.INDEX_PROJECTION, projectionProblem);
        }
        final HashProfile vllm = of(java.util.Objects.requireNonNull(HashAlgorithm.fromWireName(algorithm)),
                pythonHashSeed);
        return resolvedStrategy == HashStrategy.LMCACHE ? vllm.withStrategy(HashStrategy.LMCACHE) : vllm;
    }

    /**
     * The {@code sglang} profile (SHA-256, {@code high64_be}, no root). SGLang has no seed; the text is kept only
     * so that the profile's fields round-trip.
     *
     * @param seedText any well-formed text (usually {@code ""} or {@code "0"})
     * @return the profile
     * @throws HashProfileException ({@code python_hash_seed}) if the text has an unpaired surrogate
     */
    public static HashProfile sglang(String seedText) {
        if (!StrictUtf8.isWellFormed(seedText)) {
            throw new HashProfileException(HashProfileException.PYTHON_HASH_SEED,
                    "python_hash_seed must contain valid UTF-8");
        }
        return new HashProfile(HashStrategy.SGLANG, HashAlgorithm.SHA256, seedText, IndexProjection.HIGH64_BE, "");
    }

    /**
     * The same chain under another vLLM-rooted strategy ({@link HashStrategy#VLLM_V1} or
     * {@link HashStrategy#LMCACHE}).
     *
     * @param other the strategy
     * @return the profile with that strategy
     * @throws IllegalArgumentException for {@link HashStrategy#SGLANG} (use {@link #sglang})
     */
    public HashProfile withStrategy(HashStrategy other) {
        if (other == HashStrategy.SGLANG) {
            throw new IllegalArgumentException("use HashProfile.sglang for the sglang strategy");
        }
        return other == strategy ? this
                : new HashProfile(other, algorithm, pythonHashSeed, indexProjection, rootDigestHex);
    }

    /**
     * Checks a {@code strategy} text (the per-field rule of {@link #parse}, for callers that report every field).
     *
     * @param strategy the raw text
     * @return the reference error text, or {@code null} when valid
     */
    public static @Nullable String strategyProblem(String strategy) {
        return HashStrategy.fromWireName(strategy) != null ? null : "unsupported hash strategy: " + strategy;
    }

    /**
     * Checks an {@code algorithm} text ({@code sha256}, {@code sha256_cbor} or {@code xxh3}).
     *
     * @param algorithm the raw text
     * @return the reference error text, or {@code null} when valid
     */
    public static @Nullable String algorithmProblem(String algorithm) {
        return HashAlgorithm.fromWireName(algorithm) != null ? null : "unsupported hash algorithm: " + algorithm;
    }

    /**
     * Checks an {@code index_projection} text ({@code low64_be}).
     *
     * @param indexProjection the raw text
     * @return the reference error text, or {@code null} when valid
     */
    public static @Nullable String indexProjectionProblem(String indexProjection) {
        return IndexProjection.LOW64_BE.wireName().equals(indexProjection) ? null
                : "unsupported index projection: " + indexProjection;
    }

    /**
     * Checks a {@code python_hash_seed} text with the registration rules (see {@link #parse}); for {@code xxh3}
     * the seed must also be decimal.
     *
     * @param algorithm the algorithm, or {@code null} when it is unknown (the algorithm-specific rule is skipped)
     * @param pythonHashSeed the raw text
     * @return the reference error text, or {@code null} when valid
     */
    public static @Nullable String seedProblem(@Nullable HashAlgorithm algorithm, String pythonHashSeed) {
        final String problem = registrationSeedProblem(pythonHashSeed);
        if (problem == null && algorithm == HashAlgorithm.XXH3 && !isAsciiDecimal(pythonHashSeed)) {
            return "python_hash_seed must be ASCII decimal text in 0..4294967295 for xxh3 (it is the seed S)";
        }
        return problem;
    }

    /**
     * Resolves a {@code vllm_v1} / {@code low64_be} profile with the registration rules for the seed (see
     * {@link #parse}).
     *
     * @param algorithm      the algorithm
     * @param pythonHashSeed raw seed text
     * @return the resolved profile
     * @throws HashProfileException ({@code python_hash_seed}) with the reference error text
     */
    public static HashProfile of(HashAlgorithm algorithm, String pythonHashSeed) {
        final String problem = seedProblem(algorithm, pythonHashSeed);
        if (problem != null) {
            throw new HashProfileException(HashProfileException.PYTHON_HASH_SEED, problem);
        }
        return resolve(algorithm, pythonHashSeed);
    }

    /**
     * Resolves a {@code vllm_v1} / {@code low64_be} profile from any seed text, as the {@code hash} command does:
     * any well-formed text for the SHA-256 algorithms (hashed as-is), unsigned decimal u64 for XXH3.
     *
     * @param algorithm the algorithm
     * @param seedText  the seed text
     * @return the resolved profile
     * @throws HashProfileException ({@code python_hash_seed}) if the text has an unpaired surrogate, or is not
     *                              decimal u64 for XXH3
     */
    public static HashProfile forAnySeedText(HashAlgorithm algorithm, String seedText) {
        if (!StrictUtf8.isWellFormed(seedText)) {
            throw new HashProfileException(HashProfileException.PYTHON_HASH_SEED,
                    "python_hash_seed must contain valid UTF-8");
        }
        return resolve(algorithm, seedText);
    }

    /**
     * Returns a copy of the root: 32 bytes for the SHA-256 algorithms, 8 for XXH3.
     *
     * @return a new array holding the root
     */
    public byte[] rootDigest() {
        return HEX.parseHex(rootDigestHex);
    }

    /**
     * Copies the root into a caller's buffer without allocating (hot-path resets).
     *
     * @param destination buffer with {@code algorithm().digestLength()} bytes free at {@code offset}
     * @param offset      where to write
     */
    public void copyRootDigest(byte[] destination, int offset) {
        final String hex = rootDigestHex;
        final int length = hex.length() / 2;
        for (int i = 0; i < length; i++) {
            destination[offset + i] = (byte) ((Character.digit(hex.charAt(2 * i), 16) << 4)
                    | Character.digit(hex.charAt(2 * i + 1), 16));
        }
    }

    private static HashProfile resolve(HashAlgorithm algorithm, String seedText) {
        final String root;
        try {
            root = RootDigests.rootHex(algorithm, seedText);
        } catch (IllegalArgumentException e) {
            throw new HashProfileException(HashProfileException.PYTHON_HASH_SEED, String.valueOf(e.getMessage()));
        }
        return new HashProfile(HashStrategy.VLLM_V1, algorithm, seedText, IndexProjection.LOW64_BE, root);
    }

    private static @Nullable String registrationSeedProblem(String seed) {
        if (!StrictUtf8.isWellFormed(seed)) {
            return "python_hash_seed must contain valid UTF-8";
        }
        if (seed.equals("random") || seed.equals(VLLM_NONE_HASH_SEED)) {
            return null;
        }
        if (!isAsciiDecimal(seed)) {
            return "python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295";
        }
        long value = 0;
        for (int i = 0; i < seed.length(); i++) {
            value = value * 10 + (seed.charAt(i) - '0');
            if (value > MAX_PYTHON_HASH_SEED) {       // stop before a long run of digits can overflow
                return "python_hash_seed must be in range 0..4294967295";
            }
        }
        return null;
    }

    private static boolean isAsciiDecimal(String text) {
        if (text.isEmpty()) {
            return false;
        }
        for (int i = 0; i < text.length(); i++) {
            final char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }
}
