package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A stream whose sink was restored from a snapshot ({@link KvEventSink#resumeAfterSeq()}): resumed by replay
 * after the snapshot's seq when the ring covers it, rebuilt exactly when the ring holds the whole history, kept
 * and marked {@link StreamState#STALE} when batches were lost in between; driven directly like
 * {@code StreamSessionTest}.
 */
class StreamResumeTest {
    private final List<Long> requests = new ArrayList<>();
    private final RecordingSink recorded = new RecordingSink();
    private final StreamCounters counters = new StreamCounters();
    private final ReplayChannel channel = new ReplayChannel() {
        @Override
        public boolean request(long fromSeq) {
            requests.add(fromSeq);
            return true;
        }

        @Override
        public void restart() {
            requests.add(-1L);
        }
    };

    /** A recording sink that says it already holds the stream's state up to {@code seq}. */
    private KvEventSink restoredAt(long seq, boolean stale) {
        return new KvEventSink() {
            @Override
            public void onBatchBegin(KvBatch batch) {
                recorded.onBatchBegin(batch);
            }

            @Override
            public void onEvent(KvBatch batch, KvEvent event) {
                recorded.onEvent(batch, event);
            }

            @Override
            public void onBatchEnd(KvBatch batch) {
                recorded.onBatchEnd(batch);
            }

            @Override
            public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
                recorded.onStreamReset(stream, cause, epoch);
            }

            @Override
            public long resumeAfterSeq() {
                return seq;
            }

            @Override
            public boolean resumeStale() {
                return stale;
            }
        };
    }

    private StreamSession session(KvEventSink sink, boolean withReplay) {
        SubscriberConfig config = new SubscriberConfig(1, 1, 1000, Duration.ofSeconds(1), 100,
                Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ZERO, Duration.ofSeconds(1),
                Duration.ofSeconds(1), Duration.ofSeconds(4), SubscriberConfig.DEFAULT_MAX_MESSAGE_BYTES);
        return new StreamSession(SubscriptionSpec.of(new StreamKey("s", "default", 0), PublisherType.VLLM,
                "tcp://127.0.0.1:1", withReplay ? "tcp://127.0.0.1:2" : null), sink, counters,
                withReplay ? channel : null, config);
    }

    private static void live(StreamSession s, long seq) {
        byte[] b = Payloads.storedBatch(seq * 10, 2, 2);
        s.onLive(seq, b, 0, b.length, 0);
    }

    private static void replayed(StreamSession s, long seq) {
        byte[] b = Payloads.storedBatch(seq * 10, 2, 2);
        s.onReplayData(seq, b, 0, b.length, 0);
    }

    @Test
    void shouldApplyOnlyTheBatchesAfterTheSnapshotWhenTheRingCoversIt() {
        StreamSession s = session(restoredAt(5, false), true);
        s.onConnected(0);
        for (long seq = 3; seq <= 7; seq++) {
            replayed(s, seq);
        }
        s.onReplayEnd(0);
        live(s, 8);

        assertEquals(List.of(0L), requests, "the ring is asked from its start to see where it begins");
        assertEquals(List.of(6L, 7L, 8L), recorded.seqs());
        assertEquals(List.of(), recorded.resets(), "the restored contents are kept");
        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldRebuildExactlyWhenTheRingHoldsThePublishersWholeHistory() {
        StreamSession s = session(restoredAt(5, false), true);
        s.onConnected(0);
        for (long seq = 0; seq <= 2; seq++) {
            replayed(s, seq); // a restarted publisher: its ring starts at 0 and is shorter than our position
        }
        s.onReplayEnd(0);

        assertEquals(List.of(ResetCause.REBUILD), recorded.resets());
        assertEquals(List.of(0L, 1L, 2L), recorded.seqs());
        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldKeepTheContentsAndMarkStaleWhenTheRingStartsAfterTheSnapshot() {
        StreamSession s = session(restoredAt(5, false), true);
        s.onConnected(0);
        replayed(s, 9);
        replayed(s, 10);
        s.onReplayEnd(0);
        live(s, 11);

        assertEquals(List.of(), recorded.resets());
        assertEquals(List.of(9L, 10L, 11L), recorded.seqs());
        assertEquals(StreamState.STALE, counters.state());

        live(s, 0); // the engine restarts: the restored contents go, the stream is exact again
        assertEquals(List.of(ResetCause.ENGINE_RESTART), recorded.resets());
        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldEndStaleWhenTheEngineClearsEverything() {
        StreamSession s = session(restoredAt(5, true), true);
        assertEquals(StreamState.STALE, counters.state(), "a stale snapshot stays stale");
        s.onConnected(0);
        replayed(s, 6);
        s.onReplayEnd(0);
        assertEquals(StreamState.STALE, counters.state());

        byte[] clear = Payloads.batch(1.0, 0, Payloads.clearedArray());
        s.onLive(7, clear, 0, clear.length, 0);

        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldKeepTheRestoredContentsWhileThePublisherIsGone() {
        StreamSession s = session(restoredAt(5, false), true);
        s.onTimer(10_000_000_000L);

        assertEquals(List.of(), requests);
        assertEquals(List.of(), recorded.resets());
        assertEquals(StreamState.CONNECTING, counters.state());
        assertEquals(5, counters.get(StreamCounters.LAST_SEQ));
    }

    @Test
    void shouldTreatALiveSeqAtOrBelowTheSnapshotAsAnEngineRestart() {
        StreamSession s = session(restoredAt(5, false), false);
        live(s, 2);

        assertEquals(List.of(ResetCause.ENGINE_RESTART), recorded.resets());
        assertEquals(List.of(2L), recorded.seqs());
    }

    @Test
    void shouldKeepTheContentsAndMarkStaleWhenBatchesWereLostAndThereIsNoReplay() {
        StreamSession s = session(restoredAt(5, false), false);
        live(s, 9);
        live(s, 10);

        assertEquals(List.of(), recorded.resets(), "the restored contents are kept");
        assertEquals(List.of(9L, 10L), recorded.seqs());
        assertEquals(StreamState.STALE, counters.state());

        live(s, 12); // a later gap is an ordinary one: no restored contents to protect any more
        assertEquals(List.of(ResetCause.UNRECOVERABLE_GAP), recorded.resets());
        assertEquals(StreamState.DEGRADED, counters.state());
    }

    @Test
    void shouldContinueWithoutReplayWhenTheNextLiveSeqFollowsTheSnapshot() {
        StreamSession s = session(restoredAt(5, false), false);
        live(s, 6);

        assertEquals(List.of(), recorded.resets());
        assertEquals(List.of(6L), recorded.seqs());
        assertEquals(StreamState.LIVE, counters.state());
    }
}
