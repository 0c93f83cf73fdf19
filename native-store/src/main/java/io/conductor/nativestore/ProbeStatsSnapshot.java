package io.conductor.nativestore;

import java.util.List;

/**
 * A read-only copy of the probe's counters, for the daemon's {@code /metrics}. Counters only grow (until
 * restart). The latency histogram covers {@code batch_is_exist} calls; bucket {@code i} counts calls with latency
 * {@code <= latencyBucketUpperBoundsSeconds[i]} and above the previous bound (not cumulative); the last bound is
 * {@code +Inf}.
 *
 * <p>Immutable; thread-safe.
 *
 * @param queries probe calls ({@code residentRun}) made while the probe was up
 * @param unavailable probe calls answered {@link StoreResidencyProbe#UNAVAILABLE} because the probe was down
 * @param cacheHits blocks answered from the cache
 * @param cacheMisses blocks the cache did not know (each then asked of the store)
 * @param nativeCalls {@code batch_is_exist} calls
 * @param keysAsked keys passed to {@code batch_is_exist}
 * @param blocksAsked blocks asked of the store
 * @param residentBlocks asked blocks the store holds for every rank namespace
 * @param errors failed {@code batch_is_exist} calls plus keys answered with an error code
 * @param latencyBucketUpperBoundsSeconds upper bounds of the latency buckets, ascending, last {@code +Inf}
 * @param latencyBucketCounts calls per bucket (not cumulative)
 * @param latencySumSeconds total latency of all {@code batch_is_exist} calls
 */
public record ProbeStatsSnapshot(
        long queries,
        long unavailable,
        long cacheHits,
        long cacheMisses,
        long nativeCalls,
        long keysAsked,
        long blocksAsked,
        long residentBlocks,
        long errors,
        List<Double> latencyBucketUpperBoundsSeconds,
        List<Long> latencyBucketCounts,
        double latencySumSeconds) {

    /** Copies the lists. */
    public ProbeStatsSnapshot {
        latencyBucketUpperBoundsSeconds = List.copyOf(latencyBucketUpperBoundsSeconds);
        latencyBucketCounts = List.copyOf(latencyBucketCounts);
    }

    /**
     * Returns the share of blocks answered from the cache.
     *
     * @return {@code cacheHits / (cacheHits + cacheMisses)}, or 0 before any lookup
     */
    public double cacheHitRate() {
        long total = cacheHits + cacheMisses;
        return total == 0 ? 0.0 : (double) cacheHits / total;
    }
}
