package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Real sockets on loopback: a {@link VllmTestPublisher} (PUB + replay ROUTER speaking vLLM's protocol) and a
 * {@link KvEventSubscriber}. Each test asserts what the sink ends up holding, not just that something arrived.
 */
@Timeout(120)
class SubscriptionTransportTest {

    static final SubscriberConfig CONFIG = SubscriberConfig.defaults()
            .withReplayTimeout(Duration.ofMillis(1500))
            .withRebuildBackoff(Duration.ofMillis(200), Duration.ofSeconds(1))
            .withHandshakeTimeout(Duration.ofSeconds(1));

    private final KvEventSubscriber subscriber = new KvEventSubscriber(CONFIG);

    @AfterEach
    void closeSubscriber() {
        subscriber.close();
    }

    static StreamKey key(String instance) {
        return new StreamKey(instance, "default", 0);
    }

    static SubscriptionSpec spec(String instance, VllmTestPublisher publisher) {
        return SubscriptionSpec.of(key(instance), PublisherType.VLLM, publisher.endpoint(),
                publisher.replayEndpoint());
    }

    /** One map-encoded BlockStored of 4 blocks with hashes base..base+3. */
    static byte[] stored(long base) {
        return Payloads.storedBatch(base, 4, 4);
    }

    static Set<Long> hashesOf(long... bases) {
        final Set<Long> out = new HashSet<>();
        for (final long b : bases) {
            for (int i = 0; i < 4; i++) {
                out.add(b + i);
            }
        }
        return out;
    }

    /** Live-only streams lose what is sent before the subscription reaches the PUB: send empty batches until one
     *  arrives. */
    static void awaitFlow(VllmTestPublisher publisher, RecordingSink sink) {
        final byte[] empty = Payloads.batch(1.0, 0);
        Await.until(() -> {
            if (sink.batches() > 0) {
                return true;
            }
            publisher.publish(empty);
            return false;
        }, () -> "first live batch");
    }

    StreamStats stats(String instance) {
        final StreamStats s = subscriber.stats(key(instance));
        assertNotNull(s);
        return s;
    }

    @Test
    void shouldApplyLiveBatchesInOrderWhenPublisherStreams() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("e", publisher), sink).join();
            awaitFlow(publisher, sink);
            // The first batch received: more probes may have arrived since the flow was seen.
            final long first = sink.seqs().get(0);

            for (int i = 0; i < 200; i++) {
                publisher.publish(stored(1000L * i));
            }
            final long last = publisher.lastSeq();
            Await.until(() -> sink.lastSeq() == last, () -> "seq " + last + ", at " + sink.lastSeq());

            final List<Long> seqs = sink.seqs();
            assertEquals(LongStream.rangeClosed(first, last).boxed().toList(), seqs.subList(0, seqs.size()));
            assertEquals(200 * 4, sink.held().size());
            final StreamStats s = stats("e");
            assertEquals(StreamState.LIVE, s.state());
            assertEquals(0, s.gaps());
            assertEquals(800, s.blocksStored());
            assertEquals(last, s.lastSeq());
            assertEquals(0, s.batchesBehind());
            assertTrue(s.lastBatchAgeMillis() > 0);
            assertEquals(0, sink.protocolViolations());
        }
    }

    @Test
    void shouldReplayFromZeroWhenRingWasFilledBeforeSubscribing() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT)) {
            for (int i = 0; i < 50; i++) {
                publisher.publish(stored(100L * i));
            }
            final RecordingSink sink = new RecordingSink();

            subscriber.add(spec("boot", publisher), sink).join();
            Await.until(() -> sink.lastSeq() == 49, () -> "bootstrap to seq 49, at " + sink.lastSeq());
            for (int i = 50; i < 60; i++) {
                publisher.publish(stored(100L * i));
            }
            Await.until(() -> sink.lastSeq() == 59, () -> "live to seq 59, at " + sink.lastSeq());

            assertEquals(LongStream.range(0, 60).boxed().toList(), sink.seqs());
            assertTrue(sink.replayedFlags().subList(0, 50).stream().allMatch(b -> b));
            assertEquals(240, sink.held().size());
            final StreamStats s = stats("boot");
            assertEquals(1, s.replays(ReplayResult.BOOTSTRAPPED));
            assertEquals(StreamState.LIVE, s.state());
            assertEquals(List.of(), sink.resets());
            assertEquals(List.of(new byte[0].length, 8), publisher.requests().get(0).stream()
                    .map(f -> f.length).toList());
        }
    }

    @Test
    void shouldConvergeInOrderWhenRouterDropsRepliesOfALongRing() {
        // 3,000 held batches: more than a ROUTER's default send HWM (1,000) lets through in one exchange.
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT)) {
            for (int i = 0; i < 3000; i++) {
                publisher.publishUnsent(stored(10L * i));
            }
            final RecordingSink sink = new RecordingSink();

            subscriber.add(spec("long-ring", publisher), sink).join();
            Await.until(() -> sink.lastSeq() == 2999 && stats("long-ring").state() == StreamState.LIVE,
                    () -> "bootstrap of 3000, at " + sink.lastSeq() + " " + stats("long-ring").state());

            assertEquals(LongStream.range(0, 3000).boxed().toList(), sink.seqs());
            assertEquals(List.of(), sink.resets());
            assertEquals(1, stats("long-ring").replays(ReplayResult.BOOTSTRAPPED));
        }
    }

    @ParameterizedTest
    @EnumSource(value = VllmTestPublisher.ReplayFormat.class, names = {"CURRENT", "LEGACY"})
    void shouldHealGapByReplayWhenLiveBatchesAreLost(VllmTestPublisher.ReplayFormat format) {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(format)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("gap", publisher), sink).join();
            Await.until(() -> stats("gap").replays(ReplayResult.BOOTSTRAPPED) == 1, () -> "bootstrap");
            for (int i = 0; i < 5; i++) {
                publisher.publish(stored(100L * i));
            }
            Await.until(() -> sink.lastSeq() == 4, () -> "seq 4, at " + sink.lastSeq());

            publisher.publishUnsent(stored(500));
            publisher.publishUnsent(stored(600));
            publisher.publishUnsent(stored(700));
            publisher.publish(stored(800));
            // seq 8 may come from the replay before its end marker: wait for the replay to finish too
            Await.until(() -> sink.lastSeq() == 8 && stats("gap").state() == StreamState.LIVE,
                    () -> "seq 8 and LIVE, at " + sink.lastSeq() + " " + stats("gap").state());

            assertEquals(LongStream.rangeClosed(0, 8).boxed().toList(), sink.seqs());
            assertEquals(hashesOf(0, 100, 200, 300, 400, 500, 600, 700, 800), sink.held());
            final StreamStats s = stats("gap");
            assertEquals(1, s.gaps());
            assertEquals(3, s.batchesMissed());
            assertEquals(1, s.replays(ReplayResult.HEALED));
            assertEquals(StreamState.LIVE, s.state());
            assertEquals(List.of(), sink.resets());
        }
    }

    @ParameterizedTest
    @EnumSource(value = VllmTestPublisher.ReplayFormat.class, names = {"CURRENT", "LEGACY"})
    void shouldApplyCapturedBatchesWhenReplayExchangeMatchesSpec(VllmTestPublisher.ReplayFormat format) {
        // events.md 3.5: the publisher holds the two captured batches (seq 0 and 1) before we subscribe.
        final boolean current = format == VllmTestPublisher.ReplayFormat.CURRENT;
        final List<List<byte[]>> exchange = Captures.messages("replay-exchange-current.txt");
        try (VllmTestPublisher publisher = VllmTestPublisher.start(format, "kv-events", 10_000)) {
            publisher.publish(Captures.payload(current ? "vllm-map-seq0.txt" : "vllm-array-seq0.txt"));
            publisher.publish(Captures.payload(current ? "vllm-map-seq1.txt" : "vllm-array-seq1.txt"));
            final RecordingSink sink = new RecordingSink();

            subscriber.add(spec("capture", publisher), sink).join();
            Await.until(() -> sink.lastSeq() == 1, () -> "both captured batches");

            final List<byte[]> request = publisher.requests().get(0);
            assertEquals(exchange.get(0).size(), request.size());
            for (int i = 0; i < request.size(); i++) {
                assertArrayEquals(exchange.get(0).get(i), request.get(i), "request frame " + i);
            }
            if (current) {
                // the captured reply's frames 1-2 (topic, seq) and the start of the payload
                assertArrayEquals(exchange.get(1).get(1), "kv-events".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                assertArrayEquals(exchange.get(3).get(2), VllmTestPublisher.seqBytes(-1));
            }
            final List<DecodedEvent> events = sink.events();
            assertEquals(List.of(EventKind.BLOCKS_STORED, EventKind.BLOCKS_REMOVED, EventKind.ALL_BLOCKS_CLEARED),
                    events.stream().map(DecodedEvent::kind).toList());
            assertArrayEquals(new long[] {0x1122334455667788L, 0xf122334455667788L}, events.get(0).hashes());
            assertEquals(Set.of(), sink.held());
            assertEquals(List.of(0L, 1L), sink.seqs());
        }
    }

    @Test
    void shouldResetOwnerAndStartNewEpochWhenEngineRestarts() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            // A long-running engine: the new process's probes below are recognisable as a restart only while their
            // seqs stay below the old ones, and each probe the PUB drops before the new subscription reaches it
            // uses one up. A loaded machine can take seconds to propagate that subscription.
            publisher.continueFrom(1_000_000);
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("restart", publisher), sink).join();
            awaitFlow(publisher, sink);
            for (int i = 0; i < 100; i++) {
                publisher.publish(stored(100L * i));
            }
            final long before = publisher.lastSeq();
            Await.until(() -> sink.lastSeq() == before, () -> "seq " + before);
            assertTrue(sink.holds(0));

            publisher.restart();
            // Probe once the subscriber has reconnected, so few probes are lost to the reconnect.
            Await.until(() -> stats("restart").reconnects() >= 1, () -> "reconnect");
            final byte[] empty = Payloads.batch(1.0, 0);
            Await.until(() -> {
                if (sink.resets().contains(ResetCause.ENGINE_RESTART)) {
                    return true;
                }
                publisher.publish(empty);
                return false;
            }, () -> "restart detected");
            publisher.publish(stored(77_000));
            Await.until(() -> sink.holds(77_000), () -> "post-restart store");

            assertEquals(hashesOf(77_000), sink.held());
            final StreamStats s = stats("restart");
            assertEquals(1, s.restarts());
            assertEquals(1, s.epoch());
            assertEquals(List.of(ResetCause.ENGINE_RESTART), sink.resets());
        }
    }

    @Test
    void shouldRebuildFromReplayWhenPublisherDiesAndComesBack() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("phoenix", publisher), sink).join();
            Await.until(() -> stats("phoenix").replays(ReplayResult.BOOTSTRAPPED) == 1, () -> "bootstrap");
            for (int i = 0; i < 5; i++) {
                publisher.publish(stored(100L * i));
            }
            Await.until(() -> sink.lastSeq() == 4, () -> "seq 4");

            publisher.stopSockets();
            Await.until(() -> !stats("phoenix").connected(), () -> "disconnect seen");
            assertEquals(StreamState.CONNECTING, stats("phoenix").state());
            publisher.startSockets();
            publisher.publish(stored(9000));
            publisher.publish(stored(9100));
            Await.until(() -> sink.held().equals(hashesOf(9000, 9100)) && stats("phoenix").state() == StreamState.LIVE,
                    () -> "rebuilt to the new process's blocks, held " + sink.held().size() + ", "
                            + stats("phoenix"));

            final StreamStats s = stats("phoenix");
            assertTrue(s.reconnects() >= 1, s.toString());
            assertTrue(s.epoch() >= 1, s.toString());
            assertFalse(sink.resets().isEmpty());
        }
    }

    @Test
    void shouldClearAndGoDegradedWhenGapHasNoReplayThenRecoverOnClear() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("lossy", publisher), sink).join();
            awaitFlow(publisher, sink);
            publisher.publish(stored(100));
            publisher.publishUnsent(stored(200));
            publisher.publish(stored(300));
            Await.until(() -> sink.holds(300), () -> "batch after the gap");

            assertEquals(StreamState.DEGRADED, stats("lossy").state());
            assertEquals(List.of(ResetCause.UNRECOVERABLE_GAP), sink.resets());
            assertEquals(hashesOf(300), sink.held()); // 100 was cleared: it may have been removed in the lost batch

            publisher.publish(Payloads.batch(2.0, 0, Payloads.clearedMap()));
            publisher.publish(stored(400));
            Await.until(() -> sink.holds(400), () -> "store after the clear");
            assertEquals(StreamState.LIVE, stats("lossy").state());
            assertEquals(hashesOf(400), sink.held());
            assertEquals(1, stats("lossy").gaps());
        }
    }

    @Test
    void shouldRebuildFromRingWhenRingNoLongerCoversGap() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT, "", 4)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("short-ring", publisher), sink).join();
            Await.until(() -> stats("short-ring").replays(ReplayResult.BOOTSTRAPPED) == 1, () -> "bootstrap");
            publisher.publish(stored(0));
            Await.until(() -> sink.lastSeq() == 0, () -> "seq 0");

            for (int i = 1; i <= 10; i++) {
                publisher.publishUnsent(stored(100L * i)); // seq 1..10; the ring keeps only 4
            }
            publisher.publish(stored(1100)); // seq 11
            Await.until(() -> sink.lastSeq() == 11 && stats("short-ring").state() == StreamState.LIVE,
                    () -> "seq 11 and LIVE, at " + sink.lastSeq() + " " + stats("short-ring").state());

            final StreamStats s = stats("short-ring");
            assertEquals(1, s.replays(ReplayResult.TRUNCATED));
            assertEquals(StreamState.LIVE, s.state());
            assertEquals(List.of(ResetCause.REBUILD), sink.resets());
            assertEquals(hashesOf(800, 900, 1000, 1100), sink.held()); // the ring (seq 8..11), nothing stale
        }
    }

    @Test
    void shouldTimeOutCleanlyAndKeepApplyingLiveWhenReplayEndpointIsSilent() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.SILENT)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("silent", publisher), sink).join();

            Await.until(() -> stats("silent").replays(ReplayResult.TIMEOUT) >= 1, () -> "replay timeout");
            awaitFlow(publisher, sink);
            publisher.publish(stored(100));
            Await.until(() -> sink.holds(100), () -> "live store while degraded");

            final StreamStats s = stats("silent");
            assertTrue(s.state() == StreamState.DEGRADED || s.state() == StreamState.SYNCING, s.toString());
            assertFalse(publisher.requests().isEmpty());
        }
    }

    @Test
    void shouldCountAndSkipMalformedFramesWhenLiveMessageIsMisshapen() {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(spec("frames", publisher), sink).join();
            awaitFlow(publisher, sink);

            publisher.sendFrames(new byte[0], VllmTestPublisher.seqBytes(1000)); // 2 frames
            publisher.sendFrames(new byte[0], new byte[4], stored(1)); // 4-byte seq
            publisher.sendFrames(new byte[0], VllmTestPublisher.seqBytes(1000), stored(1), new byte[1]); // 4 frames
            publisher.publish(Payloads.batch(1.0, 0, Payloads.raw(Captures.hex("05")), Payloads.Removed.gpu(9)
                    .map()));
            publisher.publish(stored(500));
            Await.until(() -> sink.holds(500), () -> "good batch after the bad frames");

            final StreamStats s = stats("frames");
            assertEquals(2, s.drops(DropReason.FRAME_COUNT));
            assertEquals(1, s.drops(DropReason.SEQ_FRAME_LENGTH));
            assertEquals(1, s.drops(DropReason.EVENT_SHAPE));
            assertEquals(0, s.gaps());
            assertEquals(StreamState.LIVE, s.state());
        }
    }

    @Test
    void shouldBindAndReceiveWhenEndpointIsWildcard() throws Exception {
        final int port;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        final RecordingSink sink = new RecordingSink();
        subscriber.add(SubscriptionSpec.of(key("bound"), PublisherType.VLLM, "tcp://*:" + port, null), sink).join();

        try (VllmTestPublisher publisher = VllmTestPublisher.connectingTo("tcp://127.0.0.1:" + port)) {
            awaitFlow(publisher, sink);
            publisher.publish(stored(42));
            Await.until(() -> sink.holds(42), () -> "store through the bound socket");
        }
        assertTrue(stats("bound").connected() || stats("bound").state() == StreamState.CONNECTING);
    }

    @Test
    void shouldRejectDuplicateKeyAndBadEndpointWhenAdding() {
        final SubscriptionSpec a = SubscriptionSpec.of(key("dup"), PublisherType.VLLM, "tcp://127.0.0.1:1", null);
        subscriber.add(a, new RecordingSink()).join();

        final var duplicate = subscriber.add(a, new RecordingSink());
        final var badHost = subscriber.add(SubscriptionSpec.of(key("bad"), PublisherType.VLLM,
                "tcp://no such host:5557", null), new RecordingSink());

        assertTrue(duplicate.isCompletedExceptionally());
        Await.until(badHost::isDone, () -> "bad endpoint rejected");
        assertTrue(badHost.isCompletedExceptionally());
        assertFalse(subscriber.contains(key("bad")));
        assertTrue(subscriber.remove(key("dup")).join());
        assertFalse(subscriber.remove(key("dup")).join());
        assertNull(subscriber.stats(key("dup")));
    }
}
