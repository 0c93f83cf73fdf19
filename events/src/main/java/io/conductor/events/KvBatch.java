package io.conductor.events;

/**
 * The batch being delivered to a {@link KvEventSink}: one ZMQ message (live or replayed). A reused flyweight: the
 * same instance is handed to every call for a stream, and its values are valid only until the call returns.
 *
 * <p>Not thread-safe: written and read on the stream's poller thread only.
 */
public final class KvBatch {

    /** {@link #dpRank()} when the batch carries no rank (2-element array, nil). */
    public static final int NO_DP_RANK = -1;

    private final StreamKey stream;
    private final PublisherType publisher;
    private long seq;
    private long epoch;
    private double timestampSeconds;
    private int dpRank = NO_DP_RANK;
    private boolean replayed;
    private int eventCount;
    private int unindexedEvents;
    private boolean incomplete;

    KvBatch(StreamKey stream, PublisherType publisher) {
        this.stream = stream;
        this.publisher = publisher;
    }

    /** The subscription this batch came from. */
    public StreamKey stream() {
        return stream;
    }

    /** The subscription's publisher type (decides hash mode: vLLM wire hashes, SGLang token rehash). */
    public PublisherType publisher() {
        return publisher;
    }

    /** The batch's sequence number (unsigned on the wire; real values fit a positive long). */
    public long seq() {
        return seq;
    }

    /** The stream's epoch: 0 at subscription, incremented by every {@link KvEventSink#onStreamReset}. */
    public long epoch() {
        return epoch;
    }

    /** The publisher's batch timestamp in epoch seconds (Mooncake's milliseconds are converted). */
    public double timestampSeconds() {
        return timestampSeconds;
    }

    /** The batch's DP rank, or {@link #NO_DP_RANK}. When set it equals the subscription's rank (else dropped). */
    public int dpRank() {
        return dpRank;
    }

    /** True when the batch came from a replay reply rather than the live stream. */
    public boolean replayed() {
        return replayed;
    }

    /** Number of events in the batch, including any that will be dropped as malformed. */
    public int eventCount() {
        return eventCount;
    }

    /**
     * The sink could not index the current event (for example a token-rehash stream whose table is full): the
     * stream counts it as dropped ({@link DropReason#UNINDEXED}) instead of losing it silently. Call at most once
     * per event, during {@link KvEventSink#onEvent}.
     *
     * @param streamIncomplete true if the sink now holds less than the engine announced (the stream goes DEGRADED
     *     until a rebuild or an AllBlocksCleared); false for an event that was never indexable (such as a store
     *     under a parent that was never seen)
     */
    public void reportUnindexed(boolean streamIncomplete) {
        unindexedEvents++;
        incomplete |= streamIncomplete;
    }

    /** Events reported by {@link #reportUnindexed} since the batch began. */
    int unindexedEvents() {
        return unindexedEvents;
    }

    boolean incomplete() {
        return incomplete;
    }

    void clearReports() {
        unindexedEvents = 0;
        incomplete = false;
    }

    void seq(long value) {
        seq = value;
    }

    void epoch(long value) {
        epoch = value;
    }

    void timestampSeconds(double value) {
        timestampSeconds = value;
    }

    void dpRank(int value) {
        dpRank = value;
    }

    void replayed(boolean value) {
        replayed = value;
    }

    void eventCount(int value) {
        eventCount = value;
    }

    @Override
    public String toString() {
        return "KvBatch[" + stream + " seq=" + seq + " epoch=" + epoch + " ts=" + timestampSeconds + " rank=" + dpRank
                + (replayed ? " replayed" : "") + " events=" + eventCount + "]";
    }
}
