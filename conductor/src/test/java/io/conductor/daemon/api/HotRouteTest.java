package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.index.prefix.ContextKey;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The hot routes ({@code POST /query}, {@code /query_by_hash}, {@code /route}) are answered by the filter in front
 * of Javalin: every class of answer (success in both formats, each error class, memory admission) comes back as the
 * Javalin route answered it, and none of them goes through Javalin's pipeline (its request logger does not run);
 * other methods on the same paths still do. Also: the reused per-thread buffers never leak one request's bytes into
 * the next, and stay bounded.
 */
class HotRouteTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);

    private static byte[] bin(int[] tokens) {
        ByteBuffer b = ByteBuffer.allocate(tokens.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int t : tokens) {
            b.putInt(t);
        }
        return b.array();
    }

    private static int[] prompt(int first, int count) {
        int[] t = new int[count];
        for (int i = 0; i < count; i++) {
            t[i] = first + i;
        }
        return t;
    }

    private static List<Integer> list(int[] tokens) {
        List<Integer> out = new ArrayList<>();
        for (int t : tokens) {
            out.add(t);
        }
        return out;
    }

    /** Waits until Javalin's request log holds {@code entry}. */
    private static void awaitJavalinLog(ApiTestServer server, String entry) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!server.javalinRequests.contains(entry) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(server.javalinRequests.contains(entry), () -> entry + " not in " + server.javalinRequests);
    }

    @Test
    void shouldAnswerEveryClassOfQueryWithoutJavalinsPipeline() throws Exception {
        try (ApiTestServer server = new ApiTestServer(new ApiLimits(64 * 1024, 100_000, 256, null),
                new MemoryBudget(4 << 20, 200_000))) {
            assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                    registration("inst-a", 0, "tcp://127.0.0.1:7201")).status());
            int[] tokens = prompt(500, 64);
            server.storeGpu(CONTEXT, "inst-a", 0, server.hashes(CONTEXT, tokens));

            // 200 in both formats, with Accept negotiation.
            ApiTestServer.Response ok = server.post("/query", WireFormat.MSGPACK, map("model", "qwen",
                    "block_size", 16, "token_ids", bin(tokens)));
            assertEquals(200, ok.status());
            assertEquals("application/msgpack", ok.contentType());
            assertEquals(64L, ((Map<?, ?>) ((Map<?, ?>) ok.map().get("instances")).get("inst-a"))
                    .get("longest_matched"));
            ApiTestServer.Response json = server.post("/query", WireFormat.JSON, map("model", "qwen",
                    "block_size", 16, "token_ids", list(tokens)));
            assertEquals(200, json.status());
            assertEquals("application/json", json.contentType());
            assertEquals(ok.body(), json.body());
            // A body the server cannot read is answered in the format the Accept header asks for.
            ApiTestServer.Response unreadable = server.send("/query", "POST", "text/plain",
                    "{}".getBytes(StandardCharsets.US_ASCII), Map.of("Accept", "application/msgpack"));
            assertEquals("application/msgpack", unreadable.contentType());
            assertError(unreadable, 400, "Content-Type must be application/msgpack", "unsupported_content_type",
                    null);
            // /route and /query_by_hash.
            ApiTestServer.Response route = server.post("/route", WireFormat.MSGPACK, map("model", "qwen",
                    "block_size", 16, "token_ids", bin(tokens)));
            assertEquals(200, route.status(), () -> route.body().toString());
            assertEquals("inst-a", route.map().get("instance_id"));
            List<Long> hashes = new ArrayList<>();
            for (long h : server.hashes(CONTEXT, tokens)) {
                hashes.add(h);
            }
            assertEquals(ok.body(), server.post("/query_by_hash", WireFormat.MSGPACK, map("model", "qwen",
                    "block_size", 16, "seq_hashes", hashes)).body());

            // Each error class.
            assertError(server.send("/query", "POST", "text/plain", "{}".getBytes(StandardCharsets.US_ASCII),
                    Map.of()), 400, "Content-Type must be application/msgpack", "unsupported_content_type", null);
            assertError(server.send("/query", "POST", "application/msgpack", new byte[] {(byte) 0xc1}, Map.of()),
                    400, "Invalid msgpack object", "invalid_msgpack", null);
            assertError(server.send("/route", "POST", "application/json", "{\"model\":".getBytes(
                    StandardCharsets.US_ASCII), Map.of()), 400, "Invalid JSON object", "invalid_json", null);
            assertError(server.post("/query", WireFormat.MSGPACK, map("model", "qwen", "block_size", 16,
                    "token_ids", bin(tokens), "colour", "red")), 400, "unsupported request field: colour",
                    "unknown_field", "colour");
            assertError(server.post("/query_by_hash", WireFormat.JSON, map("model", "qwen", "block_size", 16)),
                    400, "seq_hashes is required", "missing", "seq_hashes");
            assertError(server.post("/route", WireFormat.MSGPACK, map("model", "nobody", "block_size", 16,
                    "token_ids", bin(tokens))), 404, "no candidate instance for context: default/nobody/16", null,
                    null);
            // 413: a body above the limit (declared), and a request above its memory budget.
            ApiTestServer.Response big = server.send("/query", "POST", "application/msgpack",
                    new byte[64 * 1024 + 1], Map.of());
            assertEquals(413, big.status());
            assertEquals("payload_too_large", big.map().get("reason"));
            ApiTestServer.Response overBudget = server.post("/query", WireFormat.MSGPACK, map("model", "qwen",
                    "block_size", 16, "token_ids", list(prompt(500, 16_000))));
            assertEquals(413, overBudget.status(), () -> overBudget.body().toString());
            assertEquals("payload_too_large", overBudget.map().get("reason"));
            assertEquals(1, server.budget().rejectedPerRequest());

            // Other methods on a hot path still go through Javalin: 405 with the structured body. Once its log
            // line is there, so are those of every earlier request that went through Javalin.
            assertError(server.send("/query", "PUT", "application/json", new byte[0], Map.of()), 405,
                    "Method not allowed", null, null);
            awaitJavalinLog(server, "PUT /query");
            assertTrue(server.javalinRequests.contains("POST /register"), server.javalinRequests::toString);
            for (String hot : List.of("POST /query", "POST /query_by_hash", "POST /route")) {
                assertTrue(!server.javalinRequests.contains(hot), () -> hot + " went through Javalin: "
                        + server.javalinRequests);
            }

            // Request metrics count the hot routes' answers.
            String metrics = server.metricsText();
            assertTrue(metrics.contains("conductor_http_requests_total{route=\"query\",status=\"2xx\"} 2.0"),
                    metrics);
            assertTrue(metrics.contains("conductor_http_requests_total{route=\"query\",status=\"4xx\"} 7.0"),
                    metrics);
            assertTrue(metrics.contains("conductor_http_requests_total{route=\"route\",status=\"4xx\"} 2.0"),
                    metrics);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"application/msgpack", "application/json"})
    void shouldNotSeeAPreviousRequestsBytesInTheReusedBuffers(String type) throws Exception {
        WireFormat format = WireFormat.ofContentType(type);
        try (ApiTestServer server = new ApiTestServer()) {
            assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                    registration("inst-a", 0, "tcp://127.0.0.1:7202")).status());
            int[] longPrompt = prompt(7, 4096);
            server.storeGpu(CONTEXT, "inst-a", 0, server.hashes(CONTEXT, longPrompt));
            for (int round = 0; round < 20; round++) {
                // A long prompt, then a short one that is a prefix of it, then one that is not: each answer must
                // count only its own tokens (a stale tail in a reused buffer would add blocks).
                Object longTokens = format == WireFormat.MSGPACK ? bin(longPrompt) : list(longPrompt);
                assertEquals(4096L, longestMatched(server.post("/query", format, map("model", "qwen",
                        "block_size", 16, "token_ids", longTokens))));
                int[] shortPrompt = prompt(7, 40);
                Object shortTokens = format == WireFormat.MSGPACK ? bin(shortPrompt) : list(shortPrompt);
                assertEquals(32L, longestMatched(server.post("/query", format, map("model", "qwen",
                        "block_size", 16, "token_ids", shortTokens))));
                int[] other = prompt(9, 40);
                Object otherTokens = format == WireFormat.MSGPACK ? bin(other) : list(other);
                ApiTestServer.Response none = server.post("/query", format, map("model", "qwen", "block_size", 16,
                        "token_ids", otherTokens));
                assertEquals(0L, longestMatched(none));
            }
        }
    }

    private static long longestMatched(ApiTestServer.Response r) {
        assertEquals(200, r.status(), () -> r.body().toString());
        Object a = ((Map<?, ?>) r.map().get("instances")).get("inst-a");
        return a == null ? 0L : (Long) ((Map<?, ?>) a).get("longest_matched");
    }

    @Test
    void shouldKeepTheThreadsBuffersBoundedAfterAHugeRequest() {
        RequestScratch scratch = RequestScratch.forThread();
        byte[] small = scratch.body(1000, null, 0);
        byte[] grown = scratch.body(40_000, small, 1000);
        assertSame(grown, scratch.body(30_000, null, 0), "a retained size is reused");
        byte[] huge = scratch.body(RequestScratch.RETAINED_BODY_BYTES + 1, grown, 40_000);
        assertNotSame(grown, huge);
        assertTrue(scratch.retainedBodyBytes() <= RequestScratch.RETAINED_BODY_BYTES);
        assertSame(grown, scratch.body(1000, null, 0), "the huge one-off is not kept");

        ResponseWriter w = ResponseWriter.reusable(WireFormat.MSGPACK);
        w.string("x".repeat(ResponseWriter.RETAINED_BYTES + 1));
        assertTrue(w.array().length > ResponseWriter.RETAINED_BYTES);
        ResponseWriter.shrinkThreadWriter();
        assertSame(w, ResponseWriter.reusable(WireFormat.MSGPACK));
        assertTrue(w.array().length <= ResponseWriter.RETAINED_BYTES, "a huge answer's buffer is dropped");
        assertEquals(0, w.length());

        int[] tokens = scratch.tokens(2048);
        int[] hugeTokens = scratch.tokens(RequestScratch.RETAINED_TOKENS + 1);
        assertNotSame(tokens, hugeTokens);
        assertTrue(scratch.retainedTokens() <= RequestScratch.RETAINED_TOKENS);
        assertSame(tokens, scratch.tokens(100));
    }
}
