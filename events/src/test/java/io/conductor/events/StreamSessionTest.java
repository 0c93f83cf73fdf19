package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * The per-stream sequence logic, driven directly and deterministically (clock included) for the orderings that
 * sockets make hard to force. The replay side is the session's own {@link ReplayChannel} interface, recorded.
 */
class StreamSessionTest {

    private static final long SECOND = 1_000_000_000L;

    private final List<Long> requests = new ArrayList<>();
    private final RecordingSink sink = new RecordingSink();
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

    private StreamSession session(boolean withReplay, int maxBuffered) {
        final SubscriberConfig config = new SubscriberConfig(1, 1, 1000, Duration.ofSeconds(1), maxBuffered,
                Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ZERO, Duration.ofSeconds(1),
                Duration.ofSeconds(1), Duration.ofSeconds(4), SubscriberConfig.DEFAULT_MAX_MESSAGE_BYTES);
        return new StreamSession(SubscriptionSpec.of(new StreamKey("s", "default", 0), PublisherType.VLLM,
                "tcp://127.0.0.1:1", withReplay ? "tcp://127.0.0.1:2" : null), sink, counters,
                withReplay ? channel : null, config);
    }

    private static byte[] batch(long base) {
        return Payloads.storedBatch(base, 2, 2);
    }

    private static void live(StreamSession s, long seq, long now) {
        final byte[] b = batch(seq * 10);
        s.onLive(seq, b, 0, b.length, now);
    }

    private static void replayed(StreamSession s, long seq, long now) {
        final byte[] b = batch(seq * 10);
        s.onReplayData(seq, b, 0, b.length, now);
    }

    @Test
    void shouldNotBootstrapTwiceWhenLiveBatchArrivesBeforeTheHandshakeEvent() {
        final StreamSession s = session(true, 100);

        live(s, 3, 0);          // starts the bootstrap, buffered
        s.onConnected(0);       // the handshake event processed late
        replayed(s, 0, 0);
        replayed(s, 1, 0);
        replayed(s, 2, 0);
        replayed(s, 3, 0);
        s.onReplayEnd(0);
        live(s, 4, 0);

        assertEquals(List.of(0L), requests);
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), sink.seqs());
        assertEquals(List.of(), sink.resets());
        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldReplayFromFirstSeqWhenEmptyRingIsFollowedByLaterLiveBatch() {
        final StreamSession s = session(true, 100);
        s.onConnected(0);
        s.onReplayEnd(0); // empty ring: nothing published yet

        live(s, 2, 0); // seq 0 and 1 were lost to the slow-joining SUB
        replayed(s, 0, 0);
        replayed(s, 1, 0);
        replayed(s, 2, 0);
        s.onReplayEnd(0);

        assertEquals(List.of(0L, 0L), requests);
        assertEquals(List.of(0L, 1L, 2L), sink.seqs());
        assertEquals(1, counters.get(StreamCounters.GAPS));
        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldFailReplayAndApplyBufferWhenLiveBatchesOverflowTheBuffer() {
        final StreamSession s = session(true, 3);
        s.onConnected(0);
        s.onReplayEnd(0);
        live(s, 0, 0);

        live(s, 5, 0); // gap: replay from 1 requested, 5 buffered
        live(s, 6, 0);
        live(s, 7, 0);
        live(s, 8, 0); // fourth buffered batch: overflow

        assertEquals(1, counters.snapshot(specForStats(), 0).replays(ReplayResult.FAILED));
        assertEquals(List.of(0L, 5L, 6L, 7L, 8L), sink.seqs());
        assertEquals(List.of(ResetCause.UNRECOVERABLE_GAP), sink.resets());
        assertEquals(StreamState.DEGRADED, counters.state());
    }

    @Test
    void shouldTimeOutThenRebuildWithBackoffWhenReplayNeverAnswers() {
        final StreamSession s = session(true, 100);
        s.onConnected(0);
        s.onReplayEnd(0);
        live(s, 0, 0);
        live(s, 2, 0); // gap: replay from 1

        s.onTimer(2 * SECOND); // replay timeout is 1 s
        final long rebuildAt = s.nextDeadline();
        s.onTimer(rebuildAt);
        LongStream.rangeClosed(0, 2).forEach(seq -> replayed(s, seq, rebuildAt));
        s.onReplayEnd(rebuildAt);

        assertEquals(List.of(0L, 1L, -1L, 0L), requests); // bootstrap, gap, fresh socket, rebuild from 0
        assertEquals(List.of(ResetCause.UNRECOVERABLE_GAP, ResetCause.REBUILD), sink.resets());
        assertEquals(StreamState.LIVE, counters.state());
        assertEquals(Set.of(0L, 1L, 10L, 11L, 20L, 21L), sink.held());
    }

    @Test
    void shouldTreatSeqGoingBackDuringReplayAsRestartWhenEngineRestartsMidSync() {
        final StreamSession s = session(true, 100);
        s.onConnected(0);
        s.onReplayEnd(0);
        live(s, 0, 0);
        live(s, 1, 0);
        live(s, 5, 0); // gap: replay from 2, 5 buffered

        live(s, 0, 0); // the engine restarted meanwhile: its first seq again

        assertEquals(List.of(ResetCause.ENGINE_RESTART), sink.resets());
        assertEquals(List.of(0L, 1L, 0L), sink.seqs());
        assertEquals(1, counters.get(StreamCounters.RESTARTS));
        assertEquals(StreamState.LIVE, counters.state());
        assertEquals(Set.of(0L, 1L), sink.held());
    }

    @Test
    void shouldAskAgainFromTheHoleWhenReplayRepliesGoMissing() {
        final StreamSession s = session(true, 100);
        s.onConnected(0);

        replayed(s, 0, 0);
        replayed(s, 1, 0);
        replayed(s, 3, 0); // seq 2 was dropped by the ROUTER's send HWM
        replayed(s, 4, 0);
        s.onReplayEnd(0);
        replayed(s, 2, 0);
        replayed(s, 3, 0);
        s.onTimer(3 * SECOND); // the end marker of the second exchange is lost too
        replayed(s, 4, 3 * SECOND);
        s.onReplayEnd(3 * SECOND);

        assertEquals(List.of(0L, 2L, -1L, 4L), requests);
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), sink.seqs());
        assertEquals(1, counters.snapshot(specForStats(), 0).replays(ReplayResult.BOOTSTRAPPED));
        assertEquals(StreamState.LIVE, counters.state());
    }

    @Test
    void shouldStayDegradedWithoutReplayUntilAllBlocksClearedApplies() {
        final StreamSession s = session(false, 100);
        live(s, 0, 0);
        live(s, 2, 0);
        assertEquals(StreamState.DEGRADED, counters.state());

        final byte[] cleared = Payloads.batch(1.0, 0, Payloads.clearedMap());
        s.onLive(3, cleared, 0, cleared.length, 0);

        assertEquals(StreamState.LIVE, counters.state());
        assertEquals(List.of(ResetCause.UNRECOVERABLE_GAP), sink.resets());
    }

    private static SubscriptionSpec specForStats() {
        return SubscriptionSpec.of(new StreamKey("s", "default", 0), PublisherType.VLLM, "tcp://127.0.0.1:1", null);
    }
}
