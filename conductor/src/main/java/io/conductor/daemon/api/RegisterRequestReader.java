package io.conductor.daemon.api;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.KvRole;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceType;
import io.conductor.index.prefix.CacheGroup;
import io.conductor.index.prefix.GroupLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Reads {@code /register} and {@code /unregister} bodies in the evaluation order of mooncake-api.md §3.2 / §3.3.
 * Registration fields of every era are accepted: the Go era's {@code additionalsalt} and {@code lora_id}; without
 * {@code hash_profile} the stream is indexed in token-rehash mode. Stateless and thread-safe.
 */
final class RegisterRequestReader {
    private static final Set<String> REGISTER_KEYS = Set.of("endpoint", "type", "modelname", "instance_id",
            "block_size", "replay_endpoint", "lora_name", "tenant_id", "cache_group", "hash_profile", "dp_rank",
            "additionalsalt", "lora_id", "kv_role", "kv_cache_groups");
    private static final Set<String> UNREGISTER_KEYS = Set.of("instance_id", "tenant_id", "dp_rank");
    private static final String DP_RANK_RANGE = "dp_rank must be a non-negative int";

    private RegisterRequestReader() {
    }

    static ServiceRegistration readRegister(Value.MapValue body, ApiLimits limits) {
        return readRegister(body, limits, EndpointPolicy.defaults());
    }

    /**
     * Reads a registration; after every field (so the reference's order of field errors holds), the endpoints are
     * checked against {@code endpoints}: malformed → 400 {@code invalid_value}, refused → 400 {@code not_allowed}.
     */
    static ServiceRegistration readRegister(Value.MapValue body, ApiLimits limits, EndpointPolicy endpoints) {
        Map<String, Value> f = FieldRules.firstOccurrences(body, REGISTER_KEYS);
        String endpoint = FieldRules.requiredString("endpoint", f.get("endpoint"), limits);
        String type = FieldRules.requiredString("type", f.get("type"), limits);
        String model = FieldRules.requiredString("modelname", f.get("modelname"), limits);
        String instance = FieldRules.requiredString("instance_id", f.get("instance_id"), limits);
        long blockSize = blockSize(f.get("block_size"));
        String replay = FieldRules.optionalString("replay_endpoint", f.get("replay_endpoint"), "", limits);
        String lora = FieldRules.optionalString("lora_name", f.get("lora_name"), "", limits);
        String tenant = ServiceKey.normalizeTenant(
                FieldRules.optionalString("tenant_id", f.get("tenant_id"), "", limits));
        long cacheGroup = cacheGroup(f.get("cache_group"));
        Value profileValue = f.get("hash_profile");
        // Optional here (the reference requires it): absent or nil means token-rehash mode.
        HashProfileSpec profile = profileValue == null || profileValue == Value.Nil.NIL
                ? null : HashProfileReader.read(profileValue, limits);
        ServiceType serviceType = ServiceType.fromWireName(type);
        if (serviceType == null) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "type", "type must be vLLM or Mooncake");
        }
        int dpRank = registerDpRank(f.get("dp_rank"));
        String additionalSalt = FieldRules.optionalString("additionalsalt", f.get("additionalsalt"), "", limits);
        long loraId = loraId(f.get("lora_id"));
        String roleName = FieldRules.optionalString("kv_role", f.get("kv_role"), KvRole.BOTH.wireName(), limits);
        KvRole role = KvRole.fromWireName(roleName);
        if (role == null) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "kv_role",
                    "kv_role must be kv_producer, kv_consumer or kv_both");
        }
        endpoints.check("endpoint", endpoint);
        if (!replay.isEmpty()) {
            endpoints.check("replay_endpoint", replay);
        }
        GroupLayout groups = kvCacheGroups(f.get("kv_cache_groups"), blockSize, limits);
        if (groups != null && serviceType != ServiceType.VLLM) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "kv_cache_groups",
                    "kv_cache_groups describes a vLLM engine's KV-cache groups (group_idx); " + type
                            + " publishes none");
        }
        // SGLang hashes are not vLLM's: an SGLang stream keeps only an sglang profile (its native hashes index
        // directly); with any other profile it is indexed in token-rehash mode.
        HashProfileSpec kept = serviceType == ServiceType.SGLANG && (profile == null
                || !"sglang".equals(profile.strategy())) ? null : profile;
        return new ServiceRegistration(endpoint, replay, serviceType, model, instance, tenant, lora, blockSize,
                dpRank, cacheGroup, kept, additionalSalt, loraId, role, groups);
    }

    static ServiceKey readUnregister(Value.MapValue body, ApiLimits limits) {
        Map<String, Value> f = FieldRules.firstOccurrences(body, UNREGISTER_KEYS);
        String instance = FieldRules.requiredString("instance_id", f.get("instance_id"), limits);
        String tenant = ServiceKey.normalizeTenant(
                FieldRules.optionalString("tenant_id", f.get("tenant_id"), "", limits));
        Value rank = f.get("dp_rank");
        if (rank == null) {
            throw FieldRules.missing("dp_rank");
        }
        // The reference reports every bad dp_rank here as invalid_value, type errors included (§3.3).
        if (!(rank instanceof Value.Int i) || i.value() < 0 || i.value() > Integer.MAX_VALUE) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "dp_rank", DP_RANK_RANGE);
        }
        return new ServiceKey(instance, tenant, (int) i.value());
    }

    private static long blockSize(@Nullable Value value) {
        if (value == null) {
            throw FieldRules.missing("block_size");
        }
        long blockSize = FieldRules.int64("block_size", value);
        if (blockSize <= 0) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "block_size", "block_size must be greater than zero");
        }
        return blockSize;
    }

    private static long cacheGroup(@Nullable Value value) {
        if (value == null || value == Value.Nil.NIL) {
            return ServiceRegistration.NO_CACHE_GROUP;
        }
        if (!(value instanceof Value.Int i)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "cache_group", "cache_group must be an integer or null");
        }
        if (i.value() != 0) {
            throw ApiException.badRequest(Reason.UNSUPPORTED, "cache_group", "only cache group zero is supported");
        }
        return 0;
    }

    private static final String GROUPS_FORM = "kv_cache_groups must be an array of 1 to " + GroupLayout.MAX_GROUPS
            + " maps in group_idx order, each {\"kind\": " + CacheGroup.KIND_NAMES
            + "} with \"sliding_window\" (tokens) for a sliding window and \"block_size\" where it differs";

    /** A hybrid model's groups; nil, absent or one plain full-attention group mean a plain model. */
    private static @Nullable GroupLayout kvCacheGroups(@Nullable Value value, long blockSize, ApiLimits limits) {
        if (value == null || value == Value.Nil.NIL) {
            return null;
        }
        if (!(value instanceof Value.Array array)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "kv_cache_groups", GROUPS_FORM);
        }
        List<Value> elements = array.elements();
        if (elements.isEmpty() || elements.size() > GroupLayout.MAX_GROUPS) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "kv_cache_groups", GROUPS_FORM);
        }
        List<CacheGroup> groups = new ArrayList<>(elements.size());
        for (int g = 0; g < elements.size(); g++) {
            if (!(elements.get(g) instanceof Value.MapValue map)) {
                throw ApiException.badElement(Reason.INVALID_TYPE, "kv_cache_groups", g, GROUPS_FORM);
            }
            Map<String, Value> f;
            try {
                f = FieldRules.firstOccurrences(map, GROUP_KEYS);
            } catch (ApiException e) {
                throw ApiException.badElement(Reason.UNKNOWN_FIELD, "kv_cache_groups", g, GROUPS_FORM);
            }
            String kind = FieldRules.requiredString("kind", f.get("kind"), limits);
            long size = f.get("block_size") == null ? blockSize : FieldRules.int64("block_size", f.get("block_size"));
            long window = f.get("sliding_window") == null ? 0
                    : FieldRules.int64("sliding_window", f.get("sliding_window"));
            try {
                groups.add(CacheGroup.of(kind, size, window));
            } catch (IllegalArgumentException e) {
                throw ApiException.badElement(Reason.INVALID_VALUE, "kv_cache_groups", g,
                        String.valueOf(e.getMessage()));
            }
        }
        try {
            GroupLayout layout = new GroupLayout(blockSize, groups);
            return layout.isPlain() ? null : layout;
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "kv_cache_groups", String.valueOf(e.getMessage()));
        }
    }

    private static final Set<String> GROUP_KEYS = Set.of("kind", "block_size", "sliding_window");

    private static int registerDpRank(@Nullable Value value) {
        if (value == null) {
            throw FieldRules.missing("dp_rank");
        }
        long rank = FieldRules.int64("dp_rank", value);
        if (rank < 0 || rank > Integer.MAX_VALUE) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "dp_rank", DP_RANK_RANGE);
        }
        return (int) rank;
    }

    /** Go-era integer LoRA id; -1 or nil mean none. Kept for {@code /services}, not used for matching. */
    private static long loraId(@Nullable Value value) {
        if (value == null || value == Value.Nil.NIL) {
            return ServiceRegistration.NO_LORA_ID;
        }
        return FieldRules.int64("lora_id", value);
    }
}
