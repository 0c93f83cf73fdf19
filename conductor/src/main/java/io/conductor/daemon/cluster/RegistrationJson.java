package io.conductor.daemon.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A registration as stored in etcd: a JSON object with every field of {@link ServiceRegistration} (the resolved
 * form, not the request's), so every replica rebuilds an equal record. Stateless and thread-safe.
 */
final class RegistrationJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RegistrationJson() {
    }

    static byte[] encode(ServiceRegistration r) {
        ObjectNode n = JSON.createObjectNode();
        n.put("endpoint", r.endpoint());
        n.put("replay_endpoint", r.replayEndpoint());
        n.put("type", r.type().wireName());
        n.put("model_name", r.modelName());
        n.put("instance_id", r.instanceId());
        n.put("tenant_id", r.tenantId());
        n.put("lora_name", r.loraName());
        n.put("block_size", r.blockSize());
        n.put("dp_rank", r.dpRank());
        n.put("cache_group", r.cacheGroup());
        HashProfileSpec p = r.profile();
        if (p != null) {
            ObjectNode h = n.putObject("hash_profile");
            h.put("strategy", p.strategy());
            h.put("algorithm", p.algorithm());
            h.put("python_hash_seed", p.pythonHashSeed());
            h.put("root_digest", p.rootDigest());
            h.put("index_projection", p.indexProjection());
        }
        n.put("additional_salt", r.additionalSalt());
        n.put("lora_id", r.loraId());
        return n.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Decodes a stored registration.
     *
     * @throws IllegalArgumentException when the value is not one this code wrote
     */
    static ServiceRegistration decode(byte[] bytes) {
        JsonNode n;
        try {
            n = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new IllegalArgumentException("not JSON: " + e.getMessage(), e);
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("not a JSON object");
        }
        ServiceType type = ServiceType.fromWireName(text(n, "type"));
        if (type == null) {
            throw new IllegalArgumentException("unknown type " + n.get("type"));
        }
        JsonNode h = n.get("hash_profile");
        HashProfileSpec profile = h == null || h.isNull() ? null : new HashProfileSpec(text(h, "strategy"),
                text(h, "algorithm"), text(h, "python_hash_seed"), text(h, "root_digest"),
                text(h, "index_projection"));
        return new ServiceRegistration(text(n, "endpoint"), text(n, "replay_endpoint"), type, text(n, "model_name"),
                text(n, "instance_id"), text(n, "tenant_id"), text(n, "lora_name"), number(n, "block_size"),
                (int) number(n, "dp_rank"), number(n, "cache_group"), profile, text(n, "additional_salt"),
                number(n, "lora_id"));
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException(field + " missing or not a string");
        }
        return v.asText();
    }

    private static long number(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isIntegralNumber()) {
            throw new IllegalArgumentException(field + " missing or not an integer");
        }
        return v.asLong();
    }
}
