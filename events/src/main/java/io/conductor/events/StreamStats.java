package io.conductor.events;

import java.util.Map;

/**
 * A point-in-time, read-only snapshot of one subscription's counters and state, for Prometheus metrics and
 * {@code /services}. Counters are monotonic over the subscription's life. Values are read without a lock, each
 * individually consistent (a snapshot taken during a batch may show its events but not yet its batch count).
 * Immutable; thread-safe.
 *
 * @param key subscription identity
 * @param publisher publisher type
 * @param endpoint live endpoint
 * @param replayEndpoint replay endpoint or {@code ""}
 * @param state current state
 * @param connected whether the live socket currently has a peer (from ZMQ connection events)
 * @param epoch resets so far (0 = none); each {@link KvEventSink#onStreamReset} increments it
 * @param lastSeq last sequence number applied, or -1 before the first
 * @param highestSeq highest live sequence number received, or -1
 * @param batchesBehind {@code highestSeq - lastSeq} when both are known (batches received but not yet applied)
 * @param bufferedBatches live batches held while a replay runs
 * @param lastBatchTimestampSeconds publisher timestamp of the last applied batch, or {@code NaN}
 * @param lastBatchAgeMillis wall-clock age of that timestamp at snapshot time, or -1
 * @param batchesApplied batches delivered to the sink (live and replayed)
 * @param batchesReplayed of which came from replay replies
 * @param eventsApplied events delivered to the sink
 * @param blocksStored block hashes in delivered store events
 * @param blocksRemoved block hashes in delivered remove events
 * @param clears delivered clear events
 * @param nonPrimaryGroupEvents delivered events with {@code group_idx != 0} or a non-full-prefix attention kind
 * @param duplicates batches skipped because their seq was already applied
 * @param gaps sequence gaps detected
 * @param batchesMissed batches the gaps spanned
 * @param restarts engine restarts detected (seq went back)
 * @param reconnects times the live socket regained a peer after losing it
 * @param replays replay exchanges by result
 * @param drops dropped frames, batches and events by reason
 * @param sinkErrors exceptions thrown by the sink
 * @param failures throwables that escaped the stream's processing (an {@link Error} thrown by the sink, such as
 *     an {@link OutOfMemoryError}, or a bug): each one cleared the stream's blocks and made it DEGRADED
 */
public record StreamStats(StreamKey key, PublisherType publisher, String endpoint, String replayEndpoint,
                          StreamState state, boolean connected, long epoch, long lastSeq, long highestSeq,
                          long batchesBehind, int bufferedBatches, double lastBatchTimestampSeconds,
                          long lastBatchAgeMillis, long batchesApplied, long batchesReplayed, long eventsApplied,
                          long blocksStored, long blocksRemoved, long clears, long nonPrimaryGroupEvents,
                          long duplicates, long gaps, long batchesMissed, long restarts, long reconnects,
                          Map<ReplayResult, Long> replays, Map<DropReason, Long> drops, long sinkErrors,
                          long failures) {

    public StreamStats {
        replays = Map.copyOf(replays);
        drops = Map.copyOf(drops);
    }

    /** Total drops over every reason. */
    public long totalDrops() {
        long sum = 0;
        for (final long v : drops.values()) {
            sum += v;
        }
        return sum;
    }

    /** Count for one replay result (0 if none). */
    public long replays(ReplayResult result) {
        return replays.getOrDefault(result, 0L);
    }

    /** Count for one drop reason (0 if none). */
    public long drops(DropReason reason) {
        return drops.getOrDefault(reason, 0L);
    }
}
