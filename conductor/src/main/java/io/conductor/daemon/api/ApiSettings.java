package io.conductor.daemon.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The API's settings from the configuration file's optional {@code api} block, over the defaults:
 * {@code max_body_bytes} (16 MiB), {@code memory_budget_bytes} (a quarter of the heap: all requests in flight
 * together), {@code request_memory_bytes} (the same: one request), {@code allow_wildcard_bind} (false) and
 * {@code endpoint_allowlist} (empty: any host). See {@code docs/configuration.md}. Immutable and thread-safe.
 *
 * @param limits request limits and the admin key
 * @param budget the request memory budget
 * @param endpoints which endpoints registrations may name
 */
public record ApiSettings(ApiLimits limits, MemoryBudget budget, EndpointPolicy endpoints) {
    private static final Set<String> KEYS = Set.of("max_body_bytes", "memory_budget_bytes", "request_memory_bytes",
            "allow_wildcard_bind", "endpoint_allowlist");

    /**
     * Reads the {@code api} block.
     *
     * @param api the raw block, or {@code null} for the defaults
     * @param base the limits to start from (the admin key comes from the environment)
     * @param maxHeapBytes the heap limit the default budgets are sized from
     * @return the settings
     * @throws IllegalArgumentException naming the key when a value is invalid or a key is unknown
     */
    public static ApiSettings parse(@Nullable JsonNode api, ApiLimits base, long maxHeapBytes) {
        if (api != null && !api.isNull() && !api.isObject()) {
            throw new IllegalArgumentException("api: expected an object, got " + api.getNodeType());
        }
        if (api == null || api.isNull()) {
            long global = MemoryBudget.defaultGlobalBytes(maxHeapBytes);
            return new ApiSettings(base, new MemoryBudget(global, global), EndpointPolicy.defaults());
        }
        for (Iterator<String> it = api.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("api." + key + ": unknown key (expected one of " + KEYS + ")");
            }
        }
        long maxBody = positive(api, "max_body_bytes", base.maxBodyBytes());
        long global = positive(api, "memory_budget_bytes", MemoryBudget.defaultGlobalBytes(maxHeapBytes));
        long perRequest = positive(api, "request_memory_bytes", global);
        if (perRequest > global) {
            throw new IllegalArgumentException("api.request_memory_bytes: must be at most memory_budget_bytes ("
                    + global + "), got " + perRequest);
        }
        JsonNode wildcard = api.get("allow_wildcard_bind");
        if (wildcard != null && !wildcard.isBoolean()) {
            throw new IllegalArgumentException("api.allow_wildcard_bind: expected true or false, got " + wildcard);
        }
        List<String> allowlist = new ArrayList<>();
        JsonNode list = api.get("endpoint_allowlist");
        if (list != null && !list.isNull()) {
            if (!list.isArray()) {
                throw new IllegalArgumentException("api.endpoint_allowlist: expected an array of CIDR blocks and "
                        + "host patterns, got " + list);
            }
            for (JsonNode e : list) {
                if (!e.isTextual() || e.asText().isEmpty()) {
                    throw new IllegalArgumentException("api.endpoint_allowlist: entries must be non-empty strings, "
                            + "got " + e);
                }
                allowlist.add(e.asText());
            }
        }
        EndpointPolicy endpoints;
        try {
            endpoints = new EndpointPolicy(wildcard != null && wildcard.booleanValue(), allowlist);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("api.endpoint_allowlist: " + e.getMessage(), e);
        }
        ApiLimits limits = new ApiLimits(maxBody, base.maxTokens(), base.maxStringBytes(), base.adminApiKey());
        return new ApiSettings(limits, new MemoryBudget(global, perRequest), endpoints);
    }

    private static long positive(JsonNode api, String key, long defaultValue) {
        JsonNode n = api.get(key);
        if (n == null || n.isNull()) {
            return defaultValue;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() <= 0) {
            throw new IllegalArgumentException("api." + key + ": expected a positive integer (bytes), got " + n);
        }
        return n.longValue();
    }

    /**
     * Returns the start-up warning about exposure, or {@code null}: the API listens beyond loopback and
     * {@code /register} / {@code /unregister} need no key, so anyone who reaches the port can point the daemon at
     * any host.
     *
     * @param host the HTTP bind address
     * @param adminApiKey the admin key, or {@code null}
     * @return the warning's detail, or {@code null} when there is nothing to warn about
     */
    public static @Nullable String exposureWarning(String host, @Nullable String adminApiKey) {
        if (adminApiKey != null) {
            return null;
        }
        boolean loopback;
        try {
            loopback = InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException | SecurityException e) {
            loopback = false;
        }
        if (loopback) {
            return null;
        }
        return "the API listens on " + LogText.escape(host) + " (not loopback) and no admin key is set: anyone who "
                + "reaches the port can /register and /unregister; set " + ApiLimits.ADMIN_KEY_ENV
                + " or bind with --host 127.0.0.1";
    }
}
