package io.conductor.daemon.registry;

import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.GroupLayout;
import org.jspecify.annotations.Nullable;

/**
 * Everything one registration asked for, normalized. Equality is field by field, which is what idempotent
 * re-registration compares ("exactly equal"). Immutable and thread-safe.
 *
 * @param endpoint ZMQ endpoint of the live publisher, non-empty
 * @param replayEndpoint replay endpoint, {@code ""} for none
 * @param type publisher type
 * @param modelName model name, non-empty
 * @param instanceId instance id, non-empty
 * @param tenantId normalized tenant id
 * @param loraName LoRA name, {@code ""} for the base model
 * @param blockSize hash block size in tokens, {@code > 0}
 * @param dpRank data-parallel rank
 * @param cacheGroup the KV cache group, or {@link #NO_CACHE_GROUP}
 * @param profile the resolved hash profile, or {@code null} for token-rehash mode (no profile given)
 * @param additionalSalt legacy Go-era field, kept for {@code /services}; {@code ""} when absent
 * @param loraId legacy integer LoRA id, or {@link #NO_LORA_ID}
 * @param kvRole the engine's prefill/decode role ({@link KvRole#BOTH} unless the registration says otherwise)
 * @param kvCacheGroups the KV-cache groups of a hybrid model, or {@code null} for a plain model
 */
public record ServiceRegistration(String endpoint, String replayEndpoint, ServiceType type, String modelName,
        String instanceId, String tenantId, String loraName, long blockSize, int dpRank, long cacheGroup,
        @Nullable HashProfileSpec profile, String additionalSalt, long loraId, KvRole kvRole,
        @Nullable GroupLayout kvCacheGroups) {
    /** Sentinel of {@link #cacheGroup()}: the registration named no cache group. */
    public static final long NO_CACHE_GROUP = -1;
    /** Sentinel of {@link #loraId()}: no legacy LoRA id ({@code -1}, as the Go era wrote it). */
    public static final long NO_LORA_ID = -1;

    /**
     * A registration with the default role {@link KvRole#BOTH}.
     *
     * @param endpoint ZMQ endpoint of the live publisher, non-empty
     * @param replayEndpoint replay endpoint, {@code ""} for none
     * @param type publisher type
     * @param modelName model name, non-empty
     * @param instanceId instance id, non-empty
     * @param tenantId normalized tenant id
     * @param loraName LoRA name, {@code ""} for the base model
     * @param blockSize hash block size in tokens, {@code > 0}
     * @param dpRank data-parallel rank
     * @param cacheGroup the KV cache group, or {@link #NO_CACHE_GROUP}
     * @param profile the resolved hash profile, or {@code null} for token-rehash mode
     * @param additionalSalt legacy Go-era field; {@code ""} when absent
     * @param loraId legacy integer LoRA id, or {@link #NO_LORA_ID}
     */
    public ServiceRegistration(String endpoint, String replayEndpoint, ServiceType type, String modelName,
            String instanceId, String tenantId, String loraName, long blockSize, int dpRank, long cacheGroup,
            @Nullable HashProfileSpec profile, String additionalSalt, long loraId) {
        this(endpoint, replayEndpoint, type, modelName, instanceId, tenantId, loraName, blockSize, dpRank,
                cacheGroup, profile, additionalSalt, loraId, KvRole.BOTH, null);
    }

    /**
     * A registration of a plain model (no KV-cache group layout) with the given role.
     *
     * @param endpoint ZMQ endpoint of the live publisher, non-empty
     * @param replayEndpoint replay endpoint, {@code ""} for none
     * @param type publisher type
     * @param modelName model name, non-empty
     * @param instanceId instance id, non-empty
     * @param tenantId normalized tenant id
     * @param loraName LoRA name, {@code ""} for the base model
     * @param blockSize hash block size in tokens, {@code > 0}
     * @param dpRank data-parallel rank
     * @param cacheGroup the KV cache group, or {@link #NO_CACHE_GROUP}
     * @param profile the resolved hash profile, or {@code null} for token-rehash mode
     * @param additionalSalt legacy Go-era field; {@code ""} when absent
     * @param loraId legacy integer LoRA id, or {@link #NO_LORA_ID}
     * @param kvRole the engine's prefill/decode role
     */
    public ServiceRegistration(String endpoint, String replayEndpoint, ServiceType type, String modelName,
            String instanceId, String tenantId, String loraName, long blockSize, int dpRank, long cacheGroup,
            @Nullable HashProfileSpec profile, String additionalSalt, long loraId, KvRole kvRole) {
        this(endpoint, replayEndpoint, type, modelName, instanceId, tenantId, loraName, blockSize, dpRank,
                cacheGroup, profile, additionalSalt, loraId, kvRole, null);
    }

    /**
     * A registration with the default role {@link KvRole#BOTH} and the given KV-cache group layout.
     *
     * @param endpoint ZMQ endpoint of the live publisher, non-empty
     * @param replayEndpoint replay endpoint, {@code ""} for none
     * @param type publisher type
     * @param modelName model name, non-empty
     * @param instanceId instance id, non-empty
     * @param tenantId normalized tenant id
     * @param loraName LoRA name, {@code ""} for the base model
     * @param blockSize hash block size in tokens, {@code > 0}
     * @param dpRank data-parallel rank
     * @param cacheGroup the KV cache group, or {@link #NO_CACHE_GROUP}
     * @param profile the resolved hash profile, or {@code null} for token-rehash mode
     * @param additionalSalt legacy Go-era field; {@code ""} when absent
     * @param loraId legacy integer LoRA id, or {@link #NO_LORA_ID}
     * @param kvCacheGroups the KV-cache groups of a hybrid model, or {@code null} for a plain model
     */
    public ServiceRegistration(String endpoint, String replayEndpoint, ServiceType type, String modelName,
            String instanceId, String tenantId, String loraName, long blockSize, int dpRank, long cacheGroup,
            @Nullable HashProfileSpec profile, String additionalSalt, long loraId,
            @Nullable GroupLayout kvCacheGroups) {
        this(endpoint, replayEndpoint, type, modelName, instanceId, tenantId, loraName, blockSize, dpRank,
                cacheGroup, profile, additionalSalt, loraId, KvRole.BOTH, kvCacheGroups);
    }

    /**
     * Returns this registration's service key.
     *
     * @return {@code instance|tenant|dp}
     */
    public ServiceKey key() {
        return new ServiceKey(instanceId, tenantId, dpRank);
    }

    /**
     * Returns the key of the index context this registration feeds (LoRA adapters live inside a context).
     *
     * @return the context key
     */
    public ContextKey context() {
        return new ContextKey(tenantId, modelName, blockSize);
    }
}
