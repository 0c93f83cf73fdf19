package io.conductor.daemon.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.daemon.Daemon;
import io.conductor.daemon.DaemonSettings;
import io.conductor.daemon.api.ApiLimits;
import io.conductor.daemon.config.ConductorConfig;
import io.conductor.daemon.config.ConfigLoader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/** The API installed in the real daemon shell, with static subscriptions from a real config file text. */
class ConductorApiExtensionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONFIG = """
            {"http_server_port": 0, "index": {"max_bytes": 33554432},
             "kvevent_instance": {
               "prefill-0-rank0": {"type": "vLLM", "endpoint": "tcp://127.0.0.1:47001", "replay_endpoint": "",
                 "modelname": "qwen", "instance_id": "prefill-0", "tenant_id": "default", "lora_name": "",
                 "block_size": 16, "dp_rank": 0,
                 "hash_profile": {"strategy": "vllm_v1", "algorithm": "sha256", "python_hash_seed": "0",
                                  "index_projection": "low64_be"}},
               "legacy": {"ip": "127.0.0.1", "port": 47003, "type": "vLLM", "modelname": "old-model", "lora_id": -1}}}
            """;

    private static JsonNode get(HttpClient client, int port, String path) throws Exception {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Accept", "application/json").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    @Test
    void shouldSubscribeStaticEntriesAndServeTheApiWhenInstalledInTheDaemon() throws Exception {
        ConductorConfig config = ConfigLoader.parse(CONFIG, "test", false).config();
        HttpClient client = HttpClient.newHttpClient();

        try (Daemon daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"), config,
                List.of(new ConductorApiExtension(EndpointOnlyStreams::new, ApiLimits.defaults())))) {
            JsonNode services = get(client, daemon.port(), "/services");
            JsonNode view = get(client, daemon.port(), "/global_view");
            HttpResponse<String> query = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + daemon.port() + "/query")).header("Content-Type", "application/json").POST(
                    HttpRequest.BodyPublishers.ofString("{\"model\":\"qwen\",\"block_size\":16,"
                            + "\"token_ids\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            String metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port()
                    + "/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString()).body();

            assertEquals(2, services.get("count").asInt(), services.toString());
            assertEquals("prefill-0", services.get("services").get(1).get("InstanceID").asText());
            assertTrue(services.get("services").get(0).get("HashProfile").isNull(), "legacy entry: token rehash");
            assertEquals(2, view.get("context_count").asInt(), view.toString());
            assertEquals(200, query.statusCode());
            assertEquals(0, JSON.readTree(query.body()).at("/instances/prefill-0/longest_matched").asInt(),
                    query.body());
            assertTrue(metrics.contains("conductor_index_max_bytes 3.3554432E7"), metrics);
            assertTrue(metrics.contains("conductor_queries_total{route=\"query\"} 1.0"), metrics);
        }
    }

    @Test
    void shouldGiveStaticEntriesTheirKvRoleSoRouteWithoutCandidatesSkipsDecodeEntries() throws Exception {
        String config = """
                {"http_server_port": 0, "kvevent_instance": {
                  "prefill-0": {"type": "vLLM", "endpoint": "tcp://127.0.0.1:47011", "modelname": "qwen",
                                "kv_role": "kv_producer"},
                  "decode-0":  {"type": "vLLM", "endpoint": "tcp://127.0.0.1:47012", "modelname": "qwen",
                                "kv_role": "kv_consumer"}}}
                """;
        HttpClient client = HttpClient.newHttpClient();
        try (Daemon daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"),
                ConfigLoader.parse(config, "test", false).config(),
                List.of(new ConductorApiExtension(EndpointOnlyStreams::new, ApiLimits.defaults())))) {
            JsonNode services = get(client, daemon.port(), "/services");
            java.util.Map<String, String> roles = new java.util.TreeMap<>();
            for (JsonNode service : services.get("services")) {
                roles.put(service.get("InstanceID").asText(), service.get("KvRole").asText());
            }
            String routeBody = "{\"model\":\"qwen\",\"block_size\":16,\"token_ids\":[1,2,3,4,5,6,7,8,9,10,11,12,"
                    + "13,14,15,16]}";
            java.util.Set<String> chosen = new java.util.TreeSet<>();
            for (int i = 0; i < 6; i++) {
                HttpResponse<String> route = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                        + daemon.port() + "/route")).header("Content-Type", "application/json")
                        .header("Accept", "application/json").POST(HttpRequest.BodyPublishers.ofString(routeBody))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, route.statusCode(), route.body());
                chosen.add(JSON.readTree(route.body()).get("instance_id").asText());
            }

            assertEquals(java.util.Map.of("decode-0", "kv_consumer", "prefill-0", "kv_producer"), roles);
            assertEquals(java.util.Set.of("prefill-0"), chosen);
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static HttpResponse<String> ready(HttpClient client, int port) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ready")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldAnswer503NamingTheMissingEntryUntilEveryStaticSubscriptionHasConnectedOnce() throws Exception {
        int up = freePort();
        int late = freePort();
        String config = """
                {"http_server_port": 0, "kvevent_instance": {
                  "up-engine":   {"type": "vLLM", "endpoint": "tcp://127.0.0.1:%d", "modelname": "m"},
                  "late-engine": {"type": "vLLM", "endpoint": "tcp://127.0.0.1:%d", "modelname": "m"}}}
                """.formatted(up, late);
        HttpClient client = HttpClient.newHttpClient();
        try (ZContext zmq = new ZContext();
             Daemon daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"),
                     ConfigLoader.parse(config, "test", false).config(),
                     List.of(new ConductorApiExtension(ZmqEventStreams::withDefaults, ApiLimits.defaults())))) {
            ZMQ.Socket first = zmq.createSocket(SocketType.PUB);
            first.bind("tcp://127.0.0.1:" + up);
            HttpResponse<String> before = awaitReady(client, daemon.port(),
                    r -> r.body().contains("1 of 2 static subscriptions connected"));

            ZMQ.Socket second = zmq.createSocket(SocketType.PUB);
            second.bind("tcp://127.0.0.1:" + late);
            HttpResponse<String> after = awaitReady(client, daemon.port(), r -> r.statusCode() == 200);
            zmq.destroySocket(second);
            HttpResponse<String> afterDisconnect = ready(client, daemon.port());

            assertEquals(503, before.statusCode(), before.body());
            JsonNode check = null;
            for (JsonNode c : JSON.readTree(before.body()).get("checks")) {
                if ("subscriptions".equals(c.get("name").asText())) {
                    check = c;
                }
            }
            assertTrue(check != null, "a subscriptions check: " + before.body());
            assertTrue(!check.get("ready").asBoolean(), before.body());
            assertTrue(check.get("detail").asText().contains("missing: late-engine (tcp://127.0.0.1:" + late
                    + "): never connected yet"), before.body());
            assertTrue(!check.get("detail").asText().contains("up-engine ("), "a connected entry is not missing");
            assertTrue(after.body().contains("2 of 2 static subscriptions connected at least once"), after.body());
            assertEquals(200, afterDisconnect.statusCode(), "connected once is enough: " + afterDisconnect.body());
        }
    }

    private static HttpResponse<String> awaitReady(HttpClient client, int port,
            java.util.function.Predicate<HttpResponse<String>> condition) throws Exception {
        long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        HttpResponse<String> last = ready(client, port);
        while (!condition.test(last)) {
            if (System.nanoTime() > end) {
                throw new AssertionError("/ready never matched; last: " + last.statusCode() + " " + last.body());
            }
            Thread.sleep(50);
            last = ready(client, port);
        }
        return last;
    }
}
