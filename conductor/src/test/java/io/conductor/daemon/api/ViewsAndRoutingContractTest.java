package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.Tier;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@code /global_view}, {@code /services}, {@code /route}, {@code /cache}, {@code /feedback} and their metrics. */
class ViewsAndRoutingContractTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);
    private ApiTestServer server;
    private final List<Integer> prompt = new ArrayList<>();
    private long[] hashes;

    @BeforeEach
    void start() throws Exception {
        server = new ApiTestServer();
        for (int i = 0; i < 64; i++) {
            prompt.add(7 * i);
        }
        for (String[] r : new String[][] {{"a", "0", "7201"}, {"b", "0", "7202"}, {"c", "0", "7203"},
            {"c", "1", "7204"}}) {
            assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                    registration(r[0], Integer.parseInt(r[1]), "tcp://127.0.0.1:" + r[2])).status());
        }
        hashes = server.hashes(CONTEXT, prompt.stream().mapToInt(Integer::intValue).toArray());
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private void gpu(String instance, int rank, int blocks) throws Exception {
        server.storeGpu(CONTEXT, instance, rank, java.util.Arrays.copyOf(hashes, blocks));
    }

    private Map<String, Object> route(WireFormat format, Object... extra) throws Exception {
        // These cases pin the longest_prefix policy; the cost policy has its own tests (CostRoutingTest).
        Map<String, Object> body = map("model", "qwen", "block_size", 16, "token_ids", prompt,
                "policy", "longest_prefix");
        body.putAll(map(extra));
        ApiTestServer.Response r = server.post("/route", format, body);
        assertEquals(200, r.status(), () -> r.body().toString());
        return r.map();
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldPickTheLongestUsablePrefixWhenOneInstanceLeads(WireFormat format) throws Exception {
        gpu("a", 0, 1);
        gpu("b", 0, 3);
        server.storePool(CONTEXT, Tier.CPU, hashes[3]);

        Map<String, Object> r = route(format);

        assertEquals(map("instance_id", "b", "longest_matched", 64L, "gpu", 48L, "cpu", 64L, "disk", 64L,
                "reason", "longest_prefix", "candidates", map(
                        "a", map("longest_matched", 16L, "gpu", 16L, "cpu", 16L, "disk", 16L),
                        "b", map("longest_matched", 64L, "gpu", 48L, "cpu", 64L, "disk", 64L),
                        "c", map("longest_matched", 0L, "gpu", 0L, "cpu", 0L, "disk", 0L))), r);
    }

    @Test
    void shouldRotateAmongEqualLeadersWhenThePrefixesTie() throws Exception {
        gpu("a", 0, 2);
        gpu("c", 1, 2);

        Set<Object> chosen = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            Map<String, Object> r = route(WireFormat.MSGPACK);
            assertEquals("longest_prefix_tie", r.get("reason"));
            chosen.add(r.get("instance_id"));
        }

        assertEquals(Set.of("a", "c"), chosen);
    }

    @Test
    void shouldSpreadLoadWhenTheSameInstanceKeepsHavingTheLongestPrefix() throws Exception {
        gpu("a", 0, 4);

        List<Object> chosen = new ArrayList<>();
        List<Object> reasons = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            Map<String, Object> r = route(WireFormat.MSGPACK);
            chosen.add(r.get("instance_id"));
            reasons.add(r.get("reason"));
        }

        // The first five go to the cache; then the guard sends work to the idle instances until they catch up.
        assertEquals(List.of("a", "a", "a", "a", "a"), chosen.subList(0, 5));
        assertEquals("load_balance", reasons.get(5));
        assertEquals(Set.of("a", "b", "c"), new HashSet<>(chosen));
        assertTrue(chosen.stream().filter("a"::equals).count() >= 6, chosen.toString());
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldUseTheProxysLoadsWhenTheRequestReportsThem(WireFormat format) throws Exception {
        gpu("a", 0, 4);
        gpu("c", 0, 2);

        Map<String, Object> overloaded = route(format, "loads", map("a", 10, "b", 0, "c", 3));
        Map<String, Object> busyButFine = route(format, "loads", map("a", 3, "b", 0, "c", 0));

        assertEquals("b", overloaded.get("instance_id"));
        assertEquals("load_balance", overloaded.get("reason"));
        assertEquals("a", busyButFine.get("instance_id"));
        assertEquals("longest_prefix", busyButFine.get("reason"));
        assertError(server.post("/route", format, map("model", "qwen", "block_size", 16, "token_ids", prompt,
                "loads", map("a", -1))), 400, "loads values must be non-negative integers", "invalid_value", "loads");
        assertError(server.post("/route", format, map("model", "qwen", "block_size", 16, "token_ids", prompt,
                "loads", List.of(1))), 400, "loads must be a map", "invalid_type", "loads");
    }

    @Test
    void shouldFallBackToRoundRobinOverCandidatesWhenNothingMatches() throws Exception {
        List<Object> chosen = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Map<String, Object> r = route(WireFormat.JSON, "candidates", List.of("c", "x-unregistered", "a"));
            assertEquals("round_robin", r.get("reason"));
            assertEquals(Set.of("a", "c", "x-unregistered"), ((Map<?, ?>) r.get("candidates")).keySet());
            chosen.add(r.get("instance_id"));
        }

        assertEquals(Set.of("a", "c", "x-unregistered"), new HashSet<>(chosen));
        assertEquals(chosen.subList(0, 3), chosen.subList(3, 6));
    }

    @Test
    void shouldRestrictToTheGivenCandidatesAndAnswer404WhenThereAreNone() throws Exception {
        gpu("b", 0, 4);

        Map<String, Object> r = route(WireFormat.MSGPACK, "candidates", List.of("a", "c"));
        ApiTestServer.Response none = server.post("/route", WireFormat.MSGPACK, map("model", "nope",
                "block_size", 16, "token_ids", prompt));

        assertEquals("round_robin", r.get("reason"));
        assertTrue(Set.of("a", "c").contains(r.get("instance_id")));
        assertError(none, 404, "no candidate instance for context: default/nope/16", null, null);
        assertError(server.post("/route", WireFormat.MSGPACK, map("model", "qwen", "block_size", 16, "token_ids",
                prompt, "candidates", List.of("a", 3))), 400, "candidates element must be a non-empty string",
                "invalid_type", "candidates", 1);
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldAnswerTheLegacyCacheShapeWithPercentOfBlocks(WireFormat format) throws Exception {
        gpu("a", 0, 1);
        gpu("b", 0, 3);

        ApiTestServer.Response r = server.post("/cache", format, map("token_ids", prompt, "instances",
                List.of("a", "b", "zz"), "model_name", "qwen", "lora_id", -1));

        assertEquals(200, r.status());
        assertEquals(map("HitStatus", map("a", 25L, "b", 75L, "zz", 0L), "status", "ok"), r.body());
        assertError(server.post("/cache", format, map("instances", List.of(), "model_name", "qwen")), 400,
                "missing key: token_ids", "missing", "token_ids");
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldDescribeContextsAndServicesWhenRegistered(WireFormat format) throws Exception {
        gpu("a", 0, 2);
        gpu("b", 0, 1);

        Map<String, Object> view = server.get("/global_view", format.mediaType()).map();
        Map<String, Object> services = server.get("/services", format.mediaType()).map();

        assertEquals(1L, view.get("context_count"));
        Map<?, ?> context = (Map<?, ?>) ((List<?>) view.get("contexts")).getFirst();
        assertEquals("qwen", context.get("model_name"));
        assertEquals("", context.get("lora_name"));
        assertEquals(16L, context.get("block_size"));
        assertEquals("default", context.get("tenant_id"));
        assertEquals(2L, context.get("prefix_count"));
        assertEquals(map("a", List.of(0L), "b", List.of(0L), "c", List.of(0L, 1L)), context.get("instances"));
        assertEquals(map("strategy", "vllm_v1", "algorithm", "sha256_cbor", "python_hash_seed", "0",
                "root_digest", "4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c3e",
                "index_projection", "low64_be"), context.get("hash_profile"));
        assertEquals(4L, services.get("count"));
        List<?> list = (List<?>) services.get("services");
        assertEquals(List.of("a", "b", "c", "c"), list.stream().map(s -> ((Map<?, ?>) s).get("InstanceID")).toList());
        Map<?, ?> first = (Map<?, ?>) list.getFirst();
        assertEquals("tcp://127.0.0.1:7201", first.get("Endpoint"));
        assertEquals("", first.get("ReplayEndpoint"));
        assertEquals("vLLM", first.get("Type"));
        assertEquals("qwen", first.get("ModelName"));
        assertEquals("", first.get("LoraName"));
        assertEquals("default", first.get("TenantID"));
        assertEquals(16L, first.get("BlockSize"));
        assertEquals(0L, first.get("DPRank"));
        assertEquals(ApiTestServer.NIL, first.get("CacheGroup"));
        assertEquals("active", first.get("State"));
        assertEquals(ApiTestServer.NIL, first.get("StreamState"));
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldKeepLoraBlocksApartAndListEachLoraAsAContextWhenAdaptersAreServed(WireFormat format)
            throws Exception {
        Map<String, Object> reg = registration("lora-inst", 0, "tcp://127.0.0.1:7210");
        reg.put("lora_name", "adapter-x");
        assertEquals(200, server.post("/register", format, reg).status());
        int[] tokens = prompt.stream().mapToInt(Integer::intValue).toArray();
        long[] loraHashes = server.hashes(CONTEXT, tokens, "adapter-x");
        server.storeGpu(CONTEXT, "adapter-x", "lora-inst", 0, loraHashes[0], loraHashes[1], loraHashes[2]);
        gpu("a", 0, 1);

        Map<?, ?> withLora = (Map<?, ?>) server.post("/query", format, map("model", "qwen", "block_size", 16,
                "token_ids", prompt, "lora_name", "adapter-x")).map().get("instances");
        Map<?, ?> base = (Map<?, ?>) server.post("/query", format, map("model", "qwen", "block_size", 16,
                "token_ids", prompt)).map().get("instances");
        List<?> contexts = (List<?>) server.get("/global_view", format.mediaType()).map().get("contexts");

        assertEquals(48L, ((Map<?, ?>) withLora.get("lora-inst")).get("longest_matched"));
        assertEquals(0L, ((Map<?, ?>) withLora.get("a")).get("longest_matched"));
        assertEquals(0L, ((Map<?, ?>) base.get("lora-inst")).get("longest_matched"));
        assertEquals(16L, ((Map<?, ?>) base.get("a")).get("longest_matched"));
        assertEquals(2, contexts.size());
        Map<?, ?> baseCtx = (Map<?, ?>) contexts.stream().filter(c -> "".equals(((Map<?, ?>) c).get("lora_name")))
                .findFirst().orElseThrow();
        Map<?, ?> loraCtx = (Map<?, ?>) contexts.stream()
                .filter(c -> "adapter-x".equals(((Map<?, ?>) c).get("lora_name"))).findFirst().orElseThrow();
        assertEquals(1L, baseCtx.get("prefix_count"));
        assertEquals(3L, loraCtx.get("prefix_count"));
        assertEquals(map("lora-inst", List.of(0L)), loraCtx.get("instances"));
        assertEquals(Set.of("a", "b", "c"), ((Map<?, ?>) baseCtx.get("instances")).keySet());
    }

    @Test
    void shouldAnswerMsgpackForViewsUnlessJsonIsAccepted() throws Exception {
        assertEquals("application/msgpack", server.get("/services", "").contentType());
        assertEquals("application/msgpack", server.get("/services", "*/*").contentType());
        assertEquals("application/json", server.get("/global_view", "application/json").contentType());
    }

    @Test
    void shouldUseTheSha256PickleRootWhenTheAlgorithmIsSha256() throws Exception {
        Map<String, Object> reg = registration("p", 0, "tcp://127.0.0.1:7300");
        reg.put("modelname", "other");
        ((Map<String, Object>) reg.get("hash_profile")).put("algorithm", "sha256");
        ((Map<String, Object>) reg.get("hash_profile")).put("python_hash_seed", "vllm-none-hash");

        assertEquals(200, server.post("/register", WireFormat.JSON, reg).status());

        var profile = server.registry.snapshot().contexts().get(new ContextKey("default", "other", 16)).profile();
        assertEquals("066b1e8987e027138e98701c46128929378935f9b6cd1549105ae6b4f0d71198", profile.rootDigest());
    }

    @Test
    void shouldCountQueriesMatchesAndFeedbackInMetrics() throws Exception {
        gpu("a", 0, 2);
        server.post("/query", WireFormat.MSGPACK, map("model", "qwen", "block_size", 16, "token_ids", prompt));
        route(WireFormat.JSON);
        ApiTestServer.Response fb = server.post("/feedback", WireFormat.JSON, map("instance_id", "a",
                "predicted_tokens", 32, "cached_tokens", 16));
        server.post("/feedback", WireFormat.JSON, map("instance_id", "ghost", "predicted_tokens", 1,
                "cached_tokens", 1));

        String metrics = server.metricsText();

        assertEquals(map("status", "ok"), fb.body());
        assertTrue(metrics.contains("conductor_queries_total{route=\"query\"} 1.0"), metrics);
        assertTrue(metrics.contains("conductor_queries_total{route=\"route\"} 1.0"), metrics);
        assertTrue(metrics.contains("conductor_route_decisions_total{reason=\"longest_prefix\"} 1.0"), metrics);
        assertTrue(metrics.contains("conductor_query_tokens_total{model_name=\"qwen\"} 128.0"), metrics);
        assertTrue(metrics.contains("conductor_query_matched_tokens_total{model_name=\"qwen\",tier=\"gpu\"} 64.0"),
                metrics);
        assertTrue(metrics.contains("conductor_instance_matched_tokens_total{instance_id=\"a\",tier=\"gpu\"} 64.0"),
                metrics);
        assertTrue(metrics.contains("conductor_instance_query_tokens_total{instance_id=\"b\"} 128.0"), metrics);
        assertTrue(metrics.contains("conductor_query_duration_seconds_count{route=\"query\"} 1"), metrics);
        assertTrue(metrics.contains("conductor_feedback_absolute_error_tokens_total{instance_id=\"a\"} 16.0"),
                metrics);
        assertTrue(metrics.contains("conductor_feedback_reports_total{instance_id=\"_unknown\"} 1.0"), metrics);
        assertTrue(metrics.contains("conductor_http_requests_total{route=\"feedback\",status=\"2xx\"} 2.0"),
                metrics);
        assertError(server.post("/feedback", WireFormat.JSON, map("instance_id", "a", "predicted_tokens", -1,
                "cached_tokens", 0)), 400, "predicted_tokens must not be negative", "out_of_range",
                "predicted_tokens");
    }
}
