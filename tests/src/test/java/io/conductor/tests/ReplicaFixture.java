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
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.ZMQ;

/**
 * Helpers of the snapshot and replica tests: simulated vLLM engines on fixed loopback ports (so one can be
 * restarted in place, seq from 0 again), conductor configs subscribing to them with the engines' hash profile,
 * conductor daemons started and stopped as processes, and queries. Not thread-safe; one per test.
 */
final class ReplicaFixture implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String MODEL = "sim";
    static final Duration DEADLINE = Duration.ofSeconds(180);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<AutoCloseable> open = new ArrayList<>();
    final Path dir;

    ReplicaFixture() throws IOException {
        dir = Files.createTempDirectory("conductor-ha-");
    }

    /** An engine's identity and ports, so it can be started again on the same endpoints. */
    record EngineSpec(String instanceId, int pubPort, int replayPort) {
        String endpoint() {
            return "tcp://127.0.0.1:" + pubPort;
        }

        String replayEndpoint() {
            return "tcp://127.0.0.1:" + replayPort;
        }
    }

    static EngineSpec engineSpec(String instanceId) throws IOException {
        return new EngineSpec(instanceId, DaemonProcess.freePort(), DaemonProcess.freePort());
    }

    SimulatedEngine startEngine(EngineSpec spec) {
        return startEngine(spec, 100_000, 10_000);
    }

    /** An engine with {@code gpuBlocks} blocks and a replay ring of {@code ringBatches} batches. */
    SimulatedEngine startEngine(EngineSpec spec, int gpuBlocks, int ringBatches) {
        EngineConfig config = EngineConfig.parse(new String[] {MODEL, "--port", "0", "--block-size", "16",
            "--sim-prefill-tokens-per-second", "100000000", "--num-gpu-blocks-override", Integer.toString(gpuBlocks),
            "--kv-events-config", "{\"enable_kv_cache_events\": true, \"endpoint\": \"tcp://*:" + spec.pubPort()
                + "\", \"replay_endpoint\": \"tcp://*:" + spec.replayPort() + "\", \"topic\": \"kv-events\", "
                + "\"buffer_steps\": " + ringBatches + "}"},
            Map.of("PYTHONHASHSEED", "0"));
        SimulatedEngine e = new SimulatedEngine(config, BlockHashers::forConfig);
        open.add(e);
        return e;
    }

    /** A config subscribing to {@code engines} with the engines' hash profile, plus {@code extra} top-level keys. */
    Path config(String name, int port, List<EngineSpec> engines, String extra) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("http_server_port", port);
        ObjectNode entries = root.putObject("kvevent_instance");
        for (EngineSpec e : engines) {
            ObjectNode n = entries.putObject(e.instanceId());
            n.put("endpoint", e.endpoint());
            n.put("replay_endpoint", e.replayEndpoint());
            n.put("type", "vLLM");
            n.put("modelname", MODEL);
            n.put("block_size", 16);
            ObjectNode p = n.putObject("hash_profile");
            p.put("strategy", "vllm_v1");
            p.put("algorithm", "sha256");
            p.put("python_hash_seed", "0");
            p.put("index_projection", "low64_be");
        }
        String text = root.toString();
        if (!extra.isEmpty()) {
            text = text.substring(0, text.length() - 1) + "," + extra + "}";
        }
        Path file = dir.resolve(name + ".json");
        Files.writeString(file, text);
        return file;
    }

    DaemonProcess startDaemon(Path config, int port) throws IOException {
        DaemonProcess d = DaemonProcess.start(dir, "--config", config.toString(), "--port", Integer.toString(port),
            "--host", "127.0.0.1");
        open.add(d);
        return d;
    }

    /** Stops a daemon with SIGTERM and waits for exit status 0 (the shutdown snapshot is written by then). */
    static void stop(DaemonProcess d) throws InterruptedException {
        d.process().destroy();
        int status = d.awaitExit(Duration.ofSeconds(30));
        if (status != 0) {
            throw new AssertionError("daemon exited with " + status + ":\n" + d.output());
        }
    }

    void awaitReady(DaemonProcess d, int port) throws InterruptedException {
        d.awaitHealthy(port, DEADLINE);
        await("/ready on " + port + "\n" + d.output(), () -> status(port, "/ready") == 200);
    }

    /**
     * Waits until the daemon answers and its {@code snapshot-restore} readiness check passes (a restored stream has
     * resumed, or its resume gave up). For a start whose publishers are gone: {@code /ready} then stays 503, truthfully,
     * because a static subscription has never connected.
     */
    void awaitRestored(DaemonProcess d, int port) throws InterruptedException {
        d.awaitHealthy(port, DEADLINE);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        await("the snapshot-restore check on " + port + "\n" + d.output(), () -> {
            try {
                for (com.fasterxml.jackson.databind.JsonNode c : json.readTree(DaemonProcess.get(port, "/ready").body())
                        .path("checks")) {
                    if ("snapshot-restore".equals(c.path("name").asText())) {
                        return c.path("ready").asBoolean();
                    }
                }
                return false;
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        });
    }

    int status(int port, String path) {
        try {
            return DaemonProcess.get(port, path).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    String get(int port, String path) throws IOException, InterruptedException {
        HttpRequest r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .header("Accept", "application/json").timeout(Duration.ofSeconds(10)).build();
        return http.send(r, HttpResponse.BodyHandlers.ofString()).body();
    }

    HttpResponse<String> post(URI uri, String json) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
            .header("Accept", "application/json").timeout(Duration.ofSeconds(10))
            .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Sends a one-token completion to an engine, which stores the prompt's blocks and publishes them. */
    void store(SimulatedEngine engine, String prompt) throws IOException, InterruptedException {
        HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + engine.port() + "/v1/completions"),
            JSON.createObjectNode().put("model", MODEL).put("prompt", prompt).put("max_tokens", 1).toString());
        if (r.statusCode() != 200) {
            throw new AssertionError("completion -> " + r.statusCode() + " " + r.body());
        }
    }

    int[] tokenize(SimulatedEngine engine, String prompt) throws IOException, InterruptedException {
        HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + engine.port() + "/tokenize"),
            JSON.createObjectNode().put("model", MODEL).put("prompt", prompt).toString());
        JsonNode ids = JSON.readTree(r.body()).path("tokens");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i).asInt();
        }
        return out;
    }

    /** The conductor's GPU hit in tokens for a prompt on one instance; -1 when the query fails. */
    long gpuHit(int port, String instanceId, int[] tokens) {
        ObjectNode body = JSON.createObjectNode().put("model", MODEL).put("block_size", 16);
        ArrayNode t = body.putArray("token_ids");
        for (int id : tokens) {
            t.add(id);
        }
        try {
            HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + port + "/query"), body.toString());
            if (r.statusCode() != 200) {
                return -1;
            }
            return JSON.readTree(r.body()).path("instances").path(instanceId).path("gpu").asLong(0);
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** The stream states of {@code /services}, by instance id. */
    String serviceStates(int port) throws IOException, InterruptedException {
        StringBuilder sb = new StringBuilder();
        JsonNode root = JSON.readTree(get(port, "/services"));
        root.findValues("StreamState").forEach(v -> sb.append(v.asText()).append(' '));
        return sb.toString().trim() + " " + root;
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    static String prompt(String tag, int words) {
        return DemoFixture.uniquePrompt(tag, words);
    }

    @Override
    public void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                // keep closing the rest
            }
        }
        http.close();
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a leftover temp directory is harmless
        }
    }

    static void sleepMillis(long ms) throws InterruptedException {
        TimeUnit.MILLISECONDS.sleep(ms);
    }

    /**
     * The {@code longest_matched} of one instance for a JSON {@code /query} of the prompt, or -1 when the daemon
     * does not answer 200 (yet).
     */
    long longestMatched(int port, String instanceId, int[] tokens) {
        try {
            HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + port + "/query"),
                JSON.createObjectNode().put("model", MODEL).put("block_size", 16)
                    .set("token_ids", JSON.valueToTree(tokens)).toString());
            return r.statusCode() != 200 ? -1 : JSON.readTree(r.body()).path("instances")
                .path(instanceId).path("longest_matched").asLong(-1);
        } catch (Exception e) {
            return -1;
        }
    }

    /** Writes one msgpack event of a batch. */
    @FunctionalInterface
    interface EventWriter {
        void write(MessageBufferPacker p) throws Exception;
    }

    /** Publishes one vLLM batch (array envelope) with the given sequence number on a raw PUB/XPUB socket. */
    static void publishBatch(ZMQ.Socket pub, long seq, EventWriter... events) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(events.length);
        for (EventWriter e : events) {
            e.write(p);
        }
        p.packInt(0);
        pub.sendMore(new byte[0]);
        pub.sendMore(ByteBuffer.allocate(8).putLong(seq).array());
        pub.send(p.toByteArray());
    }
}
