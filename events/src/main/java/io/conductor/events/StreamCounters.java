package io.conductor.events;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One stream's counters and gauges. One writer (the stream's poller thread) updates them with opaque stores, so no
 * fence is paid per batch; any thread may read them (opaque loads) to build a {@link StreamStats}.
 *
 * <p>Thread-safety: one writer, many readers.
 */
final class StreamCounters {

    static final int BATCHES_APPLIED = 0;
    static final int BATCHES_REPLAYED = 1;
    static final int EVENTS_APPLIED = 2;
    static final int BLOCKS_STORED = 3;
    static final int BLOCKS_REMOVED = 4;
    static final int CLEARS = 5;
    static final int NON_PRIMARY_GROUP = 6;
    static final int DUPLICATES = 7;
    static final int GAPS = 8;
    static final int BATCHES_MISSED = 9;
    static final int RESTARTS = 10;
    static final int RECONNECTS = 11;
    static final int SINK_ERRORS = 12;
    static final int EPOCH = 13;
    static final int LAST_SEQ = 14;
    static final int HIGHEST_SEQ = 15;
    static final int BUFFERED = 16;
    static final int LAST_TIMESTAMP_BITS = 17;
    /** State ordinal shifted left by one, with the connected flag in bit 0: one word, read and written whole. */
    static final int STATE = 18;
    static final int FAILURES = 19;
    private static final int COUNT = 20;

    private static final DropReason[] REASONS = DropReason.values();
    private static final ReplayResult[] RESULTS = ReplayResult.values();
    private static final StreamState[] STATES = StreamState.values();

    private final AtomicLongArray values = new AtomicLongArray(COUNT);
    private final AtomicLongArray drops = new AtomicLongArray(REASONS.length);
    private final AtomicLongArray replays = new AtomicLongArray(RESULTS.length);

    StreamCounters() {
        values.setOpaque(LAST_SEQ, -1);
        values.setOpaque(HIGHEST_SEQ, -1);
        values.setOpaque(LAST_TIMESTAMP_BITS, Double.doubleToRawLongBits(Double.NaN));
    }

    /** Writer only: adds {@code delta} (single writer, so load + opaque store is exact). */
    void add(int counter, long delta) {
        values.setOpaque(counter, values.getOpaque(counter) + delta);
    }

    void increment(int counter) {
        add(counter, 1);
    }

    void set(int gauge, long value) {
        values.setOpaque(gauge, value);
    }

    long get(int counter) {
        return values.getOpaque(counter);
    }

    void drop(DropReason reason) {
        drops.setOpaque(reason.ordinal(), drops.getOpaque(reason.ordinal()) + 1);
    }

    void drop(DropReason reason, long count) {
        drops.setOpaque(reason.ordinal(), drops.getOpaque(reason.ordinal()) + count);
    }

    long drops(DropReason reason) {
        return drops.getOpaque(reason.ordinal());
    }

    void replay(ReplayResult result) {
        replays.setOpaque(result.ordinal(), replays.getOpaque(result.ordinal()) + 1);
    }

    void state(StreamState state, boolean connected) {
        values.setOpaque(STATE, ((long) state.ordinal() << 1) | (connected ? 1 : 0));
    }

    StreamState state() {
        return STATES[(int) (values.getOpaque(STATE) >>> 1)];
    }

    void lastTimestamp(double seconds) {
        values.setOpaque(LAST_TIMESTAMP_BITS, Double.doubleToRawLongBits(seconds));
    }

    StreamStats snapshot(SubscriptionSpec spec, long nowMillis) {
        final Map<ReplayResult, Long> replayMap = new EnumMap<>(ReplayResult.class);
        for (final ReplayResult r : RESULTS) {
            final long v = replays.getOpaque(r.ordinal());
            if (v != 0) {
                replayMap.put(r, v);
            }
        }
        final Map<DropReason, Long> dropMap = new EnumMap<>(DropReason.class);
        for (final DropReason r : REASONS) {
            final long v = drops.getOpaque(r.ordinal());
            if (v != 0) {
                dropMap.put(r, v);
            }
        }
        final long stateWord = get(STATE);
        final long lastSeq = get(LAST_SEQ);
        final long highestSeq = get(HIGHEST_SEQ);
        final double ts = Double.longBitsToDouble(get(LAST_TIMESTAMP_BITS));
        final long age = Double.isNaN(ts) ? -1 : Math.max(0, nowMillis - (long) (ts * 1000.0));
        return new StreamStats(spec.key(), spec.publisher(), spec.endpoint(),
                spec.replayEndpoint() == null ? "" : spec.replayEndpoint(), STATES[(int) (stateWord >>> 1)],
                (stateWord & 1) != 0,
                get(EPOCH), lastSeq, highestSeq,
                lastSeq >= 0 && highestSeq >= 0 ? Math.max(0, highestSeq - lastSeq) : 0, (int) get(BUFFERED),
                ts, age, get(BATCHES_APPLIED), get(BATCHES_REPLAYED), get(EVENTS_APPLIED), get(BLOCKS_STORED),
                get(BLOCKS_REMOVED), get(CLEARS), get(NON_PRIMARY_GROUP), get(DUPLICATES), get(GAPS),
                get(BATCHES_MISSED), get(RESTARTS), get(RECONNECTS), replayMap, dropMap, get(SINK_ERRORS),
                get(FAILURES));
    }
}
