package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.profile;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code POST /register} and {@code POST /unregister} against mooncake-api.md §3.2 / §3.3, msgpack and JSON. */
class RegisterContractTest {
    private static ApiTestServer server;

    @BeforeAll
    static void start() {
        server = new ApiTestServer();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @AfterEach
    void unregisterAll() throws Exception {
        for (var s : server.registry.snapshot().services()) {
            server.registry.unregister(s.registration().key());
        }
    }

    private static Map<String, Object> with(String key, Object value) {
        Map<String, Object> r = registration("inst-a", 0, "tcp://127.0.0.1:5557");
        r.put(key, value);
        return r;
    }

    private static Map<String, Object> without(String key) {
        Map<String, Object> r = registration("inst-a", 0, "tcp://127.0.0.1:5557");
        r.remove(key);
        return r;
    }

    private static Map<String, Object> withProfile(String key, Object value) {
        Map<String, Object> p = profile();
        p.put(key, value);
        return with("hash_profile", p);
    }

    private static Map<String, Object> withoutProfileKey(String key) {
        Map<String, Object> p = profile();
        p.remove(key);
        return with("hash_profile", p);
    }

    /** Each row: body, error, reason, field (status 400). */
    static Stream<Arguments> invalidRegistrations() {
        return Stream.of(
                Arguments.of(with("bogus", 1), "unsupported request field: bogus", "unknown_field", "bogus"),
                Arguments.of(without("endpoint"), "endpoint is required", "missing", "endpoint"),
                Arguments.of(with("endpoint", 5), "endpoint must be a string", "invalid_type", "endpoint"),
                Arguments.of(with("endpoint", ""), "endpoint must not be empty", "invalid_value", "endpoint"),
                Arguments.of(without("type"), "type is required", "missing", "type"),
                Arguments.of(with("type", 1), "type must be a string", "invalid_type", "type"),
                Arguments.of(with("type", "vllm"), "type must be vLLM or Mooncake", "invalid_value", "type"),
                Arguments.of(without("modelname"), "modelname is required", "missing", "modelname"),
                Arguments.of(with("modelname", ""), "modelname must not be empty", "invalid_value", "modelname"),
                Arguments.of(without("instance_id"), "instance_id is required", "missing", "instance_id"),
                Arguments.of(with("instance_id", null), "instance_id must be a string", "invalid_type",
                        "instance_id"),
                Arguments.of(without("block_size"), "block_size is required", "missing", "block_size"),
                Arguments.of(with("block_size", 16.5), "block_size must be an integer", "invalid_type",
                        "block_size"),
                Arguments.of(with("block_size", "16"), "block_size must be an integer", "invalid_type",
                        "block_size"),
                Arguments.of(with("block_size", 0), "block_size must be greater than zero", "out_of_range",
                        "block_size"),
                Arguments.of(with("block_size", -16), "block_size must be greater than zero", "out_of_range",
                        "block_size"),
                Arguments.of(with("replay_endpoint", null), "replay_endpoint must be a string", "invalid_type",
                        "replay_endpoint"),
                Arguments.of(with("lora_name", 3), "lora_name must be a string", "invalid_type", "lora_name"),
                Arguments.of(with("tenant_id", true), "tenant_id must be a string", "invalid_type", "tenant_id"),
                Arguments.of(with("cache_group", "0"), "cache_group must be an integer or null", "invalid_type",
                        "cache_group"),
                Arguments.of(with("cache_group", 1), "only cache group zero is supported", "unsupported",
                        "cache_group"),
                Arguments.of(with("hash_profile", "sha256"), "hash_profile must be a map", "invalid_type",
                        "hash_profile"),
                Arguments.of(withProfile("root_digest", "ab"), "unsupported request field: root_digest",
                        "unknown_field", "root_digest"),
                Arguments.of(withProfile("algorithm", ""), "algorithm must not be empty", "invalid_value",
                        "algorithm"),
                Arguments.of(withProfile("python_hash_seed", 0), "python_hash_seed must be a string",
                        "invalid_type", "python_hash_seed"),
                Arguments.of(withProfile("strategy", "vllm_v0"), "unsupported hash strategy: vllm_v0",
                        "invalid_value", "strategy"),
                Arguments.of(withProfile("algorithm", "xxhash"), "unsupported hash algorithm: xxhash",
                        "invalid_value", "algorithm"),
                Arguments.of(withProfile("index_projection", "high64"), "unsupported index projection: high64",
                        "invalid_value", "index_projection"),
                Arguments.of(withProfile("python_hash_seed", "-1"),
                        "python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
                        "invalid_value", "python_hash_seed"),
                Arguments.of(withProfile("python_hash_seed", "4294967296"),
                        "python_hash_seed must be in range 0..4294967295", "invalid_value", "python_hash_seed"),
                Arguments.of(with("block_size", new java.math.BigInteger("18446744073709551615")),
                        "block_size must be an integer", "invalid_type", "block_size"),
                Arguments.of(withoutProfileKey("index_projection"), "index_projection is required", "missing",
                        "index_projection"),
                Arguments.of(withProfile("strategy", null), "strategy must be a string", "invalid_type",
                        "strategy"),
                Arguments.of(withProfile("python_hash_seed", "00x"),
                        "python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
                        "invalid_value", "python_hash_seed"),
                Arguments.of(with("additionalsalt", 1), "additionalsalt must be a string", "invalid_type",
                        "additionalsalt"),
                Arguments.of(with("lora_id", "1"), "lora_id must be an integer", "invalid_type", "lora_id"),
                Arguments.of(without("dp_rank"), "dp_rank is required", "missing", "dp_rank"),
                Arguments.of(with("dp_rank", "0"), "dp_rank must be an integer", "invalid_type", "dp_rank"),
                Arguments.of(with("dp_rank", -1), "dp_rank must be a non-negative int", "out_of_range", "dp_rank"),
                Arguments.of(with("dp_rank", 2147483648L), "dp_rank must be a non-negative int", "out_of_range",
                        "dp_rank"));
    }

    @ParameterizedTest
    @MethodSource("invalidRegistrations")
    void shouldRejectRegistrationWithExactErrorWhenAFieldIsInvalid(Map<String, Object> body, String error,
            String reason, String field) throws Exception {
        for (WireFormat format : WireFormat.values()) {
            ApiTestServer.Response r = server.post("/register", format, body);

            assertError(r, 400, error, reason, field);
            assertEquals(0, server.registry.snapshot().services().size());
        }
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldReportTheFirstFailureInEvaluationOrderWhenSeveralFieldsAreInvalid(WireFormat format)
            throws Exception {
        // type is checked as a string early, but its value only after hash_profile (§3.2).
        Map<String, Object> body = with("type", "SGLangX");
        ((Map<String, Object>) body.get("hash_profile")).put("algorithm", "md5");
        body.put("dp_rank", -5);

        assertError(server.post("/register", format, body), 400, "unsupported hash algorithm: md5",
                "invalid_value", "algorithm");
        body.put("hash_profile", profile());
        assertError(server.post("/register", format, body), 400, "type must be vLLM or Mooncake", "invalid_value",
                "type");
        body.put("type", "vLLM");
        assertError(server.post("/register", format, body), 400, "dp_rank must be a non-negative int",
                "out_of_range", "dp_rank");
        Map<String, Object> unknownLast = with("zzz", 1);
        unknownLast.put("endpoint", "");
        assertError(server.post("/register", format, unknownLast), 400, "unsupported request field: zzz",
                "unknown_field", "zzz");
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldRegisterIdempotentlyAndRejectConflictsWhenTheKeyOrEndpointIsReused(WireFormat format)
            throws Exception {
        Map<String, Object> body = registration("inst-a", 0, "tcp://127.0.0.1:5557");

        ApiTestServer.Response first = server.post("/register", format, body);
        ApiTestServer.Response again = server.post("/register", format, body);
        Map<String, Object> changed = registration("inst-a", 0, "tcp://127.0.0.1:5557");
        changed.put("replay_endpoint", "tcp://127.0.0.1:5558");
        ApiTestServer.Response conflict = server.post("/register", format, changed);
        ApiTestServer.Response reuse = server.post("/register", format, registration("inst-b", 0,
                "tcp://127.0.0.1:5557"));

        assertEquals(200, first.status());
        assertEquals(format.mediaType(), first.contentType());
        assertEquals(map("status", "registered successfully", "instance_id", "inst-a"), first.body());
        assertEquals(first.body(), again.body());
        assertError(conflict, 400, "conflicting registration for service key: inst-a|default|0",
                "invalid_registration", null);
        assertError(reuse, 400, "conflicting active registration for endpoint: tcp://127.0.0.1:5557",
                "invalid_registration", null);
        assertEquals(1, server.registry.snapshot().services().size());
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldRejectAProfileThatDiffersFromTheContextsWhenAnotherRankRegisters(WireFormat format)
            throws Exception {
        server.post("/register", format, registration("inst-a", 0, "tcp://127.0.0.1:6001"));
        Map<String, Object> other = registration("inst-a", 1, "tcp://127.0.0.1:6002");
        ((Map<String, Object>) other.get("hash_profile")).put("python_hash_seed", "00");
        Map<String, Object> mooncake = registration("pool", 0, "tcp://127.0.0.1:6003");
        mooncake.put("type", "Mooncake");
        mooncake.remove("hash_profile");

        assertError(server.post("/register", format, other), 400,
                "failed to register prefix context: registration conflicts with the ContextKey hash profile",
                "invalid_registration", null);
        assertError(server.post("/register", format, mooncake), 400,
                "failed to bind shared-cache profile: hash profile conflicts with the registered ContextKey profile",
                "invalid_registration", null);
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldAcceptEveryErasFieldsAndTokenRehashModeWhenNoProfileIsGiven(WireFormat format) throws Exception {
        Map<String, Object> legacy = registration("go-era", 0, "tcp://127.0.0.1:6010");
        legacy.remove("hash_profile");
        legacy.put("additionalsalt", "s1");
        legacy.put("lora_id", -1);
        legacy.put("tenant_id", "");
        legacy.put("cache_group", null);
        legacy.put("block_size", 32);

        ApiTestServer.Response r = server.post("/register", format, legacy);
        Map<String, Object> services = server.get("/services", format.mediaType()).map();

        assertEquals(200, r.status(), () -> r.body().toString());
        Map<?, ?> entry = (Map<?, ?>) ((List<?>) services.get("services")).getFirst();
        assertEquals(ApiTestServer.NIL, entry.get("HashProfile"));
        assertEquals("default", entry.get("TenantID"));
        assertEquals("s1", entry.get("AdditionalSalt"));
        assertEquals(ApiTestServer.NIL, entry.get("CacheGroup"));
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldAcceptCacheGroupZeroAndTheRandomAndVllmNoneHashSeeds(WireFormat format) throws Exception {
        Map<String, Object> a = registration("seed-a", 0, "tcp://127.0.0.1:6030");
        a.put("cache_group", 0);
        a.put("modelname", "m-random");
        ((Map<String, Object>) a.get("hash_profile")).put("python_hash_seed", "random");
        Map<String, Object> b = registration("seed-b", 0, "tcp://127.0.0.1:6031");
        b.put("modelname", "m-none");
        ((Map<String, Object>) b.get("hash_profile")).put("python_hash_seed", "vllm-none-hash");

        assertEquals(200, server.post("/register", format, a).status());
        assertEquals(200, server.post("/register", format, b).status());

        Map<?, ?> first = (Map<?, ?>) ((List<?>) server.get("/services", format.mediaType()).map().get("services"))
                .getFirst();
        assertEquals(0L, first.get("CacheGroup"));
        assertEquals("78d6ac7e28de859e492449dcea03e3807377d69998c5af819fed33a6df490cad",
                ((Map<?, ?>) first.get("HashProfile")).get("root_digest"));
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldAnswer400WithoutRegisteringWhenTheEndpointIsMalformed(WireFormat format) throws Exception {
        ApiTestServer.Response r = server.post("/register", format, registration("x", 0, "not-an-endpoint"));

        // The reference answers 500 "Failed to subscribe" here; a malformed value is the client's fault (issue 15).
        assertError(r, 400, "endpoint must be tcp://HOST:PORT, ipc://PATH or inproc://NAME, got \"not-an-endpoint\"",
                "invalid_value", "endpoint");
        assertEquals(0, server.registry.snapshot().services().size());
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldUnregisterWithReferenceRulesWhenKeysAreValidOrNot(WireFormat format) throws Exception {
        server.post("/register", format, registration("inst-a", 3, "tcp://127.0.0.1:6020"));

        ApiTestServer.Response ok = server.post("/unregister", format,
                map("instance_id", "inst-a", "tenant_id", "", "dp_rank", 3));
        ApiTestServer.Response gone = server.post("/unregister", format, map("instance_id", "inst-a",
                "dp_rank", 3));

        assertEquals(200, ok.status());
        assertEquals(map("status", "unregistered successfully", "removed_instances", List.of("inst-a|default|3")),
                ok.body());
        assertError(gone, 404, "service not found: inst-a|default|3", null, null);
        assertError(server.post("/unregister", format, map("instance_id", "a", "dp_rank", "0")), 400,
                "dp_rank must be a non-negative int", "invalid_value", "dp_rank");
        assertError(server.post("/unregister", format, map("instance_id", "a", "dp_rank", -1)), 400,
                "dp_rank must be a non-negative int", "invalid_value", "dp_rank");
        assertError(server.post("/unregister", format, map("instance_id", "a")), 400, "dp_rank is required",
                "missing", "dp_rank");
        assertError(server.post("/unregister", format, map("dp_rank", 0)), 400, "instance_id is required",
                "missing", "instance_id");
        assertError(server.post("/unregister", format, map("instance_id", "a", "tenant_id", 1, "dp_rank", 0)),
                400, "tenant_id must be a string", "invalid_type", "tenant_id");
        assertError(server.post("/unregister", format, map("type", "vLLM", "instance_id", "a", "dp_rank", 0)),
                400, "unsupported request field: type", "unknown_field", "type");
    }
}
