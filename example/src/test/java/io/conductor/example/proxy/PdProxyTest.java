package io.conductor.example.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.example.engine.BlockHashers;
import io.conductor.example.engine.EngineConfig;
import io.conductor.example.engine.SimulatedEngine;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The proxy in front of real simulated engines, with the conductor absent, down or hung. */
class PdProxyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient client = HttpClient.newHttpClient();
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
    }

    private SimulatedEngine engine(String role) {
        EngineConfig config = EngineConfig.parse(new String[] {"sim-model", "--port", "0", "--block-size", "4",
            "--prefix-caching-hash-algo", "sha256_cbor", "--sim-prefill-tokens-per-second", "1000000",
            "--sim-decode-ms-per-token", "0", "--kv-transfer-config", "{\"kv_role\": \"" + role + "\"}"},
            Map.of("PYTHONHASHSEED", "0"));
        SimulatedEngine e = new SimulatedEngine(config, BlockHashers::forConfig);
        closeables.add(e);
        return e;
    }

    private PdProxy proxy(String... extra) {
        SimulatedEngine p0 = engine("kv_producer");
        SimulatedEngine p1 = engine("kv_producer");
        SimulatedEngine d0 = engine("kv_consumer");
        List<String> args = new ArrayList<>(List.of("--host", "127.0.0.1", "--port", "0",
            "--prefiller-hosts", "127.0.0.1", "--prefiller-ports", Integer.toString(p0.port()),
            Integer.toString(p1.port()), "--decoder-host", "127.0.0.1", "--decoder-port", Integer.toString(d0.port()),
            "--conductor-timeout-ms", "300"));
        args.addAll(List.of(extra));
        PdProxy proxy = new PdProxy(ProxyConfig.parse(args.toArray(String[]::new)));
        closeables.add(proxy);
        return proxy;
    }

    private HttpResponse<String> post(PdProxy proxy, String path, String body) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
            HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldPrefillThenStreamDecodeWhenNoConductorIsConfigured() throws Exception {
        PdProxy proxy = proxy();
        String body = "{\"model\": \"sim-model\", \"messages\": [{\"role\": \"user\", \"content\": \"tell me\"}],"
            + " \"max_tokens\": 5, \"stream\": true}";

        HttpResponse<String> r = post(proxy, "/v1/chat/completions", body);

        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        assertTrue(r.body().trim().endsWith("data: [DONE]"), r.body());
        assertEquals(1 + 5 + 1, r.body().lines().filter(l -> l.startsWith("data: ")).count());
        assertEquals("fallback_no_conductor", r.headers().firstValue("X-Conductor-Route-Reason").orElseThrow());
    }

    @Test
    void shouldAlternatePrefillInstancesAndReportCachedTokensWhenRoundRobin() throws Exception {
        PdProxy proxy = proxy("--policy", "round_robin");
        String body = "{\"model\": \"sim-model\", \"prompt\": \"a b c d e f g h i j\", \"max_tokens\": 3}";

        List<HttpResponse<String>> rs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            rs.add(post(proxy, "/v1/completions", body));
        }

        assertEquals(rs.get(0).headers().firstValue("X-Conductor-Prefill-Instance"),
            rs.get(2).headers().firstValue("X-Conductor-Prefill-Instance"));
        assertTrue(!rs.get(0).headers().firstValue("X-Conductor-Prefill-Instance").equals(
            rs.get(1).headers().firstValue("X-Conductor-Prefill-Instance")));
        assertEquals("0", rs.get(0).headers().firstValue("X-Conductor-Cached-Tokens").orElseThrow());
        assertEquals("8", rs.get(2).headers().firstValue("X-Conductor-Cached-Tokens").orElseThrow());
        JsonNode answer = JSON.readTree(rs.get(3).body());
        assertEquals(3, answer.at("/usage/completion_tokens").asInt());
        assertEquals("text_completion", answer.path("object").asText());
    }

    @Test
    void shouldFallBackToRoundRobinAndKeepServingWhenConductorIsDown() throws Exception {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0)) {
            deadPort = s.getLocalPort();
        }
        PdProxy proxy = proxy("--conductor-address", "127.0.0.1:" + deadPort);

        HttpResponse<String> r = post(proxy, "/v1/completions",
            "{\"model\": \"sim-model\", \"prompt\": \"hello there\", \"max_tokens\": 2}");

        assertEquals(200, r.statusCode(), r.body());
        assertEquals("fallback_unreachable", r.headers().firstValue("X-Conductor-Route-Reason").orElseThrow());
        assertEquals(Map.of("unreachable", 1L), proxy.fallbacks());
    }

    @Test
    void shouldFallBackWithinTheTimeoutWhenConductorHangs() throws Exception {
        // A conductor that accepts connections and never answers.
        ServerSocket hung = new ServerSocket(0);
        closeables.add(hung);
        List<Socket> accepted = new ArrayList<>();
        Thread acceptor = Thread.ofVirtual().start(() -> {
            try {
                while (true) {
                    accepted.add(hung.accept());
                }
            } catch (java.io.IOException e) {
                // closed at the end of the test
            }
        });
        PdProxy proxy = proxy("--conductor-address", "127.0.0.1:" + hung.getLocalPort());

        long start = System.nanoTime();
        HttpResponse<String> r = post(proxy, "/v1/completions",
            "{\"model\": \"sim-model\", \"prompt\": \"hello there\", \"max_tokens\": 2}");
        long millis = (System.nanoTime() - start) / 1_000_000;

        assertEquals(200, r.statusCode(), r.body());
        assertEquals("fallback_timeout", r.headers().firstValue("X-Conductor-Route-Reason").orElseThrow());
        assertTrue(millis < 10_000, "took " + millis + " ms");
        hung.close();
        acceptor.join(5_000);
        for (Socket s : accepted) {
            s.close();
        }
    }

    @Test
    void shouldAcceptSeedFlagsAndJsonConfig() throws Exception {
        java.nio.file.Path file = java.nio.file.Files.createTempFile("proxy", ".json");
        java.nio.file.Files.writeString(file, "{\"port\": 9100, \"block_size\": 32, \"policy\": \"round_robin\","
            + " \"conductor\": {\"address\": \"10.0.0.1:13333\", \"timeout_ms\": 50},"
            + " \"prefill\": [{\"url\": \"http://10.0.0.2:8010\", \"instance_id\": \"prefill-a\", \"dp_size\": 2}],"
            + " \"decode\": [{\"url\": \"http://10.0.0.3:8020\"}]}");

        ProxyConfig seed = ProxyConfig.parse(new String[] {"--prefiller-hosts", "155.55.55.55", "--prefiller-ports",
            "5555", "--decoder-host", "166.66.66.66", "--decoder-ports", "6666", "--conductor-address",
            "133.33.33.33:3333"});
        ProxyConfig json = ProxyConfig.parse(new String[] {"--config", file.toString(), "--port", "9200"});
        java.nio.file.Files.delete(file);

        assertEquals("155.55.55.55:5555", seed.prefill().getFirst().instanceId());
        assertEquals(URI.create("http://166.66.66.66:6666"), seed.decode().getFirst().url());
        assertEquals(URI.create("http://133.33.33.33:3333"), seed.conductorUrl());
        assertEquals(8000, seed.port());
        assertEquals(9200, json.port());
        assertEquals("prefill-a", json.prefill().getFirst().instanceId());
        assertEquals(2, json.prefill().getFirst().dpSize());
        assertEquals(32, json.blockSize());
        assertEquals(50, json.conductorTimeout().toMillis());
        assertEquals(ProxyConfig.RoutingPolicy.ROUND_ROBIN, json.policy());
    }
}
