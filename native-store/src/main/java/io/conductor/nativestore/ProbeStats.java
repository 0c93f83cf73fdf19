package io.conductor.nativestore;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * The probe's counters: striped {@link LongAdder}s so concurrent query threads do not contend on one cache line.
 * Statistics are hints, so a snapshot taken during updates may mix before and after values of different counters.
 *
 * <p>Thread-safe.
 */
final class ProbeStats {
    /** Latency bucket upper bounds in nanoseconds; a final +Inf bucket follows. */
    private static final long[] BOUNDS_NANOS = {10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
        2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 1_000_000_000};

    final LongAdder queries = new LongAdder();
    final LongAdder unavailable = new LongAdder();
    final LongAdder cacheHits = new LongAdder();
    final LongAdder cacheMisses = new LongAdder();
    final LongAdder nativeCalls = new LongAdder();
    final LongAdder keysAsked = new LongAdder();
    final LongAdder blocksAsked = new LongAdder();
    final LongAdder residentBlocks = new LongAdder();
    final LongAdder errors = new LongAdder();
    private final LongAdder[] buckets = new LongAdder[BOUNDS_NANOS.length + 1];
    private final LongAdder latencySumNanos = new LongAdder();

    ProbeStats() {
        for (int i = 0; i < buckets.length; i++) {
            buckets[i] = new LongAdder();
        }
    }

    void recordLatency(long nanos) {
        int i = 0;
        while (i < BOUNDS_NANOS.length && nanos > BOUNDS_NANOS[i]) {
            i++;
        }
        buckets[i].increment();
        latencySumNanos.add(nanos);
    }

    ProbeStatsSnapshot snapshot() {
        List<Double> bounds = new ArrayList<>(buckets.length);
        List<Long> counts = new ArrayList<>(buckets.length);
        for (int i = 0; i < buckets.length; i++) {
            bounds.add(i < BOUNDS_NANOS.length ? BOUNDS_NANOS[i] / 1e9 : Double.POSITIVE_INFINITY);
            counts.add(buckets[i].sum());
        }
        return new ProbeStatsSnapshot(queries.sum(), unavailable.sum(), cacheHits.sum(), cacheMisses.sum(),
                nativeCalls.sum(), keysAsked.sum(), blocksAsked.sum(), residentBlocks.sum(), errors.sum(), bounds,
                counts, latencySumNanos.sum() / 1e9);
    }
}
