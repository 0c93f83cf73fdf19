package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.registration;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.events.SubscriberConfig;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 15 points 11 and 12: malformed {@code endpoint} / {@code replay_endpoint} values answer 400 with a reason
 * (never a 5xx, which is only for our own faults), wildcard binds are refused unless allowed, and the optional
 * allowlist restricts registered hosts. Against the real HTTP server with real ZMQ subscriptions.
 */
class EndpointValidationTest {
    private static ApiTestServer server;

    @BeforeAll
    static void start() {
        server = new ApiTestServer(ApiLimits.defaults(), new ZmqEventStreams(SubscriberConfig.defaults(), 64));
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

    /** Values that answered 500 "Failed to subscribe" before (the probe's list and more). */
    static Stream<String> malformed() {
        return Stream.of(" ", "  ", "\t", "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", ":65536", "udp://",
                "udp://127.0.0.1:5557", "ipc://", "inproc://", "TCP://127.0.0.1:5557", "Tcp://127.0.0.1:5557",
                "tcp://127.0.0.1:5557\n", "\ntcp://127.0.0.1:5557", "tcp://127.0.0.1:5557\r", "tcp://127.0.0.1",
                "tcp://:5557", "tcp://127.0.0.1:", "tcp://127.0.0.1:abc", "tcp://127.0.0.1:-1",
                "tcp://127.0.0.1:99999", "tcp://127.0.0.1:00000", "tcp://127.0.0.1:1234567", "tcp://256.1.1.1:5557",
                "tcp://[::1:5557", "tcp://[zz]:5557", "tcp://[]:5557", "tcp://host name:5557", "tcp://h\u0000:5557",
                "tcp://a..b:5557", "tcp://.a:5557", "tcp://a.:5557", "http://127.0.0.1:5557",
                "pgm://eth0;239.1.1.1:5555", "epgm://eth0;239.1.1.1:5555", "tcp//127.0.0.1:5557", "127.0.0.1:5557",
                "tcp://127.0.0.1:5557/path", "tcp://127.0.0.1:5557 ", " tcp://127.0.0.1:5557",
                "tcp://user@127.0.0.1:5557", "ipc:// space", "ipc://a\nb", "tcp://*:0", "vsock://1:2",
                "ws://127.0.0.1:5557", "tcp://127.0.0.1;127.0.0.2:5557", "tcp://\u00e9:5557", "tcp://127.0.0.1:5557:1",
                "tcp://", "://", "tcp:", "x", "\u0000", "tcp://127.0.0.1:+5557", "tcp://0x7f.0.0.1:5557:",
                "tcp://[::1]", "tcp://[::1]:0", "tcp://localhost:65536", "inproc:// ");
    }

    static Stream<Arguments> malformedInBothFields() {
        return malformed().flatMap(v -> Stream.of(Arguments.of("endpoint", v), Arguments.of("replay_endpoint", v)));
    }

    @ParameterizedTest
    @MethodSource("malformedInBothFields")
    void shouldAnswer400WithAReasonWhenAnEndpointIsMalformed(String field, String value) throws Exception {
        Map<String, Object> body = registration("bad", 0, "tcp://127.0.0.1:5999");
        body.put(field, value);

        ApiTestServer.Response r = server.post("/register", WireFormat.JSON, body);

        assertEquals(400, r.status(), field + "=" + escape(value) + " -> " + r.body());
        assertEquals("invalid_value", r.map().get("reason"), escape(value));
        assertEquals(field, r.map().get("field"), escape(value));
        String error = (String) r.map().get("error");
        assertTrue(error.startsWith(field + " "), error);
        assertTrue(error.chars().noneMatch(c -> c < 0x20), "no raw control characters in the message: " + error);
        assertEquals(0, server.registry.snapshot().services().size());
    }

    @Test
    void shouldRegisterWellFormedEndpoints() throws Exception {
        int n = 0;
        for (String ok : List.of("tcp://127.0.0.1:5557", "tcp://localhost:5558", "tcp://[::1]:5559",
                "ipc:///tmp/conductor-test.ipc", "inproc://engine")) {
            ApiTestServer.Response r = server.post("/register", WireFormat.JSON, registration("ok" + n++, 0, ok));
            assertEquals(200, r.status(), ok + " -> " + r.body());
        }
    }

    @Test
    void shouldAnswer400WhenTheHostNameDoesNotResolve() throws Exception {
        ApiTestServer.Response r = server.post("/register", WireFormat.JSON,
                registration("nx", 0, "tcp://no-such-host.invalid:5560"));

        assertEquals(400, r.status(), r.body().toString());
        assertEquals("invalid_value", r.map().get("reason"));
        assertEquals("endpoint", r.map().get("field"));
        assertEquals(0, server.registry.snapshot().services().size());
    }

    @Test
    void shouldRefuseAWildcardBindUnlessAllowed() throws Exception {
        ApiTestServer.Response r = server.post("/register", WireFormat.JSON, registration("w", 0, "tcp://*:5601"));

        assertEquals(400, r.status(), r.body().toString());
        assertEquals("not_allowed", r.map().get("reason"));
        assertEquals("endpoint", r.map().get("field"));
        assertEquals(0, server.registry.snapshot().services().size());

        EndpointPolicy allowing = new EndpointPolicy(true, List.of());
        allowing.check("endpoint", "tcp://*:5601"); // no exception
    }

    @Test
    void shouldAdmitOnlyAllowlistedHostsWhenAnAllowlistIsSet() {
        EndpointPolicy policy = new EndpointPolicy(false, List.of("10.0.0.0/8", "fd00::/8", "*.prefill.svc",
                "engine-0"));

        policy.check("endpoint", "tcp://10.1.2.3:5557");
        policy.check("endpoint", "tcp://[fd00::5]:5557");
        policy.check("endpoint", "tcp://a.prefill.svc:5557");
        policy.check("endpoint", "tcp://A.PREFILL.SVC:5557");
        policy.check("endpoint", "tcp://engine-0:5557");
        policy.check("endpoint", "ipc:///run/engine.ipc");
        for (String refused : List.of("tcp://11.0.0.1:5557", "tcp://[fe80::1]:5557", "tcp://prefill.svc:5557",
                "tcp://evil.example:5557", "tcp://engine-1:5557", "tcp://127.0.0.1:5557")) {
            ApiException e = assertThrows(ApiException.class, () -> policy.check("endpoint", refused), refused);
            assertEquals(400, e.status());
            assertEquals(Reason.NOT_ALLOWED, e.reason(), refused);
        }
        assertThrows(IllegalArgumentException.class, () -> new EndpointPolicy(false, List.of("10.0.0.0/33")));
        assertThrows(IllegalArgumentException.class, () -> new EndpointPolicy(false, List.of("host/8")));
        assertThrows(IllegalArgumentException.class, () -> new EndpointPolicy(false, List.of("a b")));
    }

    @Test
    void shouldRefuseANonAllowlistedHostOverHttp() throws Exception {
        try (ApiTestServer strict = new ApiTestServer(ApiLimits.defaults(), new EndpointPolicy(false,
                List.of("10.0.0.0/8")))) {
            ApiTestServer.Response r = strict.post("/register", WireFormat.MSGPACK,
                    registration("x", 0, "tcp://127.0.0.1:5557"));

            assertEquals(400, r.status());
            assertEquals("not_allowed", r.map().get("reason"));
            assertEquals("endpoint host \"127.0.0.1\" is not on the endpoint allowlist", r.map().get("error"));
        }
    }

    @Test
    void shouldRefuseATokenRehashRegistrationTheTableBudgetCannotHold() throws Exception {
        long oneFullTable = io.conductor.index.hash.TokenRehasher.fullTableBytes(
                ZmqEventStreams.DEFAULT_REHASH_CAPACITY, 32);
        try (ApiTestServer small = new ApiTestServer(ApiLimits.defaults(), new ZmqEventStreams(
                SubscriberConfig.defaults(), ZmqEventStreams.DEFAULT_REHASH_CAPACITY, oneFullTable + 1024))) {
            Map<String, Object> first = registration("r0", 0, "tcp://127.0.0.1:5701");
            first.remove("hash_profile");
            Map<String, Object> second = registration("r1", 0, "tcp://127.0.0.1:5702");
            second.remove("hash_profile");
            Map<String, Object> profiled = registration("p0", 0, "tcp://127.0.0.1:5703");
            profiled.put("block_size", 32); // another context: a profiled stream needs no table

            assertEquals(200, small.post("/register", WireFormat.JSON, first).status());
            ApiTestServer.Response refused = small.post("/register", WireFormat.JSON, second);
            assertEquals(200, small.post("/register", WireFormat.JSON, profiled).status());

            assertEquals(503, refused.status(), refused.body().toString());
            assertEquals("insufficient_memory", refused.map().get("reason"));
            assertTrue(((String) refused.map().get("error")).contains("hash_profile"), refused.body().toString());
            assertEquals(2, small.registry.snapshot().services().size());
            // Unregistering gives the table back: the refused registration now fits.
            small.registry.unregister(small.registry.snapshot().services().stream()
                    .filter(s -> s.registration().instanceId().equals("r0")).findFirst().orElseThrow()
                    .registration().key());
            assertEquals(200, small.post("/register", WireFormat.JSON, second).status());
        }
    }

    private static String escape(String s) {
        return LogText.quote(s);
    }
}
