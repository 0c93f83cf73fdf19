package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.EndpointOnlyStreams;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.Tier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Nothing of an unregistered instance stays behind (issue 15 soak, issue 14): over real HTTP, clients register,
 * route, report and unregister, and afterwards the index's pool-reader declarations, the cost policy's
 * reservations, learned costs and per-instance series are back where they started. The soak found the first one:
 * every engine registration declared its instance a reader of every pool and nothing withdrew it, about 230 bytes
 * per registered-and-unregistered client. Also the reservations' overall bound (candidates are client-supplied
 * ids) and the sweep of queues whose reservations have ended.
 */
class UnregisterCleanupTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);

    private ApiTestServer server;
    private final List<Integer> prompt = new ArrayList<>();

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private void start() {
        // Prefill in seconds (1 token/s plus 10 s), an hour's TTL: nothing ends on its own during the test.
        server = new ApiTestServer(ApiLimits.defaults(), new EndpointOnlyStreams(), new RoutingSettings("cost",
                new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 2, 1, 3_600_000, true));
        for (int i = 0; i < 64; i++) {
            prompt.add(7 * i + 3);
        }
    }

    private void ok(String path, Map<String, Object> body) throws Exception {
        ApiTestServer.Response r = server.post(path, WireFormat.JSON, body);
        assertEquals(200, r.status(), () -> path + " " + r.body());
    }

    private long route(String candidate) throws Exception {
        ApiTestServer.Response r = server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16,
                "token_ids", prompt, "candidates", List.of(candidate)));
        assertEquals(200, r.status(), () -> r.body().toString());
        assertEquals(candidate, r.map().get("instance_id"));
        return (Long) r.map().get("route_id");
    }

    /** Series lines naming {@code instance_id="id"}. */
    private List<String> seriesOf(String id) throws Exception {
        List<String> out = new ArrayList<>();
        for (String line : server.metricsText().split("\n")) {
            if (!line.startsWith("#") && line.contains("instance_id=\"" + id + "\"")) {
                out.add(line);
            }
        }
        return out;
    }

    private long metric(String line) throws Exception {
        for (String l : server.metricsText().split("\n")) {
            if (l.startsWith(line + " ")) {
                return (long) Double.parseDouble(l.substring(line.length() + 1));
            }
        }
        throw new AssertionError("no " + line);
    }

    @Test
    void shouldLeaveNoPoolReaderOfAnUnregisteredInstanceAfterManyCycles() throws Exception {
        start();
        ok("/register", registration("keep", 0, "tcp://127.0.0.1:9001"));
        int baseline = server.index.poolReaderInstances();
        assertEquals(1, baseline);
        for (int i = 0; i < 500; i++) {
            ok("/register", registration("churn-" + i, 0, "tcp://127.0.0.1:" + (10_000 + i)));
            ok("/unregister", map("instance_id", "churn-" + i, "dp_rank", 0));
        }
        assertEquals(baseline, server.index.poolReaderInstances(), "pool readers after 500 register/unregister");
    }

    @Test
    void shouldKeepAnInstanceReadingThePoolsWhileAnyOfItsRanksIsRegistered() throws Exception {
        start();
        ok("/register", registration("two", 0, "tcp://127.0.0.1:9011"));
        ok("/register", registration("two", 1, "tcp://127.0.0.1:9012"));
        int[] tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        server.storePool(CONTEXT, Tier.CPU, server.hashes(CONTEXT, tokens)[0]);
        ok("/unregister", map("instance_id", "two", "dp_rank", 0));
        assertEquals(1, server.index.poolReaderInstances(), "rank 1 still holds the declaration");
        ApiTestServer.Response q = server.post("/query", WireFormat.JSON, map("model", "qwen", "block_size", 16,
                "token_ids", List.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)));
        assertEquals(200, q.status(), () -> q.body().toString());
        Map<?, ?> two = (Map<?, ?>) ((Map<?, ?>) q.map().get("instances")).get("two");
        assertNotNull(two, () -> "the remaining rank still reads the pool: " + q.body());
        assertEquals(16L, two.get("longest_matched"));
        ok("/unregister", map("instance_id", "two", "dp_rank", 1));
        assertEquals(0, server.index.poolReaderInstances());
    }

    @Test
    void shouldRemoveAnUnregisteredInstancesRoutingStateAndSeries() throws Exception {
        start();
        ok("/register", registration("a", 0, "tcp://127.0.0.1:9021"));
        ok("/register", registration("b", 0, "tcp://127.0.0.1:9022"));
        long first = route("a");
        route("a");
        route("b");
        // A named report: prediction error and a learned speed for a.
        ok("/feedback", map("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id", first,
                "prefill_ms", 500, "ttft_ms", 600));
        assertTrue(seriesOf("a").stream().anyMatch(l -> l.startsWith("conductor_route_prediction_error_ratio")),
                "a has its prediction-error series");
        assertTrue(seriesOf("a").stream().anyMatch(l -> l.startsWith("conductor_route_prefill_tokens_per_second")),
                "a has its learned-speed series");
        assertEquals(1, server.routing.ledger().pending("a"));
        assertEquals(1, server.routing.costs().learnedInstances());

        ok("/unregister", map("instance_id", "a", "dp_rank", 0));

        assertEquals(List.of(), seriesOf("a"), "no series of the unregistered instance");
        assertEquals(0, server.routing.ledger().pending("a"));
        assertEquals(1, server.routing.ledger().instanceCount(), "only b has a queue");
        assertEquals(0, server.routing.costs().learnedInstances());
        assertEquals(1L, metric("conductor_route_reservations_ended_total{reason=\"unregistered\"}"));
        assertEquals(1, server.routing.ledger().pending("b"), "the other instance keeps its reservation");
        assertTrue(server.routing.ledger().queueNanos("b", server.routing.ledger().now()) > 0);
    }

    @Test
    void shouldBeBackToBaselineAfterManyRegisterRouteReportUnregisterCycles() throws Exception {
        start();
        ok("/register", registration("keep", 0, "tcp://127.0.0.1:9031"));
        route("keep");
        int series = server.metricsText().split("\n").length;
        for (int i = 0; i < 300; i++) {
            String id = "cycle-" + i;
            ok("/register", registration(id, 0, "tcp://127.0.0.1:" + (11_000 + i)));
            long routeId = route(id);
            route(id);
            ok("/feedback", map("instance_id", id, "predicted_tokens", 0, "cached_tokens", 0, "route_id", routeId,
                    "prefill_ms", 100 + i, "ttft_ms", 200 + i));
            ok("/unregister", map("instance_id", id, "dp_rank", 0));
        }
        assertEquals(1, server.index.poolReaderInstances());
        assertEquals(1, server.routing.ledger().instanceCount());
        assertEquals(1, server.routing.ledger().reservations());
        assertEquals(0, server.routing.costs().learnedInstances());
        assertEquals(series, server.metricsText().split("\n").length, "exposition lines after the churn");
        assertEquals(300L, metric("conductor_route_reservations_ended_total{reason=\"unregistered\"}"));
    }

    @Test
    void shouldBoundReservationsOverAllInstancesAndEvictTheOldest() {
        LoadLedger ledger = new LoadLedger(3_600_000_000_000L);
        long now = System.nanoTime();
        int ids = LoadLedger.MAX_RESERVATIONS / LoadLedger.MAX_PER_INSTANCE + 8;
        LoadLedger.Reservation oldest = ledger.reserve("id-0", 1_000, 0, false, 1, 1, now);
        assertNotNull(oldest);
        for (int i = 0; i < ids; i++) {
            for (int k = 0; k < LoadLedger.MAX_PER_INSTANCE; k++) {
                ledger.reserve("id-" + i, 1_000, 0, false, 1, 1, now);
                assertTrue(ledger.reservations() <= LoadLedger.MAX_RESERVATIONS);
            }
        }
        assertEquals(LoadLedger.MAX_RESERVATIONS, ledger.reservations());
        long made = (long) ids * LoadLedger.MAX_PER_INSTANCE + 1;
        assertEquals(made - LoadLedger.MAX_RESERVATIONS, ledger.ended(LoadLedger.End.EVICTED));
        // The oldest went first: its route id no longer ends anything.
        assertEquals(null, ledger.releaseByFeedback("id-0", oldest.routeId, now));
        // And every queue's own schedule is consistent with what it still holds.
        for (int i = 0; i < ids; i++) {
            assertEquals(ledger.pending("id-" + i) * 1_000L, ledger.queueNanos("id-" + i, now));
        }
    }

    @Test
    void shouldDropTheQueuesOfIdsNamedOnceAfterTheirReservationsEnd() {
        long ttl = 1_000_000_000L;
        LoadLedger ledger = new LoadLedger(ttl, true);
        for (int i = 0; i < 1_000; i++) {
            assertNotNull(ledger.reserve("fresh-" + i, 1_000, 0, false, 1, 1, 0));
        }
        assertEquals(1_000, ledger.instanceCount());
        ledger.advanceClock(3 * ttl);
        assertNotNull(ledger.reserve("later", 1_000, 0, false, 1, 1, 3 * ttl));
        assertEquals(1, ledger.instanceCount(), "queues whose reservations passed their TTL are swept");
        assertEquals(1_000L, ledger.ended(LoadLedger.End.TTL));
    }
}
