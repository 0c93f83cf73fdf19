package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A poller thread must never die silently: a sink that throws an {@link Error} degrades its own stream only, the
 * other streams on the same poller go on, and a {@link VirtualMachineError} reaches the fatal handler. Real sockets
 * on loopback, one poller thread (the default), so both streams share the thread that saw the error.
 */
@Timeout(120)
class PollerFailureTest {

    /** Records like {@link RecordingSink}, but throws {@code failure} when an event stores {@code triggerHash}. */
    private static final class ThrowingSink implements KvEventSink {
        private final RecordingSink delegate = new RecordingSink();
        private final long triggerHash;
        private final Throwable failure;

        ThrowingSink(long triggerHash, Throwable failure) {
            this.triggerHash = triggerHash;
            this.failure = failure;
        }

        @Override
        public void onBatchBegin(KvBatch batch) {
            delegate.onBatchBegin(batch);
        }

        @Override
        public void onEvent(KvBatch batch, KvEvent event) {
            delegate.onEvent(batch, event);
            if (event.blockCount() > 0 && event.blockHash(0) == triggerHash) {
                sneakyThrow(failure);
            }
        }

        @Override
        public void onBatchEnd(KvBatch batch) {
            delegate.onBatchEnd(batch);
        }

        @Override
        public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
            delegate.onStreamReset(stream, cause, epoch);
        }

        private static void sneakyThrow(Throwable t) {
            if (t instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(t);
        }
    }

    @Test
    void shouldDegradeOnlyTheFailingStreamWhenItsSinkThrowsAnError() {
        try (KvEventSubscriber subscriber = new KvEventSubscriber(SubscriptionTransportTest.CONFIG);
             VllmTestPublisher a = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE);
             VllmTestPublisher b = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final ThrowingSink bad = new ThrowingSink(500, new AssertionError("sink bug"));
            final RecordingSink good = new RecordingSink();
            subscriber.add(SubscriptionTransportTest.spec("bad", a), bad).join();
            subscriber.add(SubscriptionTransportTest.spec("good", b), good).join();
            SubscriptionTransportTest.awaitFlow(a, bad.delegate);
            SubscriptionTransportTest.awaitFlow(b, good);

            a.publish(SubscriptionTransportTest.stored(100));
            a.publish(SubscriptionTransportTest.stored(500));
            a.publish(SubscriptionTransportTest.stored(600));
            Await.until(() -> bad.delegate.holds(600), () -> "the failing stream's batch after the error");
            for (int i = 1; i <= 50; i++) {
                b.publish(SubscriptionTransportTest.stored(1000L * i));
            }
            Await.until(() -> good.holds(50_000), () -> "the other stream's batches after the error");

            final StreamStats badStats = subscriber.stats(SubscriptionTransportTest.key("bad"));
            final StreamStats goodStats = subscriber.stats(SubscriptionTransportTest.key("good"));
            assertTrue(badStats != null && goodStats != null);
            assertEquals(1, badStats.failures());
            assertEquals(StreamState.DEGRADED, badStats.state());
            assertEquals(List.of(ResetCause.UNRECOVERABLE_GAP), bad.delegate.resets());
            // 100 and the half-applied 500 were cleared; what follows the error applies again.
            assertEquals(SubscriptionTransportTest.hashesOf(600), bad.delegate.held());
            assertEquals(0, goodStats.failures());
            assertEquals(StreamState.LIVE, goodStats.state());
            assertEquals(50 * 4, good.held().size());
            assertNull(subscriber.fatalError(), "an AssertionError is not fatal to the process");
            assertEquals(0, subscriber.loopFailures());
        }
    }

    @Test
    void shouldReportToFatalHandlerAndKeepPollingWhenSinkRunsOutOfMemory() {
        final AtomicReference<Throwable> reported = new AtomicReference<>();
        final OutOfMemoryError oom = new OutOfMemoryError("simulated: Java heap space");
        try (KvEventSubscriber subscriber = new KvEventSubscriber(SubscriptionTransportTest.CONFIG, reported::set);
             VllmTestPublisher a = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final ThrowingSink sink = new ThrowingSink(500, oom);
            subscriber.add(SubscriptionTransportTest.spec("oom", a), sink).join();
            SubscriptionTransportTest.awaitFlow(a, sink.delegate);

            a.publish(SubscriptionTransportTest.stored(500));
            Await.until(() -> reported.get() != null, () -> "the fatal handler call");
            a.publish(SubscriptionTransportTest.stored(700));
            Await.until(() -> sink.delegate.holds(700), () -> "a batch after the OutOfMemoryError");

            assertSame(oom, reported.get());
            assertSame(oom, subscriber.fatalError());
            final StreamStats s = subscriber.stats(SubscriptionTransportTest.key("oom"));
            assertTrue(s != null && s.failures() == 1 && s.state() == StreamState.DEGRADED, String.valueOf(s));
        }
    }
}
