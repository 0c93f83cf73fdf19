package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.conductor.index.prefix.ContextKey;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code kv_role} in {@code /register}: a {@code /route} without candidates never picks an instance registered only
 * as a decode instance ({@code kv_consumer}), even when it holds the longest prefix; named as a candidate it still
 * can be; a bad role is a 400 with a reason.
 */
class RouteRolesTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);

    private ApiTestServer server;
    private final List<Integer> prompt = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        server = new ApiTestServer();
        for (int i = 0; i < 64; i++) {
            prompt.add(11 * i);
        }
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private void register(String instance, int port, String role) throws Exception {
        Map<String, Object> body = registration(instance, 0, "tcp://127.0.0.1:" + port);
        if (role != null) {
            body.put("kv_role", role);
        }
        ApiTestServer.Response r = server.post("/register", WireFormat.JSON, body);
        assertEquals(200, r.status(), () -> r.body().toString());
    }

    private ApiTestServer.Response route(Object... extra) throws Exception {
        // The longest-prefix policy: what is asserted here is who may be a candidate, not the cost model's choice.
        Map<String, Object> body = map("model", "qwen", "block_size", 16, "token_ids", prompt,
                "policy", "longest_prefix");
        body.putAll(map(extra));
        return server.post("/route", WireFormat.JSON, body);
    }

    @Test
    void shouldNeverRouteToADecodeInstanceWithoutCandidates() throws Exception {
        register("prefill-0", 7501, "kv_producer");
        register("prefill-1", 7502, null); // kv_both by default
        register("decode-0", 7503, "kv_consumer");
        long[] hashes = server.hashes(CONTEXT, prompt.stream().mapToInt(Integer::intValue).toArray());
        server.storeGpu(CONTEXT, "decode-0", 0, Arrays.copyOf(hashes, 4)); // the decode instance holds the most

        Set<Object> chosen = new HashSet<>();
        for (int i = 0; i < 8; i++) {
            ApiTestServer.Response r = route();
            assertEquals(200, r.status(), () -> r.body().toString());
            chosen.add(r.map().get("instance_id"));
            assertEquals(Set.of("prefill-0", "prefill-1"), ((Map<?, ?>) r.map().get("candidates")).keySet());
        }
        assertEquals(Set.of("prefill-0", "prefill-1"), chosen);

        server.storeGpu(CONTEXT, "prefill-1", 0, Arrays.copyOf(hashes, 2));
        assertEquals("prefill-1", route().map().get("instance_id"));
        assertEquals("decode-0", route("candidates", List.of("decode-0", "prefill-1")).map().get("instance_id"));
    }

    @Test
    void shouldListEachRegistrationsRoleInServices() throws Exception {
        register("prefill-0", 7531, null);
        register("decode-0", 7532, "kv_consumer");
        ApiTestServer.Response r = server.get("/services", "application/json");
        Map<String, Object> roles = new java.util.TreeMap<>();
        for (Object s : (List<?>) r.map().get("services")) {
            Map<?, ?> service = (Map<?, ?>) s;
            roles.put((String) service.get("InstanceID"), service.get("KvRole"));
        }
        assertEquals(Map.of("decode-0", "kv_consumer", "prefill-0", "kv_both"), roles);
    }

    @Test
    void shouldAnswer404WhenOnlyDecodeInstancesAreRegistered() throws Exception {
        register("decode-0", 7511, "kv_consumer");
        assertEquals(404, route().status());
    }

    @Test
    void shouldRejectAnUnknownRole() throws Exception {
        Map<String, Object> body = registration("x", 0, "tcp://127.0.0.1:7521");
        body.put("kv_role", "decoder");
        assertError(server.post("/register", WireFormat.JSON, body), 400,
                "kv_role must be kv_producer, kv_consumer or kv_both", "invalid_value", "kv_role");
    }
}
