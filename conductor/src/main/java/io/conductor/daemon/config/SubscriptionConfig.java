package io.conductor.daemon.config;

import io.conductor.index.prefix.GroupLayout;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One static subscription: an entry of {@code kvevent_instance}, whichever format it was written in, with every
 * default applied. Immutable and thread-safe.
 *
 * <p>The constructor checks the invariants every consumer relies on (non-empty names, positive block size,
 * non-negative rank); the field-level rules with their error messages live in {@link ConfigLoader}.
 *
 * @param name           the entry name (the key in {@code kvevent_instance}); unique within a file
 * @param format         the format the entry was written in
 * @param type           the publisher kind, which selects the decoder
 * @param endpoint       the live ZMQ PUB endpoint, {@code tcp://HOST:PORT} or {@code ipc://PATH}
 * @param replayEndpoint the replay ROUTER endpoint, or {@code ""} for none (live only)
 * @param modelName      the served model name, non-empty
 * @param loraName       the LoRA adapter name, {@code ""} for none
 * @param loraId         the legacy integer LoRA id, {@link #NO_LORA_ID} for none
 * @param tenantId       the tenant, {@code default} when absent or empty
 * @param instanceId     the instance id, the entry name when absent; DP ranks of one instance share it
 * @param blockSize      tokens per KV block, positive; {@link #DEFAULT_BLOCK_SIZE} when absent
 * @param dpRank         the data-parallel rank, 0..2^31-1; 0 when absent
 * @param additionalSalt the Go-era {@code "additionalsalt"}, {@code ""} for none
 * @param cacheGroup     the KV cache group, {@link #NO_CACHE_GROUP} when absent or null
 * @param hashProfile    how the engine hashes blocks, or {@code null}: the stream is indexed in token-rehash mode
 * @param kvCacheGroups  the KV-cache groups of a hybrid model ({@code kv_cache_groups}), or {@code null} for a plain
 *                       model
 * @param kvRole         the engine's prefill/decode role as vLLM's {@code --kv-transfer-config} names it:
 *                       {@code kv_producer}, {@code kv_consumer} or {@code kv_both} (the default)
 */
public record SubscriptionConfig(
    String name,
    ConfigFormat format,
    ServiceType type,
    String endpoint,
    String replayEndpoint,
    String modelName,
    String loraName,
    long loraId,
    String tenantId,
    String instanceId,
    int blockSize,
    int dpRank,
    String additionalSalt,
    int cacheGroup,
    @Nullable HashProfileConfig hashProfile,
    @Nullable GroupLayout kvCacheGroups,
    String kvRole) {

    /** Tenant used when {@code tenant_id} is absent or empty. */
    public static final String DEFAULT_TENANT = "default";
    /** Block size used when {@code block_size} is absent (vLLM's default). */
    public static final int DEFAULT_BLOCK_SIZE = 16;
    /** {@code lora_id} meaning "no LoRA" (the legacy format's {@code -1}). */
    public static final long NO_LORA_ID = -1;
    /** {@code kvRole} when the entry names none: the engine both prefills and decodes. */
    public static final String DEFAULT_KV_ROLE = "kv_both";
    /** {@code cacheGroup} when the entry names no cache group. */
    public static final int NO_CACHE_GROUP = -1;

    /**
     * Checks the invariants.
     *
     * @throws IllegalArgumentException when a name is empty, {@code blockSize <= 0}, {@code dpRank < 0},
     *                                  {@code cacheGroup < NO_CACHE_GROUP} or {@code loraId < NO_LORA_ID}
     * @throws NullPointerException     when a non-nullable component is null
     */
    public SubscriptionConfig {
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(replayEndpoint, "replayEndpoint");
        Objects.requireNonNull(loraName, "loraName");
        Objects.requireNonNull(additionalSalt, "additionalSalt");
        requireNonEmpty(name, "name");
        requireNonEmpty(endpoint, "endpoint");
        requireNonEmpty(modelName, "modelName");
        requireNonEmpty(tenantId, "tenantId");
        requireNonEmpty(instanceId, "instanceId");
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive, was " + blockSize);
        }
        if (dpRank < 0) {
            throw new IllegalArgumentException("dpRank must be non-negative, was " + dpRank);
        }
        if (cacheGroup < NO_CACHE_GROUP) {
            throw new IllegalArgumentException("cacheGroup must be >= 0 or NO_CACHE_GROUP, was " + cacheGroup);
        }
        if (loraId < NO_LORA_ID) {
            throw new IllegalArgumentException("loraId must be >= 0 or NO_LORA_ID, was " + loraId);
        }
        if (!kvRole.equals("kv_producer") && !kvRole.equals("kv_consumer") && !kvRole.equals(DEFAULT_KV_ROLE)) {
            throw new IllegalArgumentException("kvRole must be kv_producer, kv_consumer or kv_both, was " + kvRole);
        }
        if (kvCacheGroups != null && kvCacheGroups.hashBlockSize() != blockSize) {
            throw new IllegalArgumentException("kvCacheGroups built for block size " + kvCacheGroups.hashBlockSize()
                + ", entry has " + blockSize);
        }
    }

    /**
     * Creates a subscription of a plain model (no {@code kv_cache_groups}) with the default role.
     *
     * @throws IllegalArgumentException as the canonical constructor
     */
    public SubscriptionConfig(String name, ConfigFormat format, ServiceType type, String endpoint,
            String replayEndpoint, String modelName, String loraName, long loraId, String tenantId, String instanceId,
            int blockSize, int dpRank, String additionalSalt, int cacheGroup, @Nullable HashProfileConfig hashProfile) {
        this(name, format, type, endpoint, replayEndpoint, modelName, loraName, loraId, tenantId, instanceId, blockSize,
            dpRank, additionalSalt, cacheGroup, hashProfile, null, DEFAULT_KV_ROLE);
    }

    /**
     * Tells whether a replay endpoint is configured (gaps can be recovered by replay).
     *
     * @return {@code true} when {@link #replayEndpoint()} is non-empty
     */
    public boolean hasReplayEndpoint() {
        return !replayEndpoint.isEmpty();
    }

    /**
     * Tells whether the stream is indexed in token-rehash mode: no hash profile is known, so the conductor computes
     * its own hash chain from the token ids carried by the events.
     *
     * @return {@code true} when {@link #hashProfile()} is null
     */
    public boolean tokenRehash() {
        return hashProfile == null;
    }

    /**
     * Returns the reference's service key, unique among active subscriptions.
     *
     * @return {@code instanceId + "|" + tenantId + "|" + dpRank}
     */
    public String serviceKey() {
        return instanceId + "|" + tenantId + "|" + dpRank;
    }

    private static void requireNonEmpty(@Nullable String value, String component) {
        if (Objects.requireNonNull(value, component).isEmpty()) {
            throw new IllegalArgumentException(component + " must not be empty");
        }
    }
}
