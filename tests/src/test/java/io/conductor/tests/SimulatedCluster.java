package io.conductor.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.conductor.example.engine.BlockHashers;
import io.conductor.example.engine.EngineConfig;
import io.conductor.example.engine.SimulatedEngine;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * A conductor daemon process ({@code bin/mooncake_conductor}) fed by simulated vLLM engines running in this JVM,
 * each registered with the daemon over {@code /register} with the engine's real hash settings, on loopback
 * ephemeral ports. Helpers send completions to an engine (which publishes real KV events), query the daemon and
 * read its {@code /metrics}. Not thread-safe; one per test class. {@link #close} stops everything it started.
 */
final class SimulatedCluster implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String MODEL = "sim-qwen";
    static final int BLOCK_SIZE = 16;
    static final Duration DEADLINE = Duration.ofSeconds(60);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<SimulatedEngine> engines = new ArrayList<>();
    private final List<String> instanceIds = new ArrayList<>();
    private final DaemonProcess daemon;
    private final int port;

    private SimulatedCluster(DaemonProcess daemon, int port) {
        this.daemon = daemon;
        this.port = port;
    }

    /**
     * Starts the daemon and {@code engines} engines named {@code prefill-0 ...}, registered.
     *
     * @param logDir where the daemon writes its output and config
     * @param engineCount how many engines
     * @return the running cluster
     */
    static SimulatedCluster start(Path logDir, int engineCount) throws Exception {
        int port = DaemonProcess.freePort();
        Path config = logDir.resolve("conductor_config.json");
        Files.writeString(config, "{\"http_server_port\": " + port + ", \"kvevent_instance\": {}}\n");
        DaemonProcess daemon = DaemonProcess.start(logDir, "--config", config.toString(), "--port",
            Integer.toString(port), "--host", "127.0.0.1");
        SimulatedCluster cluster = new SimulatedCluster(daemon, port);
        try {
            daemon.awaitHealthy(port, Duration.ofSeconds(120));
            for (int i = 0; i < engineCount; i++) {
                cluster.addEngine("prefill-" + i);
            }
            return cluster;
        } catch (Exception | AssertionError e) {
            cluster.close();
            throw e;
        }
    }

    private void addEngine(String instanceId) throws Exception {
        EngineConfig config = EngineConfig.parse(new String[] {MODEL, "--host", "127.0.0.1", "--port", "0",
            "--block-size", Integer.toString(BLOCK_SIZE), "--prefix-caching-hash-algo", "sha256",
            "--sim-prefill-tokens-per-second", "1000000", "--kv-events-config",
            "{\"enable_kv_cache_events\": true, \"publisher\": \"zmq\", \"endpoint\": \"tcp://127.0.0.1:*\","
                + " \"replay_endpoint\": \"tcp://127.0.0.1:*\", \"topic\": \"kv-events\"}"},
            Map.of("PYTHONHASHSEED", "0"));
        SimulatedEngine engine = new SimulatedEngine(config, BlockHashers::forConfig);
        engines.add(engine);
        instanceIds.add(instanceId);
        HttpResponse<String> r = postJson("/register", registration(instanceId, engine).toString());
        if (r.statusCode() != 200) {
            throw new AssertionError("register " + instanceId + " -> " + r.statusCode() + " " + r.body());
        }
    }

    /** The registration body of an engine, as an operator would send it. */
    static ObjectNode registration(String instanceId, SimulatedEngine engine) {
        ObjectNode body = JSON.createObjectNode();
        body.put("endpoint", engine.ranks().getFirst().publisher().endpoint());
        body.put("replay_endpoint", engine.ranks().getFirst().publisher().replayEndpoint());
        body.put("type", "vLLM");
        body.put("modelname", MODEL);
        body.put("instance_id", instanceId);
        body.put("block_size", BLOCK_SIZE);
        body.put("dp_rank", 0);
        ObjectNode profile = body.putObject("hash_profile");
        profile.put("strategy", "vllm_v1");
        profile.put("algorithm", "sha256");
        profile.put("python_hash_seed", "0");
        profile.put("index_projection", "low64_be");
        return body;
    }

    int port() {
        return port;
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    DaemonProcess daemon() {
        return daemon;
    }

    List<String> instanceIds() {
        return List.copyOf(instanceIds);
    }

    SimulatedEngine engine(int i) {
        return engines.get(i);
    }

    /** Runs a one-token completion of a prompt on engine {@code i}: it caches the prompt's blocks and publishes. */
    void complete(int i, String prompt) throws Exception {
        ObjectNode body = JSON.createObjectNode().put("model", MODEL).put("prompt", prompt).put("max_tokens", 1);
        HttpResponse<String> r = send(URI.create("http://127.0.0.1:" + engines.get(i).port() + "/v1/completions"),
            body.toString());
        if (r.statusCode() != 200) {
            throw new AssertionError("completion -> " + r.statusCode() + " " + r.body());
        }
    }

    /** The engine's token ids of a prompt (every engine shares the word tokenizer). */
    int[] tokenize(String prompt) throws Exception {
        HttpResponse<String> r = send(URI.create("http://127.0.0.1:" + engines.getFirst().port() + "/tokenize"),
            JSON.createObjectNode().put("model", MODEL).put("prompt", prompt).toString());
        JsonNode tokens = JSON.readTree(r.body()).path("tokens");
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokens.get(i).asInt();
        }
        return ids;
    }

    /** A {@code /query} JSON body for the prompt's tokens. */
    ObjectNode queryBody(int[] tokens) {
        ObjectNode body = JSON.createObjectNode().put("model", MODEL).put("block_size", BLOCK_SIZE);
        ArrayNode t = body.putArray("token_ids");
        for (int id : tokens) {
            t.add(id);
        }
        return body;
    }

    /** POSTs JSON to the daemon. */
    HttpResponse<String> postJson(String path, String body) throws Exception {
        return send(URI.create("http://" + address() + path), body);
    }

    private HttpResponse<String> send(URI uri, String body) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20))
            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
            HttpResponse.BodyHandlers.ofString());
    }

    /** The GPU tokens the daemon reports for a prompt on an instance (0 when absent). */
    long gpuHit(String instanceId, int[] tokens) throws Exception {
        HttpResponse<String> r = postJson("/query", queryBody(tokens).toString());
        return JSON.readTree(r.body()).path("instances").path(instanceId).path("gpu").asLong(0);
    }

    /** The daemon's {@code /metrics} text. */
    String metrics() throws Exception {
        return DaemonProcess.get(port, "/metrics").body();
    }

    /**
     * The value of one sample of the daemon's exposition, by exact series text.
     *
     * @param series e.g. {@code conductor_query_tokens_total{model_name="sim-qwen"}}
     * @return the value, or NaN when absent
     */
    double metric(String series) throws Exception {
        for (String line : metrics().split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(series.length() + 1).trim());
            }
        }
        return Double.NaN;
    }

    /** Polls a condition until it holds or {@link #DEADLINE} passes; the failure carries the daemon's output. */
    void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + DEADLINE.toNanos();
        while (System.nanoTime() < end) {
            if (condition.getAsBoolean()) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("timed out waiting for " + what + "\n" + daemon.output());
    }

    @Override
    public void close() throws InterruptedException {
        for (SimulatedEngine e : engines) {
            try {
                e.close();
            } catch (RuntimeException ignored) {
                // closing the rest matters more
            }
        }
        daemon.close();
        http.close();
    }
}
