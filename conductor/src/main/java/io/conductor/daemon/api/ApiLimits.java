package io.conductor.daemon.api;

import org.jspecify.annotations.Nullable;

/**
 * Limits and access settings of the API. Immutable and thread-safe.
 *
 * @param maxBodyBytes largest accepted request body; larger → 413
 * @param maxTokens largest accepted {@code token_ids} / {@code seq_hashes} length; larger → 400
 * @param maxStringBytes longest accepted string field (UTF-16 units, a close proxy for bytes); longer → 400
 * @param adminApiKey when non-null, {@code /register} and {@code /unregister} need it in {@code X-API-Key}
 */
public record ApiLimits(long maxBodyBytes, int maxTokens, int maxStringBytes, @Nullable String adminApiKey) {
    /** 16 MiB, the default body limit. */
    public static final long DEFAULT_MAX_BODY_BYTES = 16L * 1024 * 1024;
    /**
     * 4 Mi tokens: what a 16 MiB body can carry as a bin, beyond any context window (kvbench's verification
     * queries whole 1.28M-token sequences, which the reference accepts).
     */
    public static final int DEFAULT_MAX_TOKENS = 1 << 22;
    /** 4 KiB for names, ids and endpoints. */
    public static final int DEFAULT_MAX_STRING_BYTES = 4096;
    /** The environment variable holding the admin key. */
    public static final String ADMIN_KEY_ENV = "CONDUCTOR_ADMIN_API_KEY";

    /**
     * Validates the limits.
     *
     * @throws IllegalArgumentException if a limit is not positive or the key is empty
     */
    public ApiLimits {
        if (maxBodyBytes <= 0 || maxTokens <= 0 || maxStringBytes <= 0) {
            throw new IllegalArgumentException("API limits must be positive: body=" + maxBodyBytes
                    + " tokens=" + maxTokens + " string=" + maxStringBytes);
        }
        if (adminApiKey != null && adminApiKey.isEmpty()) {
            throw new IllegalArgumentException("admin API key must not be empty when set");
        }
    }

    /**
     * Returns the defaults, without an admin key.
     *
     * @return default limits
     */
    public static ApiLimits defaults() {
        return new ApiLimits(DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TOKENS, DEFAULT_MAX_STRING_BYTES, null);
    }

    /**
     * Returns the defaults with the admin key taken from {@value #ADMIN_KEY_ENV} (unset or empty: no key).
     *
     * @return default limits with the environment's key
     */
    public static ApiLimits fromEnvironment() {
        String key = System.getenv(ADMIN_KEY_ENV);
        return new ApiLimits(DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TOKENS, DEFAULT_MAX_STRING_BYTES,
                key == null || key.isEmpty() ? null : key);
    }

    /**
     * Returns a copy with another admin key.
     *
     * @param key the key, or {@code null} for none
     * @return the new limits
     */
    public ApiLimits withAdminApiKey(@Nullable String key) {
        return new ApiLimits(maxBodyBytes, maxTokens, maxStringBytes, key);
    }
}
