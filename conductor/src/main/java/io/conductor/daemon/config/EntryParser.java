package io.conductor.daemon.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.conductor.index.prefix.CacheGroup;
import io.conductor.index.prefix.GroupLayout;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Turns one {@code kvevent_instance} entry, in any of the three formats, into a {@link SubscriptionConfig}, or into
 * field errors. Not thread-safe: one instance per entry, used by one thread.
 */
/*
 * Format detection: an entry with "endpoint" is the endpoint form (or the current form when it also has
 * "hash_profile" or "cache_group"); otherwise an entry with "ip" or "port" is the legacy form; otherwise the
 * endpoint is missing. Every other field is read the same way in every format, so a legacy entry may carry
 * "block_size" or "tenant_id" too: one model, one set of defaults.
 *
 * Errors are collected, not thrown: one invalid entry reports all its bad fields at once, so a user fixes a file in
 * one pass. Each error names the field, the expected form and the value found.
 */
final class EntryParser {
    /** Every field any format defines; anything else is ignored with a warning (typos show up in the log). */
    private static final Set<String> KNOWN_FIELDS = Set.of(
        "ip", "port", "endpoint", "replay_endpoint", "type", "modelname", "lora_id", "lora_name", "tenant_id",
        "instance_id", "block_size", "dp_rank", "additionalsalt", "cache_group", "hash_profile", "kv_cache_groups",
        "kv_role");
    private static final Set<String> KV_ROLES = Set.of("kv_producer", "kv_consumer", "kv_both");
    private static final Set<String> PROFILE_FIELDS =
        Set.of("strategy", "algorithm", "python_hash_seed", "index_projection");

    static final String ENDPOINT_EXPECTED = "\"tcp://HOST:PORT\" or \"ipc://PATH\"";
    private static final int MAX_VALUE_CHARS = 60;

    private final String name;
    private final JsonNode entry;
    private final List<String> fieldErrors = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();

    EntryParser(String name, JsonNode entry) {
        this.name = name;
        this.entry = entry;
    }

    /** Returns the field errors ("field: expected X, got Y"), empty when the entry is valid. */
    List<String> fieldErrors() {
        return fieldErrors;
    }

    /** Returns the warnings (ignored fields), whether or not the entry is valid. */
    List<String> warnings() {
        return warnings;
    }

    /**
     * Parses the entry.
     *
     * @return the subscription, or {@code null} when {@link #fieldErrors()} is not empty
     */
    @Nullable SubscriptionConfig parse() {
        if (!entry.isObject()) {
            fieldErrors.add("(entry): expected a JSON object, got " + describe(entry));
            return null;
        }
        if (name.isEmpty()) {
            fieldErrors.add("(name): expected a non-empty entry name, got \"\"");
        }
        for (Iterator<String> it = entry.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!KNOWN_FIELDS.contains(field)) {
                warnings.add("entry " + quote(name) + ": ignoring unknown field " + quote(field));
            }
        }

        ServiceType type = parseType();

        ConfigFormat format;
        String endpoint;
        String replayEndpoint;
        if (entry.has("endpoint")) {
            format = entry.has("hash_profile") || entry.has("cache_group") || entry.has("kv_cache_groups")
                ? ConfigFormat.CURRENT : ConfigFormat.ENDPOINT;
            endpoint = endpointField("endpoint", true);
            replayEndpoint = endpointField("replay_endpoint", false);
            if (entry.has("ip") || entry.has("port")) {
                warnings.add("entry " + quote(name) + ": ignoring legacy \"ip\"/\"port\" because \"endpoint\" is given");
            }
        } else if (entry.has("ip") || entry.has("port")) {
            format = ConfigFormat.LEGACY;
            String ip = ipField();
            int port = intField("port", true, 0, 1, 65_534, "an integer in 1..65534 (the replay endpoint is port+1)");
            String host = ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip;
            endpoint = ip.isEmpty() || port == 0 ? "" : "tcp://" + host + ":" + port;
            // The legacy format pairs each live port with a replay ROUTER on port+1 (as vLLM is launched in the seed
            // document); an explicit replay_endpoint, even "", overrides that.
            replayEndpoint = entry.has("replay_endpoint") ? endpointField("replay_endpoint", false)
                : endpoint.isEmpty() ? "" : "tcp://" + host + ":" + (port + 1);
        } else {
            format = ConfigFormat.ENDPOINT;
            fieldErrors.add("endpoint: expected " + ENDPOINT_EXPECTED + " (or legacy \"ip\" and \"port\"), got nothing");
            endpoint = "";
            replayEndpoint = "";
        }

        String modelName = stringField("modelname", true, "", "a non-empty string (the served model name)");
        String loraName = stringField("lora_name", false, "", "a string (\"\" = no LoRA)");
        long loraId = longField("lora_id", SubscriptionConfig.NO_LORA_ID, "an integer >= -1 (-1 = no LoRA)");
        String tenantId = stringField("tenant_id", false, "", "a string (\"\" or absent = \"default\")");
        if (tenantId.isEmpty()) {
            tenantId = SubscriptionConfig.DEFAULT_TENANT;
        }
        String instanceId = stringField("instance_id", false, name,
            "a non-empty string (omit it to use the entry name)");
        int blockSize = intField("block_size", false, SubscriptionConfig.DEFAULT_BLOCK_SIZE, 1, Integer.MAX_VALUE,
            "a positive integer (tokens per block; default 16)");
        int dpRank = intField("dp_rank", false, 0, 0, Integer.MAX_VALUE, "an integer in 0..2147483647 (default 0)");
        String additionalSalt = stringField("additionalsalt", false, "", "a string (\"\" = no salt)");
        int cacheGroup = SubscriptionConfig.NO_CACHE_GROUP;
        if (entry.hasNonNull("cache_group")) {
            cacheGroup = intField("cache_group", false, SubscriptionConfig.NO_CACHE_GROUP, 0, Integer.MAX_VALUE,
                "a non-negative integer or null");
        }
        String kvRole = stringField("kv_role", false, SubscriptionConfig.DEFAULT_KV_ROLE,
            "one of \"kv_producer\", \"kv_consumer\", \"kv_both\" (default)");
        if (!KV_ROLES.contains(kvRole)) {
            fieldErrors.add("kv_role: expected one of \"kv_producer\" (prefill), \"kv_consumer\" (decode), "
                + "\"kv_both\" (default), got " + quote(kvRole));
        }
        HashProfileConfig hashProfile = parseHashProfile(type);
        GroupLayout groups = parseGroups(blockSize);
        if (groups != null && type != null && type != ServiceType.VLLM) {
            fieldErrors.add("kv_cache_groups: expected no kv_cache_groups for a " + type.configName()
                + " entry (only vLLM publishes group_idx), got " + describe(entry.get("kv_cache_groups")));
        }

        if (!fieldErrors.isEmpty() || type == null) {
            return null;
        }
        return new SubscriptionConfig(name, format, type, endpoint, replayEndpoint, modelName, loraName, loraId,
            tenantId, instanceId, blockSize, dpRank, additionalSalt, cacheGroup, hashProfile, groups, kvRole);
    }

    private @Nullable ServiceType parseType() {
        JsonNode node = entry.get("type");
        ServiceType type = node != null && node.isTextual() ? ServiceType.fromConfigName(node.textValue()) : null;
        if (type == null) {
            fieldErrors.add("type: expected " + ServiceType.EXPECTED + ", got " + describe(node));
        }
        return type;
    }

    private String endpointField(String field, boolean required) {
        String expected = required ? ENDPOINT_EXPECTED : ENDPOINT_EXPECTED + " or \"\" (no replay)";
        String value = stringField(field, required, "", expected);
        if (!value.isEmpty() && !isValidEndpoint(value)) {
            fieldErrors.add(field + ": expected " + expected + ", got " + quote(value));
            return "";
        }
        return value;
    }

    private String ipField() {
        String expected = "an IP address literal such as \"10.0.0.5\" (for a host name use \"endpoint\")";
        String ip = stringField("ip", true, "", expected);
        if (!ip.isEmpty() && !isIpLiteral(ip)) {
            fieldErrors.add("ip: expected " + expected + ", got " + quote(ip));
            return "";
        }
        return ip;
    }

    /**
     * Reads {@code kv_cache_groups}: one object per KV-cache group in {@code group_idx} order, {@code {"kind": K}}
     * plus {@code "block_size"} when the group's differs from the entry's and {@code "sliding_window"} (tokens) for
     * a sliding window.
     */
    private @Nullable GroupLayout parseGroups(int blockSize) {
        JsonNode node = entry.get("kv_cache_groups");
        if (node == null || node.isNull()) {
            return null;
        }
        String expected = "an array of 1 to " + GroupLayout.MAX_GROUPS + " groups in group_idx order, each "
            + "{\"kind\": \"full_attention\" | \"sliding_window\" | \"mamba\"} with \"sliding_window\" (tokens) for a "
            + "sliding window and \"block_size\" where it differs from the entry's";
        if (!node.isArray() || node.isEmpty() || node.size() > GroupLayout.MAX_GROUPS) {
            fieldErrors.add("kv_cache_groups: expected " + expected + ", got " + describe(node));
            return null;
        }
        List<CacheGroup> groups = new ArrayList<>();
        for (int g = 0; g < node.size(); g++) {
            JsonNode group = node.get(g);
            String field = "kv_cache_groups[" + g + "]";
            if (!group.isObject() || !group.path("kind").isTextual()) {
                fieldErrors.add(field + ": expected {\"kind\": ...} (" + CacheGroup.KIND_NAMES + "), got "
                    + describe(group));
                return null;
            }
            for (Iterator<String> it = group.fieldNames(); it.hasNext(); ) {
                String key = it.next();
                if (!key.equals("kind") && !key.equals("block_size") && !key.equals("sliding_window")) {
                    fieldErrors.add(field + "." + key + ": expected no such key (known: kind, block_size, "
                        + "sliding_window), got " + describe(group.get(key)));
                    return null;
                }
            }
            JsonNode bs = group.get("block_size");
            JsonNode window = group.get("sliding_window");
            if ((bs != null && !bs.canConvertToLong()) || (window != null && !window.canConvertToLong())) {
                fieldErrors.add(field + ": expected integer block_size and sliding_window, got " + describe(group));
                return null;
            }
            try {
                groups.add(CacheGroup.of(group.get("kind").textValue(), bs == null ? blockSize : bs.longValue(),
                    window == null ? 0 : window.longValue()));
            } catch (IllegalArgumentException e) {
                fieldErrors.add(field + ": expected a valid group (" + e.getMessage() + "), got " + describe(group));
                return null;
            }
        }
        try {
            GroupLayout layout = new GroupLayout(blockSize, groups);
            return layout.isPlain() ? null : layout;
        } catch (IllegalArgumentException e) {
            fieldErrors.add("kv_cache_groups: expected " + expected + " (" + e.getMessage() + "), got "
                + describe(node));
            return null;
        }
    }

    private @Nullable HashProfileConfig parseHashProfile(@Nullable ServiceType type) {
        JsonNode profile = entry.get("hash_profile");
        if (profile == null || profile.isNull()) {
            return null;
        }
        if (!profile.isObject()) {
            fieldErrors.add("hash_profile: expected an object {\"python_hash_seed\": ..., \"algorithm\": ..., "
                + "\"strategy\": ..., \"index_projection\": ...} or no hash_profile (token-rehash mode), got "
                + describe(profile));
            return null;
        }
        JsonNode strategyNode = profile.get("strategy");
        boolean sglangStrategy = strategyNode != null && HashProfileConfig.STRATEGY_SGLANG.equals(
            strategyNode.textValue());
        if (type == ServiceType.SGLANG && !sglangStrategy) {
            fieldErrors.add("hash_profile: expected no hash_profile for an SGLang entry (token-rehash mode) or "
                + "{\"strategy\": \"sglang\"} (SGLang's own page hashes), got " + describe(profile));
            return null;
        }
        if (type != null && type != ServiceType.SGLANG && sglangStrategy) {
            fieldErrors.add("hash_profile.strategy: expected \"vllm_v1\" or \"lmcache\" for a " + type.configName()
                + " entry (\"sglang\" describes an SGLang engine's hashes), got \"sglang\"");
            return null;
        }
        int errorsBefore = fieldErrors.size();
        for (Iterator<String> it = profile.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!PROFILE_FIELDS.contains(key)) {
                fieldErrors.add("hash_profile." + key + ": expected no such key (known: strategy, algorithm, "
                    + "python_hash_seed, index_projection), got " + describe(profile.get(key)));
            }
        }
        if (sglangStrategy) {
            return parseSglangProfile(profile, errorsBefore);
        }
        String strategy = profileText(profile, "strategy", HashProfileConfig.STRATEGY_VLLM_V1,
            HashProfileConfig.strategyProblem(profileValue(profile, "strategy")));
        String algorithm = profileText(profile, "algorithm", HashProfileConfig.ALGORITHM_SHA256,
            HashProfileConfig.algorithmProblem(profileValue(profile, "algorithm")));
        String projection = profileText(profile, "index_projection", HashProfileConfig.PROJECTION_LOW64_BE,
            HashProfileConfig.projectionProblem(profileValue(profile, "index_projection")));
        JsonNode seedNode = profile.get("python_hash_seed");
        String seed = "";
        if (seedNode == null) {
            fieldErrors.add("hash_profile.python_hash_seed: expected the engine's PYTHONHASHSEED as a string "
                + "(\"0\", \"random\", \"vllm-none-hash\"), or no hash_profile (token-rehash mode), got nothing");
        } else if (!seedNode.isTextual()) {
            String hint = seedNode.isIntegralNumber() ? " (quote it: \"" + seedNode.asText() + "\")" : "";
            fieldErrors.add("hash_profile.python_hash_seed: expected a string" + hint + ", got " + describe(seedNode));
        } else {
            seed = seedNode.textValue();
            String problem = HashProfileConfig.seedProblem(algorithm, seed);
            if (problem != null) {
                fieldErrors.add("hash_profile.python_hash_seed: expected " + problem.replaceFirst(
                    "^python_hash_seed must be ", "") + ", got " + quote(seed));
            }
        }
        if (fieldErrors.size() != errorsBefore) {
            return null;
        }
        return new HashProfileConfig(strategy, algorithm, seed, projection);
    }

    /**
     * SGLang's own page hashes (SHA-256 over u32 tokens, first 8 digest bytes): {@code algorithm} and
     * {@code index_projection} may be left out and must be {@code sha256} / {@code high64_be} when given; SGLang has
     * no seed, so {@code python_hash_seed} is optional and only kept as text.
     */
    private @Nullable HashProfileConfig parseSglangProfile(JsonNode profile, int errorsBefore) {
        String algorithm = fixedProfileText(profile, "algorithm", HashProfileConfig.ALGORITHM_SHA256);
        String projection = fixedProfileText(profile, "index_projection", HashProfileConfig.PROJECTION_HIGH64_BE);
        JsonNode seedNode = profile.get("python_hash_seed");
        String seed = "";
        if (seedNode != null && !seedNode.isNull()) {
            if (seedNode.isTextual()) {
                seed = seedNode.textValue();
            } else {
                fieldErrors.add("hash_profile.python_hash_seed: expected a string or nothing (SGLang has no seed), "
                    + "got " + describe(seedNode));
            }
        }
        if (fieldErrors.size() != errorsBefore) {
            return null;
        }
        return new HashProfileConfig(HashProfileConfig.STRATEGY_SGLANG, algorithm, seed, projection);
    }

    /** A key of the sglang profile that has one allowed value, which is also its default. */
    private String fixedProfileText(JsonNode profile, String key, String only) {
        JsonNode node = profile.get(key);
        if (node == null || node.isNull()) {
            return only;
        }
        if (!node.isTextual() || !only.equals(node.textValue())) {
            fieldErrors.add("hash_profile." + key + ": expected \"" + only + "\" for the sglang strategy, got "
                + describe(node));
        }
        return only;
    }

    /** The text of a profile key, or a placeholder that passes validation when the key is absent or not text. */
    private static String profileValue(JsonNode profile, String key) {
        JsonNode node = profile.get(key);
        if (node == null) {
            return switch (key) {
                case "strategy" -> HashProfileConfig.STRATEGY_VLLM_V1;
                case "algorithm" -> HashProfileConfig.ALGORITHM_SHA256;
                default -> HashProfileConfig.PROJECTION_LOW64_BE;
            };
        }
        return node.isTextual() ? node.textValue() : "";
    }

    private String profileText(JsonNode profile, String key, String defaultValue, @Nullable String problem) {
        JsonNode node = profile.get(key);
        if (node == null) {
            return defaultValue;
        }
        if (!node.isTextual()) {
            fieldErrors.add("hash_profile." + key + ": expected a string, got " + describe(node));
            return defaultValue;
        }
        if (problem != null) {
            fieldErrors.add("hash_profile." + key + ": expected " + expectedProfileValue(key) + " (" + problem
                + "), got " + quote(node.textValue()));
            return defaultValue;
        }
        return node.textValue();
    }

    private static String expectedProfileValue(String key) {
        return switch (key) {
            case "strategy" -> "one of \"vllm_v1\", \"lmcache\" (\"sglang\" on SGLang entries)";
            case "algorithm" -> "one of \"sha256\", \"sha256_cbor\", \"xxh3\"";
            default -> "\"low64_be\"";
        };
    }

    /**
     * Reads a string field. A present field must be a JSON string (null is not a string); a required field must
     * also be non-empty, and so must {@code instance_id} when present.
     */
    private String stringField(String field, boolean required, String defaultValue, String expected) {
        JsonNode node = entry.get(field);
        if (node == null) {
            if (required) {
                fieldErrors.add(field + ": expected " + expected + ", got nothing");
            }
            return defaultValue;
        }
        boolean mustBeNonEmpty = required || field.equals("instance_id");
        if (!node.isTextual() || (mustBeNonEmpty && node.textValue().isEmpty())) {
            fieldErrors.add(field + ": expected " + expected + ", got " + describe(node));
            return defaultValue;
        }
        return node.textValue();
    }

    /** Reads an integer field in {@code min..max}; floats, strings and booleans are not integers. */
    private int intField(String field, boolean required, int defaultValue, int min, int max, String expected) {
        JsonNode node = entry.get(field);
        if (node == null) {
            if (required) {
                fieldErrors.add(field + ": expected " + expected + ", got nothing");
            }
            return defaultValue;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong() || node.longValue() < min
            || node.longValue() > max) {
            fieldErrors.add(field + ": expected " + expected + ", got " + describe(node));
            return defaultValue;
        }
        return (int) node.longValue();
    }

    private long longField(String field, long defaultValue, String expected) {
        JsonNode node = entry.get(field);
        if (node == null) {
            return defaultValue;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong() || node.longValue() < SubscriptionConfig.NO_LORA_ID) {
            fieldErrors.add(field + ": expected " + expected + ", got " + describe(node));
            return defaultValue;
        }
        return node.longValue();
    }

    /** Accepts {@code tcp://HOST:PORT} (HOST a name, an IPv4 literal or a bracketed IPv6 literal) and ipc://PATH. */
    static boolean isValidEndpoint(String endpoint) {
        if (endpoint.startsWith("ipc://")) {
            return endpoint.length() > "ipc://".length();
        }
        if (!endpoint.startsWith("tcp://")) {
            return false;
        }
        String hostPort = endpoint.substring("tcp://".length());
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || !isPort(hostPort.substring(colon + 1))) {
            return false;
        }
        String host = hostPort.substring(0, colon);
        if (host.startsWith("[")) {
            return host.endsWith("]") && isIpLiteral(host.substring(1, host.length() - 1))
                && host.indexOf(':') >= 0;
        }
        // "*" binds every interface; a subscriber connects, so it needs a real host.
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '.' || c == '-' || c == '_';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private static boolean isPort(String text) {
        if (text.isEmpty() || text.length() > 5) {
            return false;
        }
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) < '0' || text.charAt(i) > '9') {
                return false;
            }
        }
        int port = Integer.parseInt(text);
        return port >= 1 && port <= 65_535;
    }

    /** A dotted-quad IPv4 literal, or an IPv6 literal (no zone); never resolves a name. */
    static boolean isIpLiteral(String text) {
        if (text.indexOf(':') >= 0) {
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                boolean ok = c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                    || (c >= 'A' && c <= 'F');
                if (!ok) {
                    return false;
                }
            }
            try {
                InetAddress.ofLiteral(text);
                return true;
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            return false;
        }
        for (String part : parts) {
            if (part.isEmpty() || part.length() > 3) {
                return false;
            }
            for (int i = 0; i < part.length(); i++) {
                if (part.charAt(i) < '0' || part.charAt(i) > '9') {
                    return false;
                }
            }
            if (Integer.parseInt(part) > 255) {
                return false;
            }
        }
        return true;
    }

    /** Describes a JSON value for an error message: strings quoted and shortened, containers by kind. */
    static String describe(@Nullable JsonNode node) {
        if (node == null || node.isMissingNode()) {
            return "nothing";
        }
        if (node.isTextual()) {
            return quote(node.textValue());
        }
        if (node.isObject()) {
            return "an object";
        }
        if (node.isArray()) {
            return "an array";
        }
        return node.toString();
    }

    /** Quotes a text for a message, shortening it so one bad value cannot flood the log. */
    static String quote(String text) {
        String shown = text.length() > MAX_VALUE_CHARS ? text.substring(0, MAX_VALUE_CHARS) + "..." : text;
        StringBuilder out = new StringBuilder(shown.length() + 2).append('"');
        for (int i = 0; i < shown.length(); i++) {
            char c = shown.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
