package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The common body rules of mooncake-api.md §3.1, methods, unknown paths, body limit and the admin key. */
class BodyChecksContractTest {
    private static final String MSGPACK = "application/msgpack";
    private static ApiTestServer server;

    @BeforeAll
    static void start() {
        server = new ApiTestServer();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"/register", "/unregister", "/query", "/query_by_hash", "/route", "/cache", "/feedback"})
    void shouldApplyBodyChecksInOrderWhenTheBodyIsMalformed(String path) throws Exception {
        byte[] map = ApiTestServer.encode(WireFormat.MSGPACK, map("x", 1));

        assertError(server.send(path, "POST", "text/plain", map, Map.of()), 400,
                "Content-Type must be application/msgpack", "unsupported_content_type", null);
        assertError(server.send(path, "POST", "", map, Map.of()), 400,
                "Content-Type must be application/msgpack", "unsupported_content_type", null);
        assertError(server.send(path, "POST", MSGPACK, new byte[0], Map.of()), 400, "Invalid msgpack object",
                "invalid_msgpack", null);
        assertError(server.send(path, "POST", MSGPACK, new byte[] {(byte) 0x82, (byte) 0xa1}, Map.of()), 400,
                "Invalid msgpack object", "invalid_msgpack", null);
        assertError(server.send(path, "POST", MSGPACK, new byte[] {(byte) 0x93, 1, 2, 3}, Map.of()), 400,
                "request body must be a msgpack map", "invalid_msgpack", null);
        assertError(server.send(path, "POST", MSGPACK, new byte[] {(byte) 0x81, 1, 2}, Map.of()), 400,
                "map keys must be strings", "invalid_msgpack", null);
        assertError(server.send(path, "POST", "application/json", "{\"a\":".getBytes(StandardCharsets.UTF_8),
                Map.of()), 400, "Invalid JSON object", "invalid_json", null);
        assertError(server.send(path, "POST", "application/json", "[1]".getBytes(StandardCharsets.UTF_8),
                Map.of()), 400, "request body must be a JSON object", "invalid_json", null);
    }

    @Test
    void shouldIgnoreTrailingBytesWhenTheFirstValueIsComplete() throws Exception {
        byte[] body = ApiTestServer.encode(WireFormat.MSGPACK, map("instance_id", "nobody", "dp_rank", 0));
        byte[] padded = java.util.Arrays.copyOf(body, body.length + 3);

        ApiTestServer.Response r = server.send("/unregister", "POST", "application/msgpack; charset=binary", padded,
                Map.of());

        assertError(r, 404, "service not found: nobody|default|0", null, null);
    }

    @Test
    void shouldRejectAnArrayHeaderThatClaimsMoreElementsThanTheBodyHolds() throws Exception {
        // map{"token_ids": array32 of 2^31 elements} with nothing after: must not allocate, must be a clean 400.
        byte[] body = {(byte) 0x81, (byte) 0xa9, 't', 'o', 'k', 'e', 'n', '_', 'i', 'd', 's', (byte) 0xdd, 0x7f,
            (byte) 0xff, (byte) 0xff, (byte) 0xff};

        assertError(server.send("/query", "POST", MSGPACK, body, Map.of()), 400, "Invalid msgpack object",
                "invalid_msgpack", null);
    }

    @Test
    void shouldRejectDeepNestingWithoutFailing() throws Exception {
        byte[] body = new byte[5000];
        body[0] = (byte) 0x81;
        body[1] = (byte) 0xa1;
        body[2] = 'x';
        java.util.Arrays.fill(body, 3, body.length, (byte) 0x91);

        assertError(server.send("/query", "POST", MSGPACK, body, Map.of()), 400, "Invalid msgpack object",
                "invalid_msgpack", null);
        String json = "{\"x\":" + "[".repeat(3000) + "]".repeat(3000) + "}";
        assertError(server.send("/query", "POST", "application/json", json.getBytes(StandardCharsets.UTF_8),
                Map.of()), 400, "Invalid JSON object", "invalid_json", null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"GET", "PUT", "DELETE"})
    void shouldAnswer405WhenTheMethodIsWrong(String method) throws Exception {
        for (String path : new String[] {"/register", "/unregister", "/query", "/route", "/cache", "/feedback"}) {
            assertError(server.send(path, method, "", new byte[0], Map.of()), 405, "Method not allowed", null, null);
        }
        if (!method.equals("GET")) {
            assertError(server.send("/services", method, "", new byte[0], Map.of()), 405, "Method not allowed",
                    null, null);
            assertError(server.send("/global_view", method, "", new byte[0], Map.of()), 405, "Method not allowed",
                    null, null);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"/register", "/unregister", "/query", "/query_by_hash", "/route", "/cache", "/feedback"})
    void shouldAnswerErrorsInJsonWhenTheRequestIsJsonOrHasNoContentType(String path) throws Exception {
        byte[] json = "{\"block_size\": \"x\"}".getBytes(StandardCharsets.UTF_8);
        for (String type : new String[] {"application/json", "", "application/x-www-form-urlencoded"}) {
            ApiTestServer.Response r = server.send(path, "POST", type, json, Map.of());
            assertEquals(400, r.status(), type + ": " + r.body());
            assertEquals("application/json", r.contentType(), "error of a '" + type + "' request: " + r.body());
            assertTrue(r.map().containsKey("error") && r.map().containsKey("reason"), r.body().toString());
        }
        ApiTestServer.Response msgpack = server.send(path, "POST", "", json, Map.of("Accept", MSGPACK));
        assertEquals("application/msgpack", msgpack.contentType(), "Accept: msgpack still gets msgpack");
        ApiTestServer.Response wrongMethod = server.send(path, "GET", "", new byte[0], Map.of());
        assertEquals(405, wrongMethod.status());
        assertEquals("application/json", wrongMethod.contentType());
    }

    @Test
    void shouldAnswer405InJsonWhenTheClientAcceptsJson() throws Exception {
        ApiTestServer.Response r = server.send("/query", "GET", "", new byte[0], Map.of("Accept",
                "application/json"));

        assertEquals("application/json", r.contentType());
        assertEquals(405, r.status());
    }

    @Test
    void shouldAnswerTheFrameworks404WhenThePathIsUnknown() throws Exception {
        assertEquals(404, server.send("/v2/query", "POST", MSGPACK, new byte[] {(byte) 0x80}, Map.of()).status());
    }

    @Test
    void shouldAnswer413WithAStructuredBodyWhenTheBodyExceedsTheLimit() throws Exception {
        try (ApiTestServer small = new ApiTestServer(new ApiLimits(1024, 64, 32, null))) {
            byte[] big = new byte[4096];

            ApiTestServer.Response r = small.send("/query", "POST", MSGPACK, big, Map.of());

            assertError(r, 413, "request body exceeds 1024 bytes", "payload_too_large", null);
        }
    }

    @Test
    void shouldAnswer400WhenTokenCountOrStringLengthExceedTheLimits() throws Exception {
        try (ApiTestServer small = new ApiTestServer(new ApiLimits(1 << 20, 64, 32, null))) {
            Map<String, Object> tooMany = map("model", "m", "block_size", 16, "token_ids",
                    java.util.Collections.nCopies(65, 1));
            Map<String, Object> tooLong = map("model", "m".repeat(33), "block_size", 16, "token_ids",
                    java.util.List.of());

            assertError(small.post("/query", WireFormat.MSGPACK, tooMany), 400,
                    "token_ids must have at most 64 elements", "out_of_range", "token_ids");
            assertError(small.post("/query", WireFormat.JSON, tooLong), 400, "model must be at most 32 bytes long",
                    "out_of_range", "model");
            assertError(small.post("/query", WireFormat.MSGPACK, map("model", "m", "block_size", 16, "token_ids",
                    new byte[65 * 4])), 400, "token_ids must have at most 64 elements", "out_of_range", "token_ids");
        }
    }

    @Test
    void shouldRequireTheAdminKeyOnRegistrationRoutesOnlyWhenOneIsConfigured() throws Exception {
        try (ApiTestServer guarded = new ApiTestServer(ApiLimits.defaults().withAdminApiKey("s3cret"))) {
            byte[] reg = ApiTestServer.encode(WireFormat.MSGPACK, registration("a", 0, "tcp://127.0.0.1:7000"));
            byte[] unreg = ApiTestServer.encode(WireFormat.MSGPACK, map("instance_id", "a", "dp_rank", 0));

            assertError(guarded.send("/register", "POST", MSGPACK, reg, Map.of()), 401,
                    "missing or invalid X-API-Key", "unauthorized", null);
            assertError(guarded.send("/register", "POST", MSGPACK, reg, Map.of("X-API-Key", "wrong")), 401,
                    "missing or invalid X-API-Key", "unauthorized", null);
            assertError(guarded.send("/unregister", "POST", MSGPACK, unreg, Map.of()), 401,
                    "missing or invalid X-API-Key", "unauthorized", null);
            assertEquals(200, guarded.send("/register", "POST", MSGPACK, reg, Map.of("X-API-Key", "s3cret"))
                    .status());
            assertEquals(200, guarded.get("/services", "").status());
            assertEquals(200, guarded.post("/query", WireFormat.MSGPACK, map("model", "qwen", "block_size", 16,
                    "token_ids", java.util.List.of())).status());
            assertEquals(200, guarded.send("/unregister", "POST", MSGPACK, unreg, Map.of("X-API-Key", "s3cret"))
                    .status());
        }
    }

    @Test
    void shouldNeverAnswer500WhenFedRandomBytes() throws Exception {
        java.util.Random random = new java.util.Random(42);
        for (int i = 0; i < 300; i++) {
            byte[] body = new byte[random.nextInt(64)];
            random.nextBytes(body);
            if (body.length > 0) {
                body[0] = (byte) (0x80 | random.nextInt(4));
            }
            for (String path : new String[] {"/register", "/query", "/route", "/cache"}) {
                int status = server.send(path, "POST", i % 2 == 0 ? MSGPACK : "application/json", body, Map.of())
                        .status();
                assertTrue(status == 400 || status == 200, path + " answered " + status);
            }
        }
    }
}
