package io.conductor.example.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Option;

/**
 * Settings of the cache-aware P/D proxy, from the seed proxy's flags ({@code --prefiller-hosts --prefiller-ports
 * --decoder-hosts --decoder-ports --conductor-address --port}) and/or a JSON file ({@code --config}); flags win.
 * Immutable and thread-safe.
 *
 * @param host bind address
 * @param port listen port ({@code 0} = ephemeral)
 * @param prefill prefill instances (conductor instance ids and URLs)
 * @param decode decode instances
 * @param conductorUrl conductor base URL, or {@code null} to always use round robin
 * @param conductorTimeout per-call timeout for the conductor; slower answers fall back to round robin
 * @param model model name used for conductor queries, or {@code null} to use each request's {@code model}
 * @param blockSize block size the engines were registered with
 * @param tenantId tenant for conductor queries
 * @param policy default routing policy
 */
public record ProxyConfig(String host, int port, List<Instance> prefill, List<Instance> decode,
                          @Nullable URI conductorUrl, Duration conductorTimeout, @Nullable String model,
                          int blockSize, String tenantId, RoutingPolicy policy) {

    /**
     * One engine the proxy talks to.
     *
     * @param instanceId the id it is registered under at the conductor
     * @param url its HTTP base URL, e.g. {@code http://10.0.0.2:8010}
     * @param dpSize number of DP ranks behind that URL
     */
    public record Instance(String instanceId, URI url, int dpSize) {
    }

    /** How the proxy picks a prefill instance. */
    public enum RoutingPolicy {
        /** Ask the conductor's {@code /route}; round robin when it cannot answer. */
        CACHE_AWARE,
        /** Plain round robin. */
        ROUND_ROBIN;

        /**
         * Parses {@code cache_aware} or {@code round_robin}.
         *
         * @param text the policy name
         * @return the policy
         * @throws IllegalArgumentException for another name
         */
        public static RoutingPolicy parse(String text) {
            return switch (text.toLowerCase(java.util.Locale.ROOT).replace('-', '_')) {
                case "cache_aware", "cacheaware", "kv_aware" -> CACHE_AWARE;
                case "round_robin", "roundrobin", "rr" -> ROUND_ROBIN;
                default -> throw new IllegalArgumentException("policy must be cache_aware or round_robin, was "
                    + text);
            };
        }
    }

    /**
     * The command line of {@code mooncake_conductor proxy}, parsed by picocli (the seeds' singular spellings, e.g.
     * {@code --decoder-host}, are aliases); values stay text and are checked by {@link #parse(Flags)} with messages
     * that name the flag. Mutable; one per parse.
     */
    public static final class Flags {
        @Option(names = {"--prefiller-hosts", "--prefiller-host"}, arity = "1..*", paramLabel = "H",
            description = "prefill hosts (one host is reused for every port)")
        @Nullable List<String> prefillerHosts;
        @Option(names = {"--prefiller-ports", "--prefiller-port"}, arity = "1..*", paramLabel = "P",
            description = "prefill HTTP ports")
        @Nullable List<String> prefillerPorts;
        @Option(names = {"--decoder-hosts", "--decoder-host"}, arity = "1..*", paramLabel = "H",
            description = "decode hosts")
        @Nullable List<String> decoderHosts;
        @Option(names = {"--decoder-ports", "--decoder-port"}, arity = "1..*", paramLabel = "P",
            description = "decode HTTP ports")
        @Nullable List<String> decoderPorts;
        @Option(names = "--prefill", arity = "1..*", paramLabel = "URL",
            description = "prefill base URLs (alternative to hosts/ports)")
        @Nullable List<String> prefill;
        @Option(names = "--decode", arity = "1..*", paramLabel = "URL", description = "decode base URLs")
        @Nullable List<String> decode;
        @Option(names = "--conductor-address", paramLabel = "HOST:PORT",
            description = "the conductor; omit for round robin only")
        @Nullable String conductorAddress;
        @Option(names = "--conductor-timeout-ms", paramLabel = "N",
            description = "per-call conductor timeout (default 200)")
        @Nullable String conductorTimeoutMs;
        @Option(names = "--host", paramLabel = "ADDR", description = "bind address (default 0.0.0.0)")
        @Nullable String host;
        @Option(names = "--port", paramLabel = "N", description = "listen port (default 8000; 0 = ephemeral)")
        @Nullable String port;
        @Option(names = "--model", paramLabel = "NAME",
            description = "model name for conductor queries (default: each request's model)")
        @Nullable String model;
        @Option(names = "--block-size", paramLabel = "N",
            description = "block size the engines were registered with (default 16)")
        @Nullable String blockSize;
        @Option(names = "--tenant-id", paramLabel = "T", description = "tenant for conductor queries (default "
            + "\"default\")")
        @Nullable String tenantId;
        @Option(names = "--policy", paramLabel = "cache_aware|round_robin",
            description = "default routing policy (per request: header X-Routing-Policy)")
        @Nullable String policy;
        @Option(names = "--config", paramLabel = "FILE", description = "JSON config (see docs/example.md); flags "
            + "override it")
        @Nullable String config;

        /** The flags given, by their canonical name, as the validation below reads them. */
        Map<String, List<String>> byName() {
            Map<String, List<String>> m = new LinkedHashMap<>();
            putAll(m, "--prefiller-hosts", prefillerHosts);
            putAll(m, "--prefiller-ports", prefillerPorts);
            putAll(m, "--decoder-hosts", decoderHosts);
            putAll(m, "--decoder-ports", decoderPorts);
            putAll(m, "--prefill", prefill);
            putAll(m, "--decode", decode);
            put(m, "--conductor-address", conductorAddress);
            put(m, "--conductor-timeout-ms", conductorTimeoutMs);
            put(m, "--host", host);
            put(m, "--port", port);
            put(m, "--model", model);
            put(m, "--block-size", blockSize);
            put(m, "--tenant-id", tenantId);
            put(m, "--policy", policy);
            put(m, "--config", config);
            return m;
        }

        private static void put(Map<String, List<String>> m, String name, @Nullable String value) {
            if (value != null) {
                m.put(name, List.of(value));
            }
        }

        private static void putAll(Map<String, List<String>> m, String name, @Nullable List<String> values) {
            if (values != null) {
                m.put(name, values);
            }
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Parses flags (and the JSON file they name).
     *
     * @param args command-line flags
     * @return the configuration
     * @throws IllegalArgumentException naming the bad flag or value
     */
    public static ProxyConfig parse(String[] args) {
        Flags parsed = new Flags();
        io.conductor.example.CommandLines.parse(parsed, args);
        return parse(parsed);
    }

    /**
     * Checks parsed flags (and the JSON file they name) and builds the configuration.
     *
     * @param parsed the command line
     * @return the configuration
     * @throws IllegalArgumentException naming the bad flag or value
     */
    public static ProxyConfig parse(Flags parsed) {
        Map<String, List<String>> flags = parsed.byName();
        JsonNode file = JSON.createObjectNode();
        if (flags.containsKey("--config")) {
            Path path = Path.of(single(flags, "--config"));
            try {
                file = JSON.readTree(Files.readString(path));
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read --config " + path + ": " + e.getMessage(), e);
            }
            if (file == null || !file.isObject()) {
                throw new IllegalArgumentException("--config " + path + " must hold a JSON object");
            }
        }
        String host = flags.containsKey("--host") ? single(flags, "--host") : file.path("host").asText("0.0.0.0");
        int port = flags.containsKey("--port") ? integer(flags, "--port") : file.path("port").asInt(8000);
        List<Instance> prefill = instances(flags, file, "prefill", "--prefiller-hosts", "--prefiller-ports");
        List<Instance> decode = instances(flags, file, "decode", "--decoder-hosts", "--decoder-ports");
        if (prefill.isEmpty() || decode.isEmpty()) {
            throw new IllegalArgumentException("at least one prefill and one decode instance are required");
        }
        String conductor = flags.containsKey("--conductor-address") ? single(flags, "--conductor-address")
            : file.path("conductor").path("address").asText("");
        long timeoutMs = flags.containsKey("--conductor-timeout-ms") ? integer(flags, "--conductor-timeout-ms")
            : file.path("conductor").path("timeout_ms").asLong(200);
        if (timeoutMs <= 0) {
            throw new IllegalArgumentException("--conductor-timeout-ms must be > 0, was " + timeoutMs);
        }
        String model = flags.containsKey("--model") ? single(flags, "--model")
            : file.hasNonNull("model") ? file.get("model").asText() : null;
        int blockSize = flags.containsKey("--block-size") ? integer(flags, "--block-size")
            : file.path("block_size").asInt(16);
        if (blockSize <= 0) {
            throw new IllegalArgumentException("--block-size must be > 0, was " + blockSize);
        }
        String tenant = flags.containsKey("--tenant-id") ? single(flags, "--tenant-id")
            : file.path("tenant_id").asText("default");
        RoutingPolicy policy = RoutingPolicy.parse(flags.containsKey("--policy") ? single(flags, "--policy")
            : file.path("policy").asText("cache_aware"));
        return new ProxyConfig(host, port, prefill, decode, conductor.isEmpty() ? null : baseUrl(conductor),
            Duration.ofMillis(timeoutMs), model, blockSize, tenant, policy);
    }

    private static List<Instance> instances(Map<String, List<String>> flags, JsonNode file, String kind,
                                            String hostsFlag, String portsFlag) {
        List<Instance> out = new ArrayList<>();
        String urlFlag = "--" + kind;
        if (flags.containsKey(hostsFlag) || flags.containsKey(portsFlag)) {
            List<String> hosts = flags.getOrDefault(hostsFlag, List.of("127.0.0.1"));
            List<String> ports = flags.getOrDefault(portsFlag, List.of());
            if (ports.isEmpty() || hosts.isEmpty()) {
                throw new IllegalArgumentException(portsFlag + " and " + hostsFlag + " need values");
            }
            if (hosts.size() != 1 && hosts.size() != ports.size()) {
                throw new IllegalArgumentException(hostsFlag + " has " + hosts.size() + " values but " + portsFlag
                    + " has " + ports.size());
            }
            for (int i = 0; i < ports.size(); i++) {
                String h = hosts.size() == 1 ? hosts.getFirst() : hosts.get(i);
                String p = ports.get(i);
                try {
                    Integer.parseInt(p);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(portsFlag + " value is not a port: " + p, e);
                }
                out.add(new Instance(h + ":" + p, baseUrl(h + ":" + p), 1));
            }
        } else if (flags.containsKey(urlFlag)) {
            for (String u : flags.get(urlFlag)) {
                URI uri = baseUrl(u);
                out.add(new Instance(uri.getHost() + ":" + uri.getPort(), uri, 1));
            }
        } else {
            for (JsonNode n : file.path(kind)) {
                String url = n.path("url").asText("");
                if (url.isEmpty()) {
                    throw new IllegalArgumentException("config " + kind + " entry without url: " + n);
                }
                URI uri = baseUrl(url);
                out.add(new Instance(n.path("instance_id").asText(uri.getHost() + ":" + uri.getPort()), uri,
                    n.path("dp_size").asInt(1)));
            }
        }
        return List.copyOf(out);
    }

    /**
     * Turns {@code host:port} or a URL into an {@code http://host:port} base URL without trailing slash.
     *
     * @param address {@code host:port}, {@code http://host:port} or {@code https://...}
     * @return the base URL
     */
    public static URI baseUrl(String address) {
        String a = address.contains("://") ? address : "http://" + address;
        while (a.endsWith("/")) {
            a = a.substring(0, a.length() - 1);
        }
        URI uri;
        try {
            uri = URI.create(a);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a host:port or URL: " + address, e);
        }
        if (uri.getHost() == null || uri.getPort() < 0) {
            throw new IllegalArgumentException("address needs a host and a port: " + address);
        }
        return uri;
    }

    private static String single(Map<String, List<String>> flags, String name) {
        List<String> v = flags.get(name);
        if (v == null || v.size() != 1) {
            throw new IllegalArgumentException(name + " takes exactly one value, got " + v);
        }
        return v.getFirst();
    }

    private static int integer(Map<String, List<String>> flags, String name) {
        String v = single(flags, name);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be an integer, was " + v, e);
        }
    }
}
