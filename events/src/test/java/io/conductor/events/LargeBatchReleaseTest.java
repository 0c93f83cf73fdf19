package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.ref.WeakReference;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 point 5: after a huge batch is applied, nothing of it stays reachable from the stream (the payload, the
 * decoder's view of it, the event arrays it grew) until the stream's next message.
 */
class LargeBatchReleaseTest {

    private static final KvEventSink NOOP = new KvEventSink() {
        @Override
        public void onBatchBegin(KvBatch batch) {
        }

        @Override
        public void onEvent(KvBatch batch, KvEvent event) {
        }

        @Override
        public void onBatchEnd(KvBatch batch) {
        }

        @Override
        public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        }
    };

    private static long usedAfterGc() {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            System.gc();
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    @Test
    void shouldNotKeepAHugeBatchReachableAfterApplyingIt() {
        final StreamCounters counters = new StreamCounters();
        final StreamSession session = new StreamSession(SubscriptionSpec.of(new StreamKey("huge", "default", 0),
                PublisherType.VLLM, "tcp://127.0.0.1:1", null), NOOP, counters, null, SubscriberConfig.defaults());
        session.onLive(0, Payloads.storedBatch(1, 2, 2), 0, Payloads.storedBatch(1, 2, 2).length, 0);
        final long baseline = usedAfterGc();

        // About 1M blocks of one token, hashes above 2^40 (9 bytes each): a ~15 MB frame, ~12 MB of event arrays.
        byte[] huge = Payloads.storedBatch(1L << 40, 1_000_000, 1);
        final int size = huge.length;
        assertTrue(size > 10_000_000, "payload of " + size + " bytes");
        final WeakReference<byte[]> ref = new WeakReference<>(huge);
        session.onLive(1, huge, 0, size, 1);
        huge = null;
        assertEquals(1_000_002, counters.get(StreamCounters.BLOCKS_STORED));

        final long after = usedAfterGc();
        assertNull(ref.get(), "the payload is still reachable");
        assertTrue(after - baseline < 4_000_000, "heap grew by " + (after - baseline) + " bytes after a "
                + size + "-byte batch");
    }
}
