package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.zeromq.ZMQ;

/** Many subscriptions on few poller threads, and removal while publishers keep sending. */
@Timeout(180)
class SubscriptionScaleTest {

    @Test
    void shouldDeliverEveryBatchInOrderWhenTwoHundredSubscriptionsShareTwoPollers() {
        final int streams = 200;
        final ZMQ.Context context = ZMQ.context(1);
        final List<VllmTestPublisher> publishers = new ArrayList<>();
        final List<RecordingSink> sinks = new ArrayList<>();
        try (KvEventSubscriber subscriber = new KvEventSubscriber(
                SubscriptionTransportTest.CONFIG.withPollerThreads(2))) {
            for (int i = 0; i < streams; i++) {
                final VllmTestPublisher p = VllmTestPublisher.startShared(context,
                        i % 2 == 0 ? VllmTestPublisher.ReplayFormat.CURRENT : VllmTestPublisher.ReplayFormat.LEGACY);
                publishers.add(p);
                for (int b = 0; b < 5; b++) {
                    p.publish(SubscriptionTransportTest.stored(1_000_000L * i + 100L * b));
                }
            }
            final List<CompletableFuture<Void>> added = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                final RecordingSink sink = new RecordingSink();
                sinks.add(sink);
                added.add(subscriber.add(SubscriptionTransportTest.spec("engine-" + i, publishers.get(i)), sink));
            }
            CompletableFuture.allOf(added.toArray(CompletableFuture[]::new)).join();

            Await.until(() -> sinks.stream().allMatch(s -> s.lastSeq() == 4),
                    () -> sinks.stream().filter(s -> s.lastSeq() != 4).count() + " streams not bootstrapped");
            for (int b = 5; b < 10; b++) {
                for (int i = 0; i < streams; i++) {
                    publishers.get(i).publish(SubscriptionTransportTest.stored(1_000_000L * i + 100L * b));
                }
            }
            Await.until(() -> sinks.stream().allMatch(s -> s.lastSeq() == 9),
                    () -> sinks.stream().filter(s -> s.lastSeq() != 9).count() + " streams behind");

            final List<Long> all = LongStream.range(0, 10).boxed().toList();
            for (int i = 0; i < streams; i++) {
                final RecordingSink sink = sinks.get(i);
                final StreamStats s = subscriber.stats(SubscriptionTransportTest.key("engine-" + i));
                // On a loaded machine a connection may drop (a peer's handshake or heartbeat timeout) and ZMQ
                // reconnects: the stream then rebuilds from the replay ring (reset, seqs from 0 again). Whatever
                // happened, the index must end up built from every batch exactly once, in order.
                assertEquals(all, sink.seqsSinceLastReset(), "stream " + i + ", " + s);
                if (s.reconnects() == 0) {
                    assertEquals(all, sink.seqs(), "stream " + i + ", " + s);
                } else {
                    assertTrue(sink.resets().stream().allMatch(c -> c == ResetCause.REBUILD), "stream " + i);
                }
                assertEquals(40, sink.held().size());
                assertEquals(0, sink.protocolViolations());
            }
            assertEquals(streams, subscriber.stats().size());
            assertTrue(subscriber.stats().stream().allMatch(s -> s.state() == StreamState.LIVE));
            final long pollerThreads = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("conductor-events-poller-")).count();
            assertEquals(2, pollerThreads);
        } finally {
            publishers.forEach(VllmTestPublisher::close);
            context.close();
        }
    }

    @Test
    void shouldNeverCallRemovedSinksWhenUnsubscribingUnderLoad() throws Exception {
        final int streams = 10;
        final ZMQ.Context context = ZMQ.context(1);
        final List<VllmTestPublisher> publishers = new ArrayList<>();
        final List<RecordingSink> sinks = new ArrayList<>();
        final AtomicBoolean publishing = new AtomicBoolean(true);
        final AtomicLong rounds = new AtomicLong();
        Thread load = null;
        try (KvEventSubscriber subscriber = new KvEventSubscriber(SubscriptionTransportTest.CONFIG)) {
            for (int i = 0; i < streams; i++) {
                final VllmTestPublisher p = VllmTestPublisher.startShared(context,
                        VllmTestPublisher.ReplayFormat.CURRENT);
                publishers.add(p);
                final RecordingSink sink = new RecordingSink();
                sinks.add(sink);
                subscriber.add(SubscriptionTransportTest.spec("busy-" + i, p), sink).join();
            }
            load = Thread.ofPlatform().name("test-load").start(() -> {
                long n = 0;
                while (publishing.get()) {
                    for (final VllmTestPublisher p : publishers) {
                        p.publish(SubscriptionTransportTest.stored(100 * n));
                    }
                    n++;
                    rounds.set(n);
                }
            });
            Await.until(() -> sinks.stream().allMatch(s -> s.batches() >= 20), () -> "every stream flowing");

            for (int i = 0; i < streams; i += 2) {
                assertTrue(subscriber.remove(SubscriptionTransportTest.key("busy-" + i)).join());
                sinks.get(i).freeze(); // any call from now on is a violation
            }
            final long roundsAtRemoval = rounds.get();
            final int keptBatches = sinks.get(1).batches();
            Await.until(() -> rounds.get() >= roundsAtRemoval + 100 && sinks.get(1).batches() >= keptBatches + 50,
                    () -> "load continues after the removals");

            for (int i = 0; i < streams; i++) {
                final String key = "busy-" + i;
                if (i % 2 == 0) {
                    assertEquals(0, sinks.get(i).callsAfterFreeze(), key);
                    assertFalse(subscriber.contains(SubscriptionTransportTest.key(key)));
                    assertNull(subscriber.stats(SubscriptionTransportTest.key(key)));
                } else {
                    assertTrue(sinks.get(i).batches() > keptBatches / 2, key);
                    assertEquals(0, sinks.get(i).protocolViolations(), key);
                }
            }
            assertEquals(streams / 2, subscriber.stats().size());
        } finally {
            publishing.set(false);
            if (load != null) {
                load.join(10_000);
            }
            publishers.forEach(VllmTestPublisher::close);
            context.close();
        }
    }
}
