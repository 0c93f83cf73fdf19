package io.conductor.daemon.api;

import io.conductor.daemon.registry.HashProfileSpec;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;

/**
 * Reads and resolves a registration's {@code hash_profile} map (mooncake-api.md §2.4 and §3.2): exactly the four
 * string keys, each non-empty; then strategy, algorithm, projection and seed text are checked, and the root
 * digest (SHA-256 of the seed text encoded as the algorithm's serializer encodes a str; hashing.md §2) is
 * derived. Stateless and thread-safe.
 */
final class HashProfileReader {
    static final String STRATEGY = "strategy";
    static final String ALGORITHM = "algorithm";
    static final String SEED = "python_hash_seed";
    static final String PROJECTION = "index_projection";
    private static final Set<String> KEYS = Set.of(STRATEGY, ALGORITHM, SEED, PROJECTION);
    /** vLLM's fixed seed text when PYTHONHASHSEED is unset (since 2026-08); the reference refuses it (defect 4). */
    static final String VLLM_NONE_HASH = "vllm-none-hash";
    private static final long MAX_SEED = 4294967295L;

    private HashProfileReader() {
    }

    static HashProfileSpec read(Value value, ApiLimits limits) {
        if (!(value instanceof Value.MapValue map)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "hash_profile", "hash_profile must be a map");
        }
        Map<String, Value> fields = FieldRules.firstOccurrences(map, KEYS);
        String strategy = FieldRules.requiredString(STRATEGY, fields.get(STRATEGY), limits);
        String algorithm = FieldRules.requiredString(ALGORITHM, fields.get(ALGORITHM), limits);
        Value seedValue = fields.get(SEED);
        String seed = FieldRules.requiredString(SEED, seedValue, limits);
        String projection = FieldRules.requiredString(PROJECTION, fields.get(PROJECTION), limits);
        if (!"vllm_v1".equals(strategy) && !"lmcache".equals(strategy) && !"sglang".equals(strategy)) {
            throw invalid(STRATEGY, "unsupported hash strategy: " + strategy);
        }
        if ("sglang".equals(strategy)) {
            // SGLang's own page hashes: SHA-256 over u32 tokens, first 8 digest bytes; no seed, no root.
            if (!"sha256".equals(algorithm)) {
                throw invalid(ALGORITHM, "unsupported hash algorithm: " + algorithm + " (sglang hashes with sha256)");
            }
            if (!"high64_be".equals(projection)) {
                throw invalid(PROJECTION, "unsupported index projection: " + projection
                        + " (sglang publishes high64_be)");
            }
            if (!FieldRules.validUtf8(seedValue)) {
                throw invalid(SEED, "python_hash_seed must contain valid UTF-8");
            }
            return new HashProfileSpec(strategy, algorithm, seed, "", projection);
        }
        if (!"sha256".equals(algorithm) && !"sha256_cbor".equals(algorithm)) {
            throw invalid(ALGORITHM, "unsupported hash algorithm: " + algorithm);
        }
        if (!"low64_be".equals(projection)) {
            throw invalid(PROJECTION, "unsupported index projection: " + projection);
        }
        if (!FieldRules.validUtf8(seedValue)) {
            throw invalid(SEED, "python_hash_seed must contain valid UTF-8");
        }
        checkSeed(seed);
        return new HashProfileSpec(strategy, algorithm, seed, rootDigest(algorithm, seed), projection);
    }

    private static void checkSeed(String seed) {
        if (seed.equals("random") || seed.equals(VLLM_NONE_HASH)) {
            return;
        }
        long value = 0;
        for (int i = 0; i < seed.length(); i++) {
            char c = seed.charAt(i);
            if (c < '0' || c > '9') {
                throw invalid(SEED, "python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295");
            }
            value = value * 10 + (c - '0');
            if (value > MAX_SEED) {
                throw invalid(SEED, "python_hash_seed must be in range 0..4294967295");
            }
        }
    }

    private static ApiException invalid(String field, String message) {
        return ApiException.badRequest(Reason.INVALID_VALUE, field, message);
    }

    /**
     * SHA-256 of the seed text as a Python str: pickle protocol 5 (short form, {@code 8c len utf8}, framed) for
     * {@code sha256}, a CBOR text string for {@code sha256_cbor}. Seed texts accepted here are at most 14 bytes.
     */
    static String rootDigest(String algorithm, String seed) {
        byte[] text = seed.getBytes(StandardCharsets.UTF_8);
        byte[] encoded;
        if (algorithm.equals("sha256")) {
            int frame = text.length + 4;
            encoded = new byte[11 + frame];
            encoded[0] = (byte) 0x80;
            encoded[1] = 5;
            encoded[2] = (byte) 0x95;
            encoded[3] = (byte) frame;
            encoded[11] = (byte) 0x8c;
            encoded[12] = (byte) text.length;
            System.arraycopy(text, 0, encoded, 13, text.length);
            encoded[13 + text.length] = (byte) 0x94;
            encoded[14 + text.length] = (byte) 0x2e;
        } else {
            encoded = new byte[1 + text.length];
            encoded[0] = (byte) (0x60 | text.length);
            System.arraycopy(text, 0, encoded, 1, text.length);
        }
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(encoded));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every JDK", e);
        }
    }
}
