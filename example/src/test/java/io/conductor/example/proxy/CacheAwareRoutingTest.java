package io.conductor.example.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.conductor.daemon.Daemon;
import io.conductor.daemon.DaemonSettings;
import io.conductor.daemon.config.ConfigLoader;
import io.conductor.daemon.service.ConductorApiExtension;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.example.engine.BlockHashers;
import io.conductor.example.engine.EngineConfig;
import io.conductor.example.engine.SimulatedEngine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The proxy against the real conductor (the daemon's own code, in process, with its ZMQ event subscriptions) and
 * real simulated engines: it prefills where the prompt's prefix is cached, on the DP rank that holds it.
 */
class CacheAwareRoutingTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient client = HttpClient.newHttpClient();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private Daemon daemon;
    private SimulatedEngine single;
    private SimulatedEngine twoRanks;
    private PdProxy proxy;

    @BeforeEach
    void start() throws Exception {
        daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"),
            ConfigLoader.parse("{\"kvevent_instance\": {}}", "test", false).config(),
            List.of(ConductorApiExtension.withEnvironment(ZmqEventStreams::withDefaults)));
        closeables.add(daemon);
        single = engine(1, 1_000); // slow: a big prefill keeps it busy for seconds
        twoRanks = engine(2, 1_000_000);
        SimulatedEngine decode = engine(1, 1_000_000);
        register("single", single);
        register("two-ranks", twoRanks);
        Path config = Files.createTempFile("proxy", ".json");
        Files.writeString(config, "{\"host\": \"127.0.0.1\", \"port\": 0, \"block_size\": 16,"
            + " \"conductor\": {\"address\": \"127.0.0.1:" + daemon.port() + "\", \"timeout_ms\": 2000},"
            + " \"prefill\": [{\"url\": \"http://127.0.0.1:" + single.port() + "\", \"instance_id\": \"single\"},"
            + " {\"url\": \"http://127.0.0.1:" + twoRanks.port() + "\", \"instance_id\": \"two-ranks\","
            + " \"dp_size\": 2}], \"decode\": [{\"url\": \"http://127.0.0.1:" + decode.port() + "\"}]}");
        proxy = new PdProxy(ProxyConfig.parse(new String[] {"--config", config.toString()}));
        Files.delete(config);
        closeables.add(proxy);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        client.close();
    }

    private SimulatedEngine engine(int dp, int prefillTokensPerSecond) {
        SimulatedEngine e = new SimulatedEngine(EngineConfig.parse(new String[] {"sim", "--port", "0",
            "--data-parallel-size", Integer.toString(dp), "--sim-prefill-tokens-per-second",
            Integer.toString(prefillTokensPerSecond),
            "--sim-decode-ms-per-token", "0", "--kv-events-config", "{\"enable_kv_cache_events\": true,"
                + " \"endpoint\": \"tcp://127.0.0.1:*\", \"replay_endpoint\": \"tcp://127.0.0.1:*\"}"},
            Map.of("PYTHONHASHSEED", "0")), BlockHashers::forConfig);
        closeables.add(e);
        return e;
    }

    private void register(String id, SimulatedEngine e) throws Exception {
        for (int r = 0; r < e.ranks().size(); r++) {
            ObjectNode body = JSON.createObjectNode();
            body.put("endpoint", e.ranks().get(r).publisher().endpoint());
            body.put("replay_endpoint", e.ranks().get(r).publisher().replayEndpoint());
            body.put("type", "vLLM");
            body.put("modelname", "sim");
            body.put("instance_id", id);
            body.put("block_size", 16);
            body.put("dp_rank", r);
            body.putObject("hash_profile").put("strategy", "vllm_v1").put("algorithm", "sha256")
                .put("python_hash_seed", "0").put("index_projection", "low64_be");
            HttpResponse<String> resp = post(URI.create("http://127.0.0.1:" + daemon.port() + "/register"),
                body.toString());
            assertEquals(200, resp.statusCode(), resp.body());
        }
    }

    private HttpResponse<String> post(URI uri, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String prompt(String tag) {
        return prompt(tag, 70);
    }

    private static String prompt(String tag, int words) {
        StringBuilder sb = new StringBuilder(tag);
        for (int i = 0; i < words; i++) {
            sb.append(' ').append(tag).append(i);
        }
        return sb.toString();
    }

    /** Stores a prompt straight on an engine rank, then waits until the conductor has indexed it there. */
    private void storeAndAwaitIndex(SimulatedEngine e, int rank, String id, String prompt) throws Exception {
        String body = "{\"model\": \"sim\", \"prompt\": \"" + prompt + "\", \"max_tokens\": 1}";
        assertEquals(200, post(URI.create("http://127.0.0.1:" + e.port() + "/v1/completions"), body,
            "X-data-parallel-rank", Integer.toString(rank)).statusCode());
        HttpResponse<String> tok = post(URI.create("http://127.0.0.1:" + e.port() + "/tokenize"),
            "{\"prompt\": \"" + prompt + "\"}");
        ObjectNode query = JSON.createObjectNode();
        query.put("model", "sim");
        query.put("block_size", 16);
        query.put("instance_id", id);
        query.set("token_ids", (ArrayNode) JSON.readTree(tok.body()).get("tokens"));
        await("the conductor to index the prompt on " + id, () -> {
            try {
                HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + daemon.port() + "/query"),
                    query.toString());
                return JSON.readTree(r.body()).at("/instances/" + id + "/dp/" + rank).asLong() > 0;
            } catch (Exception ex) {
                return false;
            }
        });
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    @Test
    void shouldPrefillOnTheInstanceHoldingThePrefixWhenTheConductorKnowsIt() throws Exception {
        String p = prompt("single");
        storeAndAwaitIndex(single, 0, "single", p);

        HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + proxy.port() + "/v1/completions"),
            "{\"model\": \"sim\", \"prompt\": \"" + p + " and more\", \"max_tokens\": 2}");

        assertEquals(200, r.statusCode(), r.body());
        assertEquals("single", r.headers().firstValue("X-Conductor-Prefill-Instance").orElseThrow());
        assertEquals("longest_prefix", r.headers().firstValue("X-Conductor-Route-Reason").orElseThrow());
        long predicted = Long.parseLong(r.headers().firstValue("X-Conductor-Predicted-Tokens").orElseThrow());
        assertTrue(predicted >= 64, "predicted " + predicted);
        assertEquals(Long.toString(predicted), r.headers().firstValue("X-Conductor-Cached-Tokens").orElseThrow());
    }

    @Test
    void shouldPinTheDpRankHoldingThePrefixWhenTheInstanceHasSeveralRanks() throws Exception {
        String p = prompt("ranked");
        storeAndAwaitIndex(twoRanks, 1, "two-ranks", p);

        HttpResponse<String> r = post(URI.create("http://127.0.0.1:" + proxy.port() + "/v1/completions"),
            "{\"model\": \"sim\", \"prompt\": \"" + p + " and more\", \"max_tokens\": 2}");

        assertEquals(200, r.statusCode(), r.body());
        assertEquals("two-ranks", r.headers().firstValue("X-Conductor-Prefill-Instance").orElseThrow());
        assertEquals("1", r.headers().firstValue("X-Conductor-Prefill-Rank").orElseThrow());
        assertEquals(r.headers().firstValue("X-Conductor-Predicted-Tokens").orElseThrow(),
            r.headers().firstValue("X-Conductor-Cached-Tokens").orElseThrow());
    }

    @Test
    void shouldPreferAnIdleInstanceWhenThePrefixHolderIsBusierThanThePrefixSaves() throws Exception {
        String head = prompt("busy", 20);
        String p = prompt("held", 70);
        storeAndAwaitIndex(single, 0, "single", head);
        storeAndAwaitIndex(single, 0, "single", p);
        URI completions = URI.create("http://127.0.0.1:" + proxy.port() + "/v1/completions");
        // A 3,000-token prompt sharing only its head with "single" goes there and keeps it busy for ~3 s.
        Thread big = Thread.ofVirtual().start(() -> {
            try {
                post(completions, "{\"model\": \"sim\", \"prompt\": \"" + head + " " + prompt("tail", 3_000)
                    + "\", \"max_tokens\": 1}");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        await("the big prefill to be queued on single", () -> single.ranks().getFirst().running() > 0);

        HttpResponse<String> r = post(completions, "{\"model\": \"sim\", \"prompt\": \"" + p
            + " again\", \"max_tokens\": 2}");

        assertEquals(200, r.statusCode(), r.body());
        assertEquals("two-ranks", r.headers().firstValue("X-Conductor-Prefill-Instance").orElseThrow(),
            r.headers().map().toString());
        // The conductor's cost policy spreads it itself: its reservation for the big prompt queues "single".
        assertEquals("load_spread", r.headers().firstValue("X-Conductor-Route-Reason").orElseThrow());
        assertEquals("0", r.headers().firstValue("X-Conductor-Predicted-Tokens").orElseThrow());
        big.join();
    }
}
