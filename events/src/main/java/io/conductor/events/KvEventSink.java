package io.conductor.events;

/**
 * Receives one subscription's normalized events; the daemon implements it over the prefix index.
 *
 * <p>Call order for every applied batch, live or replayed, strictly in seq order:
 * <pre>{@code
 *   onBatchBegin(batch)
 *   onEvent(batch, event)      // zero or more: malformed events are dropped and counted, batch-mates still come
 *   onBatchEnd(batch)          // publish once per batch here
 * }</pre>
 * {@link #onStreamReset} comes between batches, never inside one.
 *
 * <p>Threading:
 * <ol>
 *   <li>Every call for one subscription comes from the same poller thread, sequentially, never concurrently.</li>
 *   <li>Calls for different subscriptions may come from different poller threads concurrently, unless the
 *       {@link KvEventSubscriber} runs one poller thread ({@link SubscriberConfig#pollerThreads()} = 1, the
 *       default): then one thread makes every call of every subscription, so an index behind the sinks has a
 *       single writer.</li>
 *   <li>After {@link KvEventSubscriber#remove}'s future completes, no call for that subscription happens again.</li>
 *   <li>The {@link KvBatch} and {@link KvEvent} arguments are reused flyweights, valid only during the call.</li>
 *   <li>A sink must not block for long: it stalls every subscription of its poller. A {@code RuntimeException}
 *       thrown by a sink is counted ({@link StreamStats#sinkErrors()}) and logged; the stream goes on with the
 *       next event.</li>
 * </ol>
 */
public interface KvEventSink {

    /** A batch starts; the events that follow belong to it. */
    void onBatchBegin(KvBatch batch);

    /** One well-formed event of the current batch, in wire order. Stores must be idempotent (replays repeat them). */
    void onEvent(KvBatch batch, KvEvent event);

    /** The batch ended: publish its effects now (once per batch). */
    void onBatchEnd(KvBatch batch);

    /**
     * Forget everything this stream contributed (its owner's GPU blocks; for Mooncake every binding of the
     * subscription), because of {@code cause}. Batches of the new {@code epoch} follow.
     */
    void onStreamReset(StreamKey stream, ResetCause cause, long epoch);
    /**
     * The seq of the last batch whose effects the sink already holds for this stream when it is subscribed (a
     * snapshot was restored into it), or {@code -1}: the stream then resumes by replay after that seq instead of
     * rebuilding from an empty state. Read once, when the subscription is created.
     *
     * @return the seq, or -1 for none
     */
    default long resumeAfterSeq() {
        return -1;
    }

    /**
     * Whether the state the sink holds at subscription was already stale (restored from a snapshot that a replay
     * could not bring up to date); such a stream stays {@link StreamState#STALE} until its publisher restarts or
     * clears. Read once, with {@link #resumeAfterSeq()}.
     *
     * @return true when stale
     */
    default boolean resumeStale() {
        return false;
    }
}
