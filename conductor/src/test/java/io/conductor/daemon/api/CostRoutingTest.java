package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.conductor.daemon.service.EndpointOnlyStreams;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.Tier;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The cost policy of {@code /route} on constructed cases, through the real HTTP server, registry, index and hash
 * chain: hit versus queue, proxy loads, ties, no hits, tier costs, concurrent calls. Times are chosen in seconds
 * (1 token per second, 10 s overhead) so the queues' real-time drain during a test cannot change a decision.
 */
class CostRoutingTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);
    /** 1 token/s and 10 s per request: prompt of 64 tokens = 74 s uncached, 10 s fully cached. */
    private static final RoutingSettings SLOW = new RoutingSettings("cost",
            new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 2, 1, 3_600_000, true);

    private ApiTestServer server;
    private final List<Integer> prompt = new ArrayList<>();
    private long[] hashes;

    private void start(RoutingSettings settings) throws Exception {
        server = new ApiTestServer(ApiLimits.defaults(), new EndpointOnlyStreams(), settings);
        for (int i = 0; i < 64; i++) {
            prompt.add(11 * i + 3);
        }
        int port = 7301;
        for (String id : List.of("a", "b", "c")) {
            assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                    registration(id, 0, "tcp://127.0.0.1:" + port++)).status());
        }
        hashes = server.hashes(CONTEXT, prompt.stream().mapToInt(Integer::intValue).toArray());
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private void gpu(String instance, int blocks) throws Exception {
        server.storeGpu(CONTEXT, instance, 0, Arrays.copyOf(hashes, blocks));
    }

    private Map<String, Object> route(WireFormat format, Object... extra) throws Exception {
        Map<String, Object> body = map("model", "qwen", "block_size", 16, "token_ids", prompt);
        body.putAll(map(extra));
        ApiTestServer.Response r = server.post("/route", format, body);
        assertEquals(200, r.status(), () -> r.body().toString());
        return r.map();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> sub(Map<String, Object> m, String... path) {
        Map<String, Object> cur = m;
        for (String p : path) {
            cur = (Map<String, Object>) cur.get(p);
        }
        return cur;
    }

    private static long seconds(Object micros) {
        return Math.round(((Long) micros) / 1e6);
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldSendTheHotPrefixElsewhereOnceTheHoldersQueueOutweighsTheRecompute(WireFormat format) throws Exception {
        start(SLOW);
        gpu("a", 4);

        List<Object> chosen = new ArrayList<>();
        List<Object> reasons = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            Map<String, Object> r = route(format);
            chosen.add(r.get("instance_id"));
            reasons.add(r.get("reason"));
            if (i == 0) {
                Map<String, Object> e = sub(r, "estimate");
                assertEquals(10L, seconds(e.get("ttft_us")));
                assertEquals(0L, seconds(e.get("queue_us")));
                assertEquals(10L, seconds(e.get("prefill_us")));
                assertEquals(0L, e.get("compute_tokens"));
                assertEquals(74L, seconds(sub(r, "candidates", "b").get("ttft_us")));
                assertEquals("cost", r.get("policy"));
                assertTrue((Long) r.get("route_id") > 0);
            }
        }

        // a: 10 s each while its queue (10, 20, ... 60 s) plus 10 s stays within b's and c's 74 s; then the
        // 8th and 9th go to the idle instances: the queue saved (70 s) exceeds the 64 s recompute.
        assertEquals(List.of("a", "a", "a", "a", "a", "a", "a"), chosen.subList(0, 7));
        assertEquals(Set.of("b", "c"), new HashSet<>(chosen.subList(7, 9)));
        assertEquals(List.of("load_spread", "load_spread"), reasons.subList(7, 9));
        assertEquals("longest_prefix", reasons.get(0));
        assertTrue(server.metricsText().contains("conductor_route_decisions_total{reason=\"load_spread\"} 2.0"));
    }

    @Test
    void shouldWeighTheQueueTheProxyReports() throws Exception {
        start(SLOW);
        gpu("a", 4);

        // a: 1 request × 10 s + 50 tokens × 1 s = 60 s queued, + 10 s = 70 s < 74 s.
        Map<String, Object> stays = route(WireFormat.JSON, "loads", map("a", map("queue", 1, "tokens", 50)),
                "candidates", List.of("a", "b"));
        // a: 1 × 10 s + 60 × 1 s = 70 s queued, + 10 s = 80 s > 74 s; the conductor's own reservation adds up too.
        Map<String, Object> moves = route(WireFormat.JSON, "loads", map("a", map("queue", 1, "tokens", 60)),
                "candidates", List.of("a", "b"));
        // In-flight requests only: 8 × (10 s + 2048 × 1 s) on a.
        Map<String, Object> count = route(WireFormat.MSGPACK, "loads", map("a", 8, "b", 0),
                "candidates", List.of("a", "b"), "policy", "cost");

        assertEquals("a", stays.get("instance_id"));
        assertEquals(60L, seconds(sub(stays, "estimate").get("queue_us")));
        assertEquals("b", moves.get("instance_id"));
        assertEquals("load_spread", moves.get("reason"));
        assertEquals("b", count.get("instance_id"));
        assertEquals(8L * 2058, seconds(sub(count, "candidates", "a").get("queue_us")));
        assertError(server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16, "token_ids",
                prompt, "loads", map("a", map("queue", -1)))), 400, "loads values must be non-negative integers",
                "invalid_value", "loads");
        assertError(server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16, "token_ids",
                prompt, "loads", map("a", map("waiting", 1)))), 400,
                "loads entries may only have the keys queue and tokens", "unknown_field", "loads");
        assertError(server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16, "token_ids",
                prompt, "policy", "fastest")), 400, "policy must be cost or longest_prefix", "invalid_value", "policy");
    }

    @Test
    void shouldGiveTiesToTheLeastLoadedAndTakeTurnsWhenLoadsAreEqual() throws Exception {
        start(SLOW);
        gpu("a", 2);
        gpu("c", 2);

        Map<String, Object> first = route(WireFormat.MSGPACK);
        Map<String, Object> second = route(WireFormat.MSGPACK);

        assertEquals("longest_prefix_tie", first.get("reason"));
        assertTrue(Set.of("a", "c").contains(first.get("instance_id")));
        // The first one's reservation makes it the more loaded: the other holder is now strictly better.
        assertEquals(Set.of("a", "c"), Set.of(first.get("instance_id"), second.get("instance_id")));
        assertEquals("longest_prefix", second.get("reason"));
    }

    @Test
    void shouldSendRequestsWithoutAnyHitToTheLeastLoaded() throws Exception {
        start(SLOW);

        List<Object> chosen = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Map<String, Object> r = route(WireFormat.JSON, "candidates", List.of("c", "x-unregistered", "a"));
            assertEquals("least_loaded", r.get("reason"));
            chosen.add(r.get("instance_id"));
        }
        Map<String, Object> proxyLoaded = route(WireFormat.JSON, "candidates", List.of("a", "b"),
                "loads", map("a", 0, "b", 3));

        // Each reservation makes its instance the busier one: three distinct, then three distinct again.
        assertEquals(Set.of("a", "c", "x-unregistered"), new HashSet<>(chosen.subList(0, 3)));
        assertEquals(Set.of("a", "c", "x-unregistered"), new HashSet<>(chosen.subList(3, 6)));
        // a carries two of our reservations (2 × 74 s); b reports 3 requests (3 × 2058 s): a is less loaded.
        assertEquals("a", proxyLoaded.get("instance_id"));
    }

    @Test
    void shouldChargeLowerTierHitsATransferAndNeverMoreThanTheRecompute() throws Exception {
        // CPU loads 4 tokens/s, disk 2 tokens/s, recompute 1 token/s (per token: 0.25 s, 0.5 s, 1 s).
        start(SLOW);
        for (int i = 0; i < 4; i++) {
            server.storePool(CONTEXT, Tier.CPU, hashes[i]);
        }
        gpu("a", 2);

        Map<String, Object> r = route(WireFormat.JSON);

        // a: 32 GPU tokens free, 32 CPU tokens at 0.25 s = 8 s; b and c: 64 CPU tokens = 16 s.
        assertEquals("a", r.get("instance_id"));
        assertEquals(8L, seconds(sub(r, "estimate").get("transfer_us")));
        assertEquals(32L, sub(r, "estimate").get("transfer_tokens"));
        assertEquals(18L, seconds(sub(r, "estimate").get("ttft_us")));
        assertEquals(26L, seconds(sub(r, "candidates", "b").get("ttft_us")));

        // A disk tier at 2 tokens/s: 64 tokens cost 32 s.
        server.close();
        prompt.clear();
        start(SLOW);
        for (int i = 0; i < 4; i++) {
            server.storePool(CONTEXT, Tier.DISK, hashes[i]);
        }
        Map<String, Object> disk = route(WireFormat.JSON, "candidates", List.of("a"));
        assertEquals(32L, seconds(sub(disk, "estimate").get("transfer_us")));
        assertEquals(42L, seconds(sub(disk, "estimate").get("ttft_us")));

        // A disk tier slower than recomputing (0.5 token/s) costs what the recompute would (1 s per token).
        server.close();
        prompt.clear();
        start(new RoutingSettings("cost", new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 0.5, 1,
                3_600_000, true));
        for (int i = 0; i < 4; i++) {
            server.storePool(CONTEXT, Tier.DISK, hashes[i]);
        }
        Map<String, Object> slowDisk = route(WireFormat.JSON, "candidates", List.of("a"));
        assertEquals(64L, seconds(sub(slowDisk, "estimate").get("transfer_us")));
        assertEquals(74L, seconds(sub(slowDisk, "estimate").get("ttft_us")));
    }

    @Test
    void shouldNotHerdConcurrentRequestsOntoTheHotPrefixHolder() throws Exception {
        start(SLOW);
        gpu("a", 4);
        int requests = 24;
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Map<String, Object>> answers = new ArrayList<>();
        try {
            List<Future<Map<String, Object>>> futures = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                Callable<Map<String, Object>> call = () -> route(WireFormat.MSGPACK);
                futures.add(pool.submit(call));
            }
            for (Future<Map<String, Object>> f : futures) {
                answers.add(f.get());
            }
        } finally {
            pool.shutdownNow();
        }

        // Decisions are serialized with their reservations: in route-id order they are the sequential ones.
        answers.sort(Comparator.comparingLong(m -> (Long) m.get("route_id")));
        List<Object> chosen = new ArrayList<>();
        for (Map<String, Object> a : answers) {
            chosen.add(a.get("instance_id"));
            long own = (Long) sub(a, "estimate").get("ttft_us");
            for (Object c : sub(a, "candidates").values()) {
                @SuppressWarnings("unchecked")
                long other = (Long) ((Map<String, Object>) c).get("ttft_us");
                assertTrue(own <= other + 1, () -> "chose a worse estimate: " + a);
            }
        }
        assertEquals(List.of("a", "a", "a", "a", "a", "a", "a"), chosen.subList(0, 7));
        assertNotEquals("a", chosen.get(7));
        assertEquals(Set.of("a", "b", "c"), new HashSet<>(chosen));
    }

    @Test
    void shouldCountTheWaitingRequestsScrapedFromTheEnginesMetrics() throws Exception {
        HttpServer vllm = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        byte[] text = ("# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
                + "# TYPE vllm:num_requests_waiting gauge\n"
                + "vllm:num_requests_waiting{engine=\"0\",model_name=\"qwen\"} 3.0\n"
                + "vllm:num_requests_waiting{engine=\"1\",model_name=\"qwen\"} 2.0\n"
                + "vllm:num_requests_running{engine=\"0\",model_name=\"qwen\"} 4.0\n"
                + "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"qwen\"} 0.25\n"
                + "vllm:num_requests_waiting_total 99\n").getBytes(StandardCharsets.UTF_8);
        vllm.createContext("/metrics", ex -> {
            ex.sendResponseHeaders(200, text.length);
            ex.getResponseBody().write(text);
            ex.close();
        });
        vllm.start();
        try {
            start(new RoutingSettings("cost", new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 2, 1,
                    3_600_000, true, false, Map.of("a", URI.create("http://127.0.0.1:" + vllm.getAddress().getPort()
                            + "/metrics")), 100));
            gpu("a", 4);
            long deadline = System.currentTimeMillis() + 60_000;
            Map<String, Object> r;
            do {
                r = route(WireFormat.JSON, "candidates", List.of("a", "b"), "policy", "cost");
                assertTrue(System.currentTimeMillis() < deadline, "no scrape reached the queue in time");
            } while ((Long) sub(r, "candidates", "a").get("queue_us") < 5L * 2058 * 1_000_000 - 1_000_000);

            // 5 waiting requests × (10 s + 2048 tokens × 1 s) on a: its cache hit is not worth that queue.
            assertEquals("b", r.get("instance_id"));
            assertEquals("load_spread", r.get("reason"));
        } finally {
            vllm.stop(0);
        }
        EngineMetricsScraper.Reading reading = EngineMetricsScraper.parse(new String(text, StandardCharsets.UTF_8), 7);
        assertEquals(5.0, reading.waiting());
        assertEquals(4.0, reading.running());
        assertEquals(0.25, reading.kvUsage());
    }

    @Test
    void shouldKeepTheLongestPrefixPolicyWhenAskedForItByRequestOrByConfiguration() throws Exception {
        start(SLOW);
        gpu("a", 4);
        for (int i = 0; i < 3; i++) {
            Map<String, Object> r = route(WireFormat.JSON, "policy", "longest_prefix");
            assertEquals("a", r.get("instance_id"));
            assertEquals("longest_prefix", r.get("reason"));
            assertEquals(null, r.get("estimate"));
        }
        server.close();
        prompt.clear();
        start(SLOW.withDefaultPolicy("longest_prefix"));
        gpu("a", 4);
        assertEquals(null, route(WireFormat.JSON).get("route_id"));
        assertEquals("cost", route(WireFormat.JSON, "policy", "cost").get("policy"));
    }
}
