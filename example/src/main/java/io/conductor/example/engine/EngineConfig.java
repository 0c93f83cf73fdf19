package io.conductor.example.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Settings of one simulated engine, parsed from {@code vllm serve}-style flags so that the seeds' commands run with
 * {@code vllm serve MODEL} replaced by {@code mooncake_conductor engine MODEL}. vLLM flags that do not matter to a
 * simulation ({@code --enforce-eager}, {@code --gpu-memory-utilization 0.8}, ...) are accepted and ignored.
 * Immutable and thread-safe.
 *
 * @param host HTTP bind address
 * @param port HTTP port ({@code 0} = ephemeral)
 * @param model served model name
 * @param blockSize tokens per KV block (also the hash block size)
 * @param numBlocks blocks in each rank's pool ({@code --num-gpu-blocks-override})
 * @param hashAlgorithm {@code --prefix-caching-hash-algo}: {@code sha256} or {@code sha256_cbor}
 * @param hashSeed {@code PYTHONHASHSEED} text ({@code vllm-none-hash} when unset, as vLLM does since 2026-08)
 * @param dataParallelSize number of DP ranks
 * @param loraModules LoRA adapter names in id order (id = position + 1)
 * @param eventsEnabled whether KV events are published
 * @param eventsEndpoint PUB endpoint of rank 0 ({@code tcp://host:*} = ephemeral per rank)
 * @param replayEndpoint ROUTER endpoint of rank 0, or {@code null}
 * @param topic topic frame
 * @param bufferSteps replay ring size in batches
 * @param eventEncoding map (current vLLM) or array (vLLM up to v0.22)
 * @param kvRole {@code kv_producer}, {@code kv_consumer} or {@code kv_both} (informational)
 * @param prefillTokensPerSecond simulated prefill speed
 * @param decodeMillisPerToken simulated time per generated token
 * @param kvTransferTokensPerSecond simulated KV pull speed of a decode instance
 * @param maxModelLen longest accepted prompt plus output
 * @param ignoredFlags vLLM flags that were accepted without effect (printed at startup)
 */
public record EngineConfig(String host, int port, String model, int blockSize, int numBlocks, String hashAlgorithm,
                           String hashSeed, int dataParallelSize, List<String> loraModules, boolean eventsEnabled,
                           String eventsEndpoint, @Nullable String replayEndpoint, String topic, int bufferSteps,
                           EventEncoding eventEncoding, String kvRole, double prefillTokensPerSecond,
                           double decodeMillisPerToken, double kvTransferTokensPerSecond, int maxModelLen,
                           List<String> ignoredFlags) {

    /**
     * The command line of {@code mooncake_conductor engine}, {@code vllm serve}-style (both {@code --block-size}
     * and {@code --block_size} spellings), parsed by picocli; values stay text and are checked by
     * {@link #parse(Flags, Map)} with messages that name the flag. Mutable; one per parse.
     */
    public static final class Flags {
        @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "model name (vllm serve MODEL)")
        @Nullable String model;
        @Option(names = "--host", paramLabel = "ADDR", description = "HTTP bind address (default 127.0.0.1)")
        @Nullable String host;
        @Option(names = "--port", paramLabel = "N", description = "HTTP port (default 8000; 0 = ephemeral)")
        @Nullable String port;
        @Option(names = {"--served-model-name", "--served_model_name"}, paramLabel = "NAME",
            description = "model name (default: MODEL or \"sim-model\")")
        @Nullable String servedModelName;
        @Option(names = "--model", paramLabel = "NAME", description = "model name when MODEL is not given")
        @Nullable String modelFlag;
        @Option(names = {"--block-size", "--block_size"}, paramLabel = "N",
            description = "tokens per KV block (default 16)")
        @Nullable String blockSize;
        @Option(names = {"--num-gpu-blocks-override", "--num_gpu_blocks_override"}, paramLabel = "N",
            description = "blocks per DP rank's pool (default 2048)")
        @Nullable String numGpuBlocks;
        @Option(names = {"--prefix-caching-hash-algo", "--prefix_caching_hash_algo"}, paramLabel = "A",
            description = "sha256 | sha256_cbor (default sha256)")
        @Nullable String hashAlgo;
        @Option(names = {"--data-parallel-size", "--data_parallel_size"}, paramLabel = "N",
            description = "DP ranks; rank r publishes on port+r (default 1)")
        @Nullable String dataParallelSize;
        @Option(names = {"--lora-modules", "--lora_modules"}, arity = "1..*", paramLabel = "NAME[=PATH]",
            description = "LoRA adapters; a request whose model is NAME uses it")
        @Nullable List<String> loraModules;
        @Option(names = {"--kv-events-config", "--kv_events_config"}, paramLabel = "JSON",
            description = "vLLM's: {\"enable_kv_cache_events\", \"publisher\", \"endpoint\", \"replay_endpoint\", "
                + "\"topic\", \"buffer_steps\"}; port * = ephemeral")
        @Nullable String kvEventsConfig;
        @Option(names = {"--kv-transfer-config", "--kv_transfer_config"}, paramLabel = "JSON",
            description = "vLLM's; kv_role is reported, transfers are simulated")
        @Nullable String kvTransferConfig;
        @Option(names = "--sim-event-encoding", paramLabel = "map|array",
            description = "current map events (default) or legacy array events")
        @Nullable String eventEncoding;
        @Option(names = "--sim-prefill-tokens-per-second", paramLabel = "R", description = "(default 20000)")
        @Nullable String prefillRate;
        @Option(names = "--sim-decode-ms-per-token", paramLabel = "MS", description = "(default 2)")
        @Nullable String decodeMs;
        @Option(names = "--sim-kv-transfer-tokens-per-second", paramLabel = "R", description = "(default 200000)")
        @Nullable String transferRate;
        @Option(names = {"--max-model-len", "--max_model_len"}, paramLabel = "N", description = "(default 32768)")
        @Nullable String maxModelLen;
        @Option(names = {"--enforce-eager", "--trust-remote-code", "--enable-prefix-caching",
            "--disable-log-requests"}, description = "vLLM switches accepted and without effect in a simulation")
        boolean @Nullable [] ignoredSwitches;
        @Option(names = {"--gpu-memory-utilization", "--tensor-parallel-size", "--max-num-seqs", "--dtype",
            "--seed"}, paramLabel = "V", description = "vLLM options accepted and without effect in a simulation")
        @Nullable List<String> ignoredValues;

        /** The flags given, by their canonical name, as the validation below reads them. */
        Map<String, List<String>> byName() {
            Map<String, List<String>> m = new LinkedHashMap<>();
            put(m, "--host", host);
            put(m, "--port", port);
            put(m, "--served-model-name", servedModelName);
            put(m, "--model", modelFlag);
            put(m, "--block-size", blockSize);
            put(m, "--num-gpu-blocks-override", numGpuBlocks);
            put(m, "--prefix-caching-hash-algo", hashAlgo);
            put(m, "--data-parallel-size", dataParallelSize);
            if (loraModules != null) {
                m.put("--lora-modules", loraModules);
            }
            put(m, "--kv-events-config", kvEventsConfig);
            put(m, "--kv-transfer-config", kvTransferConfig);
            put(m, "--sim-event-encoding", eventEncoding);
            put(m, "--sim-prefill-tokens-per-second", prefillRate);
            put(m, "--sim-decode-ms-per-token", decodeMs);
            put(m, "--sim-kv-transfer-tokens-per-second", transferRate);
            put(m, "--max-model-len", maxModelLen);
            return m;
        }

        private static void put(Map<String, List<String>> m, String name, @Nullable String value) {
            if (value != null) {
                m.put(name, List.of(value));
            }
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Parses command-line flags.
     *
     * @param args flags (a leading non-flag argument is the model)
     * @param env environment (for {@code PYTHONHASHSEED})
     * @return the configuration
     * @throws IllegalArgumentException with a message naming the bad flag or value
     */
    public static EngineConfig parse(String[] args, Map<String, String> env) {
        Flags parsed = new Flags();
        io.conductor.example.CommandLines.parse(parsed, args);
        return parse(parsed, env);
    }

    /**
     * Checks parsed flags and builds the configuration.
     *
     * @param parsed the command line
     * @param env environment (for {@code PYTHONHASHSEED})
     * @return the configuration
     * @throws IllegalArgumentException with a message naming the bad flag or value
     */
    public static EngineConfig parse(Flags parsed, Map<String, String> env) {
        Map<String, List<String>> flags = parsed.byName();
        String model = parsed.model;
        List<String> ignored = new ArrayList<>();
        if (parsed.ignoredSwitches != null) {
            ignored.add(parsed.ignoredSwitches.length + " vLLM switch(es) without effect");
        }
        if (parsed.ignoredValues != null) {
            ignored.add(parsed.ignoredValues.size() + " vLLM option(s) without effect");
        }
        String host = single(flags, "--host", "127.0.0.1");
        int port = intFlag(flags, "--port", 8000);
        String served = single(flags, "--served-model-name", model != null ? model : "sim-model");
        if (flags.containsKey("--model")) {
            served = flags.containsKey("--served-model-name") ? served : single(flags, "--model", served);
        }
        int blockSize = intFlag(flags, "--block-size", 16);
        int numBlocks = intFlag(flags, "--num-gpu-blocks-override", 2048);
        String algo = single(flags, "--prefix-caching-hash-algo", "sha256");
        if (!algo.equals("sha256") && !algo.equals("sha256_cbor")) {
            throw new IllegalArgumentException("--prefix-caching-hash-algo must be sha256 or sha256_cbor, was "
                + algo);
        }
        String seed = env.getOrDefault("PYTHONHASHSEED", "");
        if (seed.isEmpty()) {
            seed = "vllm-none-hash";
        }
        int dp = intFlag(flags, "--data-parallel-size", 1);
        List<String> loras = new ArrayList<>();
        for (String m : flags.getOrDefault("--lora-modules", List.of())) {
            int e = m.indexOf('=');
            loras.add(e > 0 ? m.substring(0, e) : m);
        }
        boolean eventsEnabled = false;
        String endpoint = "tcp://*:5557";
        String replay = null;
        String topic = "";
        int bufferSteps = 10_000;
        if (flags.containsKey("--kv-events-config")) {
            JsonNode ev = json(flags, "--kv-events-config");
            eventsEnabled = ev.path("enable_kv_cache_events").asBoolean(false);
            String publisher = ev.path("publisher").asText(eventsEnabled ? "zmq" : "null");
            if (eventsEnabled && !publisher.equals("zmq")) {
                throw new IllegalArgumentException("--kv-events-config publisher must be zmq, was " + publisher);
            }
            endpoint = ev.path("endpoint").asText(endpoint);
            JsonNode r = ev.get("replay_endpoint");
            replay = r == null || r.isNull() || r.asText().isEmpty() ? null : r.asText();
            topic = ev.path("topic").asText("");
            bufferSteps = ev.path("buffer_steps").asInt(bufferSteps);
        }
        String role = "kv_both";
        if (flags.containsKey("--kv-transfer-config")) {
            role = json(flags, "--kv-transfer-config").path("kv_role").asText(role);
        }
        String enc = single(flags, "--sim-event-encoding", "map");
        EventEncoding encoding = switch (enc) {
            case "map" -> EventEncoding.MAP;
            case "array" -> EventEncoding.ARRAY;
            default -> throw new IllegalArgumentException("--sim-event-encoding must be map or array, was " + enc);
        };
        double prefillRate = doubleFlag(flags, "--sim-prefill-tokens-per-second", 20_000);
        double decodeMs = doubleFlag(flags, "--sim-decode-ms-per-token", 2);
        double transferRate = doubleFlag(flags, "--sim-kv-transfer-tokens-per-second", 200_000);
        int maxModelLen = intFlag(flags, "--max-model-len", 32_768);
        if (blockSize <= 0 || numBlocks <= 0 || dp <= 0 || bufferSteps <= 0 || prefillRate <= 0
            || transferRate <= 0 || decodeMs < 0) {
            throw new IllegalArgumentException("block size, blocks, DP size, buffer steps and rates must be > 0");
        }
        return new EngineConfig(host, port, served, blockSize, numBlocks, algo, seed, dp, List.copyOf(loras),
            eventsEnabled, endpoint, replay, topic, bufferSteps, encoding, role, prefillRate, decodeMs,
            transferRate, maxModelLen, List.copyOf(ignored));
    }

    /**
     * Returns the PUB or ROUTER endpoint of a DP rank: for {@code tcp} endpoints the port after the last colon
     * grows by the rank ({@code events.md} section 1.4); a {@code *} port stays ephemeral.
     *
     * @param endpoint rank 0's endpoint
     * @param rank the DP rank
     * @return the rank's endpoint
     */
    public static String rankEndpoint(String endpoint, int rank) {
        if (rank == 0) {
            return endpoint;
        }
        if (!endpoint.contains("tcp")) {
            throw new IllegalArgumentException("DP rank " + rank + " needs a tcp endpoint, got " + endpoint);
        }
        int colon = endpoint.lastIndexOf(':');
        String port = endpoint.substring(colon + 1);
        if (port.equals("*") || port.equals("0")) {
            return endpoint;
        }
        return endpoint.substring(0, colon + 1) + (Integer.parseInt(port) + rank);
    }

    private static JsonNode json(Map<String, List<String>> flags, String name) {
        String text = single(flags, name, "{}");
        try {
            JsonNode n = JSON.readTree(text);
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException(name + " must be a JSON object, was " + text);
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(name + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static String single(Map<String, List<String>> flags, String name, String dflt) {
        List<String> v = flags.get(name);
        if (v == null) {
            return dflt;
        }
        if (v.size() != 1) {
            throw new IllegalArgumentException(name + " takes one value, got " + v);
        }
        return v.getFirst();
    }

    private static int intFlag(Map<String, List<String>> flags, String name, int dflt) {
        String v = single(flags, name, Integer.toString(dflt));
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be an integer, was " + v, e);
        }
    }

    private static double doubleFlag(Map<String, List<String>> flags, String name, double dflt) {
        String v = single(flags, name, Double.toString(dflt));
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a number, was " + v, e);
        }
    }
}
