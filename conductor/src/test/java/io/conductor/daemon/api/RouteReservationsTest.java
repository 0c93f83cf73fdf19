package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.EndpointOnlyStreams;
import io.conductor.daemon.service.EventStreams;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.index.prefix.ContextKey;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * Reservations of the cost policy end on the engine's {@code BlockStored} (real ZMQ publisher, real subscriber and
 * sink), on {@code /feedback} and on their TTL; {@code /feedback} durations refine the instance's prefill cost and
 * the prediction error is exported. Prefill costs are in seconds so the queues' real-time drain is negligible.
 */
class RouteReservationsTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);
    private static final long DEADLINE_MS = 60_000;
    private static final long SECOND_US = 1_000_000;

    private ApiTestServer server;
    private ZContext zmq;
    private long seq;
    private final List<Integer> prompt = new ArrayList<>();

    private static RoutingSettings settings(long ttlMillis) {
        return new RoutingSettings("cost", new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 2, 1,
                ttlMillis, true);
    }

    private void start(RoutingSettings settings, EventStreams events) {
        server = new ApiTestServer(ApiLimits.defaults(), events, settings);
        for (int i = 0; i < 64; i++) {
            prompt.add(13 * i + 5);
        }
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (zmq != null) {
            zmq.close();
        }
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(10);
        }
    }

    private Map<String, Object> route(String candidate) throws Exception {
        ApiTestServer.Response r = server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16,
                "token_ids", prompt, "candidates", List.of(candidate)));
        assertEquals(200, r.status(), () -> r.body().toString());
        return r.map();
    }

    private long queueSeconds(String instance) {
        return Math.round(server.routing.ledger().queueNanos(instance, server.routing.ledger().now()) / 1e9);
    }

    private long metric(String line) throws Exception {
        for (String l : server.metricsText().split("\n")) {
            if (l.startsWith(line + " ")) {
                return (long) Double.parseDouble(l.substring(line.length() + 1));
            }
        }
        return 0;
    }

    private void feedback(Object... kv) throws Exception {
        ApiTestServer.Response r = server.post("/feedback", WireFormat.JSON, map(kv));
        assertEquals(200, r.status(), () -> r.body().toString());
    }

    private void register(String instance, int port) throws Exception {
        assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                registration(instance, 0, "tcp://127.0.0.1:" + port)).status());
    }

    @Test
    void shouldEndAReservationWhenTheEngineStoresThePromptsNewBlocks() throws Exception {
        start(settings(3_600_000), ZmqEventStreams.withDefaults());
        zmq = new ZContext();
        ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
        pub.setReceiveTimeOut(200);
        pub.bind("tcp://127.0.0.1:*");
        Map<String, Object> reg = registration("e2e", 0, pub.getLastEndpoint());
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        await("the subscription", () -> {
            byte[] msg = pub.recv();
            return msg != null && msg.length >= 1 && msg[0] == 1;
        });
        Map<String, Object> first = route("e2e");
        List<Integer> firstPrompt = new ArrayList<>(prompt);
        prompt.replaceAll(t -> t + 100_000);
        int[] tokens = prompt.stream().mapToInt(Integer::intValue).toArray();
        long[] hashes = server.hashes(CONTEXT, tokens);
        Map<String, Object> second = route("e2e");
        assertEquals(74L * SECOND_US, (Long) ((Map<?, ?>) second.get("estimate")).get("queue_us"), 2 * SECOND_US);
        assertEquals(148L, queueSeconds("e2e"), 2);

        // An unrelated block starts nothing. The second prompt's first new block says its prefill began now, 74 s
        // earlier than queued behind the first: the queue is what is left of it.
        publish(pub, storedBatch(new long[] {12345L}, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
            16}));
        publish(pub, storedBatch(hashes, tokens));
        await("the second reservation started by its BlockStored", () -> {
            try {
                return metric("conductor_route_reservations_started_total") == 1;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        assertEquals(74L, queueSeconds("e2e"), 2);
        assertEquals(2, server.routing.ledger().pending("e2e"));
        // The engine finished it: feedback ends it and takes what was left of it out of the queue.
        feedback("instance_id", "e2e", "predicted_tokens", 0, "cached_tokens", 0, "route_id", second.get("route_id"));
        assertEquals(0L, queueSeconds("e2e"), 2);
        assertEquals(1, server.routing.ledger().pending("e2e"));
        // Now the second prompt is cached: the next answer costs the overhead alone.
        Map<String, Object> third = route("e2e");
        assertEquals(10L * SECOND_US, (Long) ((Map<?, ?>) third.get("estimate")).get("prefill_us"), SECOND_US);
        assertTrue((Long) first.get("route_id") < (Long) second.get("route_id"));
        assertEquals(64, firstPrompt.size());
    }

    @Test
    void shouldEndTheNamedReservationOnFeedbackAndOtherwiseTheOldest() throws Exception {
        start(settings(3_600_000), new EndpointOnlyStreams());
        register("a", 7401);
        long r1 = (Long) route("a").get("route_id");
        route("a");
        route("a");
        assertEquals(222L, queueSeconds("a"), 2);

        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id", r1);
        assertEquals(148L, queueSeconds("a"), 2);
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0);
        assertEquals(74L, queueSeconds("a"), 2);
        // A route id that is not open (already ended) ends nothing; an unregistered instance is ignored.
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id", r1);
        feedback("instance_id", "zz", "predicted_tokens", 0, "cached_tokens", 0);
        assertEquals(74L, queueSeconds("a"), 2);
        assertEquals(2L, metric("conductor_route_reservations_ended_total{reason=\"feedback\"}"));
        assertError(server.post("/feedback", WireFormat.JSON, map("instance_id", "a", "predicted_tokens", 0,
                "cached_tokens", 0, "ttft_ms", "fast")), 400, "ttft_ms must be a number", "invalid_type", "ttft_ms");
        assertError(server.post("/feedback", WireFormat.JSON, map("instance_id", "a", "predicted_tokens", 0,
                "cached_tokens", 0, "prefill_ms", -1)), 400, "prefill_ms must be between 0 and 86400000",
                "out_of_range", "prefill_ms");
    }

    @Test
    void shouldEndAReservationWhenItsTtlPasses() throws Exception {
        start(settings(300), new EndpointOnlyStreams());
        register("a", 7402);
        route("a");
        assertTrue(queueSeconds("a") > 70);

        await("the TTL", () -> queueSeconds("a") == 0);
        assertEquals(1L, metric("conductor_route_reservations_ended_total{reason=\"ttl\"}"));
    }

    @Test
    void shouldLearnEachInstancesPrefillSpeedFromFeedbackAndExportThePredictionError() throws Exception {
        start(settings(3_600_000), new EndpointOnlyStreams());
        register("a", 7403);
        register("b", 7404);
        long routeId = (Long) route("a").get("route_id");
        // The engine was far faster than configured: 64 tokens in 0.5 s instead of 74 s.
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id", routeId,
                "prefill_ms", 500, "ttft_ms", 600.5);
        // Then a run of reports on a true line of 50 ms + 1 ms per token, prompts of varying length.
        int[] lengths = {100, 1000, 4000, 250, 2000, 8000, 500, 3000};
        for (int round = 0; round < 4; round++) {
            for (int len : lengths) {
                feedback("instance_id", "a", "predicted_tokens", 16, "cached_tokens", 16, "prompt_tokens",
                        len + 16, "prefill_ms", 50 + len);
            }
        }

        PrefillCosts.Line a = server.routing.costs().line("a");
        PrefillCosts.Line b = server.routing.costs().line("b");
        assertEquals(0.001, a.secondsPerToken(), 0.0001);
        assertEquals(0.05, a.overheadSeconds(), 0.02);
        assertEquals(1.0, b.secondsPerToken(), 1e-9, "b had no feedback: still as configured");
        assertEquals(10.0, b.overheadSeconds(), 1e-9);
        Map<String, Object> routed = route("a");
        assertEquals(114_000L, (Long) ((Map<?, ?>) routed.get("estimate")).get("prefill_us"), 25_000);
        String metrics = server.metricsText();
        assertTrue(metrics.contains("conductor_route_prediction_error_ratio_count{instance_id=\"a\",quantity=\"prefill\"} 1"),
                metrics);
        assertTrue(metrics.contains("conductor_route_prediction_error_ratio_count{instance_id=\"a\",quantity=\"ttft\"} 1"),
                metrics);
        // |74 - 0.5| / 0.5 = 147: above the largest bucket.
        assertTrue(metrics.contains(
                "conductor_route_prediction_error_ratio_bucket{instance_id=\"a\",quantity=\"prefill\",le=\"5.0\"} 0"),
                metrics);
        assertTrue(metrics.contains("conductor_route_prefill_tokens_per_second{instance_id=\"a\"}"), metrics);
    }

    @Test
    void shouldLearnFromTheTtftOfARequestThatWaitedForNothingAndNotWhenLearningIsOff() throws Exception {
        start(settings(3_600_000), new EndpointOnlyStreams());
        register("a", 7405);
        long first = (Long) route("a").get("route_id");
        long queued = (Long) route("a").get("route_id");
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id", queued,
                "ttft_ms", 1000);
        assertEquals(1.0, server.routing.costs().line("a").secondsPerToken(), 1e-9, "a queued request's TTFT "
                + "mixes queue and prefill: not learned");
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id", first,
                "ttft_ms", 10_064);
        assertTrue(server.routing.costs().line("a").secondsPerToken() < 1.0);

        server.close();
        prompt.clear();
        start(new RoutingSettings("cost", new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 2, 1,
                3_600_000, false), new EndpointOnlyStreams());
        register("a", 7406);
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "prompt_tokens", 1000,
                "prefill_ms", 10);
        assertEquals(1.0, server.routing.costs().line("a").secondsPerToken(), 1e-9);
    }

    @Test
    void shouldRunTheQueuesOnTheRequestsClockWhenConfiguredForReplays() throws Exception {
        start(new RoutingSettings("cost", new RoutingSettings.PrefillProfile(1, 10_000), Map.of(), 4, 2, 1,
                3_600_000, true, true), new EndpointOnlyStreams());
        register("a", 7407);
        ApiTestServer.Response first = server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16,
                "token_ids", prompt, "candidates", List.of("a"), "clock_ms", 1000));
        ApiTestServer.Response later = server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16,
                "token_ids", prompt, "candidates", List.of("a"), "clock_ms", 38_000));

        // 74 s reserved at t = 1 s; at t = 38 s, 37 s of it are left, whatever the wall clock did.
        assertEquals(37L * SECOND_US, (Long) ((Map<?, ?>) later.map().get("estimate")).get("queue_us"));
        assertEquals(0L, (Long) ((Map<?, ?>) first.map().get("estimate")).get("queue_us"));
        feedback("instance_id", "a", "predicted_tokens", 0, "cached_tokens", 0, "route_id",
                first.map().get("route_id"), "clock_ms", 39_000);
        assertEquals(74L, queueSeconds("a"));

        server.close();
        start(settings(3_600_000), new EndpointOnlyStreams());
        register("a", 7408);
        assertError(server.post("/route", WireFormat.JSON, map("model", "qwen", "block_size", 16, "token_ids", prompt,
                "clock_ms", 5)), 400, "clock_ms is only accepted with routing.clock = request", "invalid_value",
                "clock_ms");
    }

    @Test
    void shouldBoundTheInstancesWithReservations() throws Exception {
        LoadLedger ledger = new LoadLedger(3_600_000_000_000L);
        long now = System.nanoTime();
        for (int i = 0; i < LoadLedger.MAX_INSTANCES; i++) {
            ledger.reserve("i" + i, 1_000_000_000L, 0, false, 1, 1, now);
        }
        assertEquals(null, ledger.reserve("one-too-many", 1, 0, false, 1, 1, now));
        assertEquals(1L, ledger.noRoom());
        for (int i = 0; i < LoadLedger.MAX_PER_INSTANCE + 5; i++) {
            ledger.reserve("i0", 1, 0, false, 1, 1, now);
        }
        assertEquals(LoadLedger.MAX_PER_INSTANCE, ledger.pending("i0"));
        assertEquals(6L, ledger.ended(LoadLedger.End.EVICTED));
        // Once the others' queues have drained and ended, their state makes room again.
        long later = now + 2_000_000_000L;
        for (int i = 1; i < LoadLedger.MAX_INSTANCES; i++) {
            ledger.releaseByFeedback("i" + i, 0, later);
        }
        assertTrue(ledger.reserve("newcomer", 1, 0, false, 1, 1, later) != null);
        assertTrue(ledger.instanceCount() <= LoadLedger.MAX_INSTANCES);
    }

    private void publish(ZMQ.Socket pub, byte[] payload) {
        pub.sendMore(new byte[0]);
        pub.sendMore(ByteBuffer.allocate(8).putLong(seq++).array());
        pub.send(payload);
    }

    /** One vLLM batch with one map-encoded GPU BlockStored. */
    private static byte[] storedBatch(long[] hashes, int[] tokens) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(1);
        p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes");
        p.packArrayHeader(hashes.length);
        for (long h : hashes) {
            p.packBigInteger(new BigInteger(Long.toUnsignedString(h)));
        }
        p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(tokens.length);
        for (int t : tokens) {
            p.packInt(t);
        }
        p.packString("block_size").packInt(16).packString("lora_id").packNil();
        p.packString("medium").packString("GPU").packString("lora_name").packNil();
        p.packInt(0);
        return p.toByteArray();
    }
}
