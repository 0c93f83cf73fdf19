package io.conductor.events;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sequence tracking, replay and application of one subscription's batches: the logic between the sockets
 * ({@link Subscription}) and the sink. No I/O of its own except through {@link ReplayChannel}.
 *
 * <p>Not thread-safe: every method runs on the subscription's poller thread. Stats are published through
 * {@link StreamCounters} (one writer, many readers).
 */
final class StreamSession {

    /*
     * Policies (docs/events.md, "Sequence, replay and recovery"):
     *
     * Sequence: lastSeq is the last batch applied (or dropped as malformed: a malformed batch still consumes its
     * seq). lastLiveSeq is the last *live* seq received; live seqs only grow within one publisher process, so a
     * live seq <= lastLiveSeq is an engine restart: reset the owner, new epoch.
     *
     * Sync: a replay exchange. Gap sync asks for lastSeq+1; rebuild sync (bootstrap, reconnect, recovery) resets
     * the owner and asks for 0. While a sync runs, live batches are buffered (bounded) and applied after the end
     * marker in seq order, skipping what the replay already applied. If the first replayed seq of a gap sync is
     * beyond the requested one, the ring no longer covers the gap: reset and apply the ring as a rebuild.
     *
     * Failure (timeout, buffer overflow, repeated gaps, or a gap with no replay endpoint): reset the owner
     * (UNRECOVERABLE_GAP), apply buffered and later live batches, state DEGRADED. With a replay endpoint a
     * rebuild is scheduled with capped, jittered exponential backoff; DEGRADED ends when a rebuild completes,
     * when the engine restarts from its first seq, or when an AllBlocksCleared applies.
     *
     * Resume: a sink restored from a snapshot (resumeAfterSeq >= 0) starts with lastSeq = lastLiveSeq = that seq
     * and its contents kept. Its first bootstrap asks the ring from the publisher's first seq without a reset; the
     * first reply decides: the first seq itself means the ring holds the publisher's whole history (whatever
     * happened since the snapshot, a restart included), so reset and rebuild exactly; a seq at or before
     * lastSeq + 1 means the ring covers the snapshot's position, so skip what we hold and apply the rest; a later
     * seq means batches were lost in between: keep the contents, apply the ring and mark the stream STALE until a
     * reset or an AllBlocksCleared. A live seq at or below the snapshot's is an engine restart (reset). Without a
     * replay endpoint, a first live seq beyond the snapshot's + 1 is the same loss: contents kept, STALE.
     *
     * Bounds (issue 15): a rebuild that still cannot reach the buffered live batch (the live seq is ahead of the
     * engine's ring) fails instead of rebuilding again at once, so retries follow the backoff; an exchange with
     * all its resumptions lasts at most MAX_SYNC_TIMEOUTS replay timeouts; a replayed batch whose bytes differ
     * from the buffered live batch of the same seq abandons the replay; a sink that reports an event it could not
     * index makes the stream DEGRADED until a reset. Warnings on these paths are logged at most once a minute.
     */

    private static final Logger LOG = LoggerFactory.getLogger(StreamSession.class);

    static final long NONE = -1;
    private static final long NEVER = Long.MAX_VALUE;
    /** Gap syncs tried in a row before giving up on replay for this gap. */
    private static final int MAX_SYNC_ATTEMPTS = 3;
    private static final long LOG_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);
    /** Silence between two replies of one exchange after which the rest counts as dropped. */
    private static final long MAX_REPLAY_IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    private static final DropReason[] REASONS = DropReason.values();
    /** An exchange including its resumptions may last this many replay timeouts before it fails. */
    private static final int MAX_SYNC_TIMEOUTS = 8;
    /** Event arrays above these sizes are shrunk back after a batch (a huge event must not pin its arrays). */
    private static final int RETAINED_HASHES = 4_096;
    private static final int RETAINED_TOKENS = 65_536;
    private static final int WARN_REPLAY_EMPTY = 0;
    private static final int WARN_REPLAY_FAILED = 1;
    private static final int WARN_UNINDEXED = 2;
    private static final int WARN_SITES = 3;

    private record Pending(long seq, byte[] payload) {
    }

    private final SubscriptionSpec spec;
    private final KvEventSink sink;
    private final StreamCounters counters;
    private final @Nullable ReplayChannel replay;
    private final BatchDecoder decoder;
    private final KvBatch batch;
    private final KvEvent event = new KvEvent(64, 1024);
    private final long replayTimeoutNanos;
    private final long replayIdleNanos;
    private final int maxBuffered;
    private final long rebuildMinNanos;
    private final long rebuildMaxNanos;
    private final long[] lastDropLogNanos = new long[REASONS.length];
    private long lastSinkErrorLogNanos;
    private final long[] lastWarnNanos = new long[WARN_SITES];
    private final long[] suppressedWarns = new long[WARN_SITES];
    private final long maxSyncNanos;
    private long lastFailureLogNanos = Long.MIN_VALUE;

    private long epoch;
    /** The snapshot position to resume after, until the first bootstrap uses it; NONE otherwise. */
    private long resumeAfter = NONE;
    /** Contents restored from a snapshot that replay could not bring up to date (see "Resume"). */
    private boolean stale;
    private boolean syncResume;
    private long lastSeq = NONE;
    private long lastLiveSeq = NONE;
    private boolean holdsState;
    private boolean everLive;
    private boolean connected;
    private boolean connectedOnce;
    private boolean lostPeer;
    private boolean degraded;
    /** The sink reported an event it could not index since the owner was last reset: a rebuild alone does not heal. */
    private boolean incompleteSinceReset;
    private boolean bootstrapPending;
    private boolean bootstrapStarted;
    /** Set by a rebuild that found an empty ring: the next live seq must be the publisher's first. */
    private boolean expectFirst;
    private StreamState published = StreamState.CONNECTING;

    private boolean syncing;
    private long syncFrom;
    private boolean syncRebuild;
    private boolean syncGotData;
    private boolean syncTruncated;
    private boolean syncStalled;
    /** The exchange (including its resumptions) rebuilds the stream from the ring: success makes it exact. */
    private boolean syncRebuilding;
    private long syncStartSeq;
    private int syncAttempts;
    private long syncDeadline;
    /** When the exchange began (kept across resumptions). */
    private long syncBeganAt;
    private final ArrayDeque<Pending> buffer = new ArrayDeque<>();
    private long rebuildAt = NEVER;
    private int rebuildFailures;

    StreamSession(SubscriptionSpec spec, KvEventSink sink, StreamCounters counters, @Nullable ReplayChannel replay,
                  SubscriberConfig config) {
        this.spec = spec;
        this.sink = sink;
        this.counters = counters;
        this.replay = replay;
        this.decoder = BatchDecoder.forPublisher(spec.publisher());
        this.batch = new KvBatch(spec.key(), spec.publisher());
        this.replayTimeoutNanos = config.replayTimeout().toNanos();
        this.replayIdleNanos = Math.min(replayTimeoutNanos, MAX_REPLAY_IDLE_NANOS);
        this.maxSyncNanos = MAX_SYNC_TIMEOUTS * replayTimeoutNanos;
        Arrays.fill(lastWarnNanos, Long.MIN_VALUE);
        this.maxBuffered = config.maxBufferedBatches();
        this.rebuildMinNanos = config.rebuildBackoffMin().toNanos();
        this.rebuildMaxNanos = config.rebuildBackoffMax().toNanos();
        this.bootstrapPending = replay != null;
        Arrays.fill(lastDropLogNanos, Long.MIN_VALUE);
        lastSinkErrorLogNanos = Long.MIN_VALUE;
        final long restored = sink.resumeAfterSeq();
        if (restored >= 0) {
            resumeAfter = restored;
            lastSeq = restored;
            lastLiveSeq = restored;
            holdsState = true;
            stale = sink.resumeStale();
            counters.set(StreamCounters.LAST_SEQ, restored);
        }
        published = stale ? StreamState.STALE : StreamState.CONNECTING;
        counters.state(published, false);
    }

    // ---- inputs ----

    /** A live batch arrived. */
    void onLive(long seq, byte[] payload, int offset, int length, long now) {
        connected = true;
        if (lastLiveSeq != NONE && Long.compareUnsigned(seq, lastLiveSeq) <= 0) {
            onRestart(seq);
        }
        lastLiveSeq = seq;
        if (counters.get(StreamCounters.HIGHEST_SEQ) < seq) {
            counters.set(StreamCounters.HIGHEST_SEQ, seq);
        }
        if (!syncing && bootstrapPending) {
            startSync(0, true, now);
        }
        if (!syncing && expectFirst && lastSeq == NONE && seq != spec.publisher().firstSeq()) {
            // An empty ring said nothing was sent yet, but this live batch is not the first: batches were missed.
            expectFirst = false;
            counters.increment(StreamCounters.GAPS);
            counters.add(StreamCounters.BATCHES_MISSED, seq - spec.publisher().firstSeq());
            startSync(spec.publisher().firstSeq(), false, now);
        }
        expectFirst = false;
        if (syncing) {
            bufferLive(seq, payload, offset, length, now);
        } else if (lastSeq == NONE || seq == lastSeq + 1) {
            apply(seq, payload, offset, length, false, now);
        } else if (Long.compareUnsigned(seq, lastSeq) <= 0) {
            counters.increment(StreamCounters.DUPLICATES);
        } else {
            final long missed = seq - lastSeq - 1;
            counters.increment(StreamCounters.GAPS);
            counters.add(StreamCounters.BATCHES_MISSED, missed);
            LOG.info("stream {}: gap of {} batches before seq {}{}", spec.key(), missed, seq,
                    replay != null ? ", replaying" : ", no replay endpoint");
            if (replay != null) {
                startSync(lastSeq + 1, false, now);
                bufferLive(seq, payload, offset, length, now);
            } else if (resumeAfter != NONE) {
                // Restored from a snapshot, and no ring can fill the batches published since: keep the restored
                // blocks (most are still held) and say so, as when a ring no longer covers the snapshot's
                // position. Clearing them would answer from only what arrived since the restart.
                LOG.warn("stream {}: {} batches published since snapshot seq {} are lost (no replay endpoint); "
                        + "keeping the restored blocks, state STALE until the engine restarts or clears",
                        spec.key(), missed, resumeAfter);
                resumeAfter = NONE;
                stale = true;
                lastSeq = NONE;
                apply(seq, payload, offset, length, false, now);
            } else {
                giveUp();
                apply(seq, payload, offset, length, false, now);
            }
        }
        publishState();
    }

    /** A replayed batch arrived on the DEALER. */
    void onReplayData(long seq, byte[] payload, int offset, int length, long now) {
        if (!syncing) {
            counters.increment(StreamCounters.DUPLICATES); // a late reply to an abandoned exchange
            return;
        }
        if (now - syncBeganAt - maxSyncNanos >= 0) {
            // A server that keeps answering (junk, or the same batches again and again) must not hold the stream
            // in SYNCING for ever.
            fail(ReplayResult.TIMEOUT, "replay still running after " + maxSyncNanos / 1_000_000 + " ms", now);
            publishState();
            return;
        }
        // Replies of one exchange come back to back: once data flowed, a short silence means the rest (the end
        // marker at least) was dropped, and the exchange resumes from lastSeq + 1 instead of waiting it out.
        syncDeadline = now + replayIdleNanos;
        if (!syncGotData) {
            syncGotData = true;
            if (syncResume) {
                onFirstResumeReply(seq);
            } else if (!syncRebuild && Long.compareUnsigned(seq, syncFrom) > 0) {
                // The ring starts after the requested seq: the gap cannot be covered. Rebuild from the ring.
                LOG.warn("stream {}: replay from {} starts at {}, ring no longer covers the gap; rebuilding",
                        spec.key(), syncFrom, seq);
                syncTruncated = true;
                syncRebuild = true;
                syncRebuilding = true;
                resetOwner(ResetCause.REBUILD);
                lastSeq = NONE;
            }
        }
        if (lastSeq != NONE && Long.compareUnsigned(seq, lastSeq) <= 0) {
            counters.increment(StreamCounters.DUPLICATES);
            return;
        }
        if (syncStalled) {
            return; // past a hole in this exchange: these batches will be asked for again, in order
        }
        if (lastSeq != NONE && seq > lastSeq + 1) {
            // Replies went missing inside the exchange (a ROUTER drops replies above its send HWM, 1,000 by
            // default, so a long ring never arrives whole). Applying past the hole would break the order: stop
            // here and ask again from lastSeq + 1 once this exchange ends.
            syncStalled = true;
            return;
        }
        if (!matchesBufferedLive(seq, payload, offset, length)) {
            drop(DropReason.REPLAY_MISMATCH, "replayed seq " + seq + " differs from the live batch of that seq",
                    payload, offset, length, now);
            fail(ReplayResult.FAILED, "replayed seq " + seq + " differs from the live batch of that seq", now);
            publishState();
            return;
        }
        apply(seq, payload, offset, length, true, now);
    }

    /**
     * Before a replayed batch applies: buffered live batches below its seq are now duplicates (dropped here, so
     * the head is the only candidate), and a buffered live batch of the same seq must carry the same bytes.
     */
    private boolean matchesBufferedLive(long seq, byte[] payload, int offset, int length) {
        Pending head;
        while ((head = buffer.peek()) != null && Long.compareUnsigned(head.seq(), seq) < 0) {
            buffer.poll();
            counters.increment(StreamCounters.DUPLICATES);
        }
        counters.set(StreamCounters.BUFFERED, buffer.size());
        return head == null || head.seq() != seq
                || Arrays.equals(head.payload(), 0, head.payload().length, payload, offset, offset + length);
    }

    /** The replay end marker arrived. */
    void onReplayEnd(long now) {
        if (!syncing) {
            return;
        }
        if (!syncRebuild && !syncGotData && !buffer.isEmpty() && !coversNext()) {
            // A ring always keeps the newest batches, yet it holds nothing at or after the requested seq while a
            // newer live batch exists: the publisher restarted under us. (An empty reply with nothing buffered
            // just means we are caught up.)
            if (syncRebuilding) {
                // This exchange already rebuilt from the ring, and the ring still ends before the buffered live
                // batch: the batches in between are gone (the live seq is ahead of the ring). Rebuilding again at
                // once would loop for ever; fail, so the next rebuild waits for the backoff.
                fail(ReplayResult.TRUNCATED, "the ring ends at " + lastSeq + ", before live seq "
                        + buffer.peek().seq(), now);
                publishState();
                return;
            }
            warn(WARN_REPLAY_EMPTY, now, "stream {}: replay from {} returned nothing; rebuilding", spec.key(),
                    syncFrom);
            counters.replay(ReplayResult.TRUNCATED);
            syncing = false;
            startSync(0, true, now);
            publishState();
            return;
        }
        if (syncStalled) {
            resume("replies were missing", now);
            publishState();
            return;
        }
        drainBuffer(now);
        if (!buffer.isEmpty()) {
            resume("buffered live batches do not continue the replayed ones", now);
            publishState();
            return;
        }
        if (syncRebuild && !syncGotData) {
            // The ring is empty: the publisher has sent nothing yet, so its first seq is next; anything later is a gap.
            expectFirst = true;
        }
        final ReplayResult result = syncTruncated ? ReplayResult.TRUNCATED
                : syncRebuilding ? ReplayResult.BOOTSTRAPPED : ReplayResult.HEALED;
        counters.replay(result);
        LOG.debug("stream {}: replay {} up to seq {}", spec.key(), result, lastSeq);
        syncing = false;
        everLive = true;
        syncAttempts = 0;
        rebuildFailures = 0;
        if (syncRebuilding && !incompleteSinceReset) {
            degraded = false; // a complete rebuild makes the stream exact again
        }
        if (degraded && replay != null) {
            scheduleRebuild(now);
        }
        publishState();
    }

    /** The live socket gained a peer: a connected or accepted connection finished its ZMTP handshake. */
    void onConnected(long now) {
        connected = true;
        final boolean first = !connectedOnce;
        if (lostPeer) {
            counters.increment(StreamCounters.RECONNECTS);
        }
        // A live batch may have been read (and started the bootstrap) before this event was processed: the first
        // handshake only bootstraps if nothing did yet; a reconnect always rebuilds.
        if (replay != null && (lostPeer || (first && !bootstrapStarted))) {
            bootstrapPending = true;
            if (!syncing) {
                startSync(0, true, now);
            }
        }
        if (first || lostPeer) {
            LOG.info("stream {}: {} {}", spec.key(), first ? "connected to" : "reconnected to", spec.endpoint());
        }
        connectedOnce = true;
        lostPeer = false;
        publishState();
    }

    /** The live socket lost a connection (ignored unless a peer had completed its handshake). */
    void onDisconnected() {
        if (!connected) {
            return; // a connection that never completed its handshake: nothing was lost
        }
        LOG.info("stream {}: lost {}; ZMQ reconnects with backoff", spec.key(), spec.endpoint());
        connected = false;
        lostPeer = true;
        publishState();
    }

    /**
     * The sockets were replaced after JeroMQ's I/O thread died: whatever the old ones held is gone, so the stream
     * behaves as after a lost peer (the next handshake rebuilds it from the ring). A replay in progress was sent on
     * the dead socket: it times out and fails as usual.
     */
    void onTransportRebuilt() {
        connected = false;
        lostPeer = true;
        publishState();
    }

    /** A frame-level problem on the live or replay socket. */
    void dropFrame(DropReason reason, String message, byte[] bytes, int offset, int length, long now) {
        drop(reason, message, bytes, offset, length, now);
    }

    /** Timeouts and scheduled rebuilds. */
    void onTimer(long now) {
        if (syncing) {
            if (now - syncBeganAt - maxSyncNanos >= 0) {
                fail(ReplayResult.TIMEOUT, "replay still running after " + maxSyncNanos / 1_000_000 + " ms", now);
                publishState();
            } else if (now - syncDeadline >= 0) {
                if (syncGotData && lastSeq != syncStartSeq) {
                    // Replies (the end marker at least) were lost after real progress: continue from there on a
                    // fresh socket, so late replies of this exchange cannot interleave.
                    if (replay != null) {
                        replay.restart();
                    }
                    resume("the end marker did not arrive", now);
                } else {
                    fail(ReplayResult.TIMEOUT, "no replay reply within " + replayTimeoutNanos / 1_000_000 + " ms",
                            now);
                }
                publishState();
            }
        } else if (rebuildAt != NEVER && now - rebuildAt >= 0) {
            rebuildAt = NEVER;
            startSync(0, true, now);
            publishState();
        }
    }

    /**
     * Something escaped this stream's processing: an {@link Error} thrown by the sink (its own
     * {@link RuntimeException}s are caught and counted as sink errors), an {@link OutOfMemoryError}, or a bug. The
     * sink may hold half a batch, so the stream's blocks are forgotten (reset {@code UNRECOVERABLE_GAP}), the
     * replay in progress and the buffer are abandoned, the state goes DEGRADED and a rebuild is scheduled when a
     * replay endpoint is known. Counted in {@link StreamStats#failures()}; logged at ERROR with the stack trace
     * (the first time, then at most once a minute). Must not throw.
     */
    void onFailure(Throwable failure, long now) {
        counters.increment(StreamCounters.FAILURES);
        if (lastFailureLogNanos == Long.MIN_VALUE || now - lastFailureLogNanos >= LOG_INTERVAL_NANOS) {
            lastFailureLogNanos = now;
            LOG.error("stream {}: processing failed ({} so far, logged once a minute); clearing the stream's "
                    + "blocks, state DEGRADED", spec.key(), counters.get(StreamCounters.FAILURES), failure);
        }
        syncing = false;
        syncAttempts = 0;
        buffer.clear();
        counters.set(StreamCounters.BUFFERED, 0);
        try {
            if (replay != null) {
                replay.restart();
            }
            giveUp();
        } catch (Throwable again) {
            // The sink failed again while being reset: it is marked degraded all the same.
            LOG.error("stream {}: resetting after a failure failed too", spec.key(), again);
        }
        lastSeq = NONE;
        degraded = true;
        scheduleRebuild(now);
        rebuildFailures++;
        publishState();
    }

    /** The next time {@link #onTimer} has work, or {@link Long#MAX_VALUE}. */
    long nextDeadline() {
        if (!syncing) {
            return rebuildAt;
        }
        final long end = syncBeganAt + maxSyncNanos;
        return end - syncDeadline < 0 ? end : syncDeadline;
    }

    // ---- transitions ----

    private void onRestart(long seq) {
        counters.increment(StreamCounters.RESTARTS);
        LOG.warn("stream {}: seq went back from {} to {}: engine restarted, clearing its blocks", spec.key(),
                lastLiveSeq, seq);
        if (syncing) {
            syncing = false;
            buffer.clear();
            counters.set(StreamCounters.BUFFERED, 0);
            if (replay != null) {
                replay.restart();
            }
        }
        resetOwner(ResetCause.ENGINE_RESTART);
        lastSeq = NONE;
        lastLiveSeq = NONE;
        rebuildAt = NEVER;
        counters.set(StreamCounters.HIGHEST_SEQ, seq);
        if (seq == spec.publisher().firstSeq()) {
            degraded = false; // the new process's whole history follows
            bootstrapPending = false;
        } else if (replay != null) {
            bootstrapPending = true;
        } else {
            degraded = true;
        }
    }

    /** The first reply of a resume exchange: see "Resume" above. */
    private void onFirstResumeReply(long seq) {
        syncResume = false;
        if (seq == spec.publisher().firstSeq()) {
            LOG.info("stream {}: replay ring holds the publisher's whole history; rebuilding instead of resuming "
                    + "after seq {}", spec.key(), lastSeq);
            resetOwner(ResetCause.REBUILD);
            lastSeq = NONE;
            syncRebuild = true;
            syncRebuilding = true;
        } else if (lastSeq != NONE && Long.compareUnsigned(seq, lastSeq + 1) > 0) {
            LOG.warn("stream {}: snapshot position {} is older than the replay ring (starts at {}); keeping the "
                    + "restored blocks, state STALE until the engine restarts or clears", spec.key(), lastSeq, seq);
            stale = true;
            lastSeq = NONE;
            syncRebuild = true;
            syncTruncated = true;
        } else {
            LOG.info("stream {}: resuming after snapshot seq {} (ring starts at {})", spec.key(), lastSeq, seq);
        }
    }

    private void startSync(long from, boolean rebuild, long now) {
        final ReplayChannel channel = replay;
        if (channel == null) {
            return;
        }
        syncResume = false;
        if (rebuild && resumeAfter != NONE) {
            // The first bootstrap of a stream restored from a snapshot: keep the contents and look at the ring.
            resumeAfter = NONE;
            rebuild = false;
            from = spec.publisher().firstSeq();
            syncResume = true;
        }
        if (rebuild) {
            resetOwner(ResetCause.REBUILD);
            lastSeq = NONE;
            bootstrapStarted = true;
        }
        syncing = true;
        expectFirst = false;
        syncFrom = from;
        syncRebuild = rebuild;
        syncGotData = false;
        syncTruncated = false;
        syncStalled = false;
        syncRebuilding = rebuild;
        syncStartSeq = lastSeq;
        syncAttempts++;
        syncDeadline = now + replayTimeoutNanos;
        syncBeganAt = now;
        bootstrapPending = false;
        rebuildAt = NEVER;
        if (!channel.request(from)) {
            fail(ReplayResult.FAILED, "replay request could not be queued", now);
        }
    }

    /**
     * Continues an exchange that ended early: from lastSeq + 1, keeping the buffer. An exchange that made progress
     * does not use up an attempt, so a long ring arriving in pieces still converges.
     */
    private void resume(String why, long now) {
        final boolean progressed = lastSeq != syncStartSeq;
        LOG.debug("stream {}: replay from {} stopped at {} ({}); continuing", spec.key(), syncFrom, lastSeq, why);
        syncing = false;
        if (progressed) {
            syncAttempts = 0;
        }
        if (syncAttempts >= MAX_SYNC_ATTEMPTS) {
            syncing = true;
            fail(ReplayResult.FAILED, why + " in " + syncAttempts + " replays without progress", now);
            return;
        }
        final boolean truncated = syncTruncated;
        final boolean rebuilding = syncRebuilding;
        final long began = syncBeganAt;
        startSync(lastSeq == NONE ? 0 : lastSeq + 1, lastSeq == NONE, now);
        syncTruncated = truncated;
        syncRebuilding = rebuilding || syncRebuilding;
        if (syncing) {
            syncBeganAt = began;
        }
    }

    /** Replay could not help: reset, apply what is buffered, go DEGRADED, schedule a rebuild if possible. */
    private void fail(ReplayResult result, String why, long now) {
        counters.replay(result);
        warn(WARN_REPLAY_FAILED, now, "stream {}: replay from {} {} ({}); clearing the stream's blocks, state "
                + "DEGRADED, next rebuild after the backoff", spec.key(), syncFrom, result, why);
        syncing = false;
        syncAttempts = 0;
        if (replay != null) {
            replay.restart();
        }
        giveUp();
        while (!buffer.isEmpty()) {
            final Pending p = buffer.poll();
            if (lastSeq != NONE && Long.compareUnsigned(p.seq(), lastSeq) <= 0) {
                counters.increment(StreamCounters.DUPLICATES);
                continue;
            }
            apply(p.seq(), p.payload(), 0, p.payload().length, false, now);
        }
        counters.set(StreamCounters.BUFFERED, 0);
        scheduleRebuild(now);
        rebuildFailures++;
    }

    private void giveUp() {
        resetOwner(ResetCause.UNRECOVERABLE_GAP);
        lastSeq = NONE;
        degraded = true;
    }

    private void scheduleRebuild(long now) {
        if (replay == null) {
            return;
        }
        final int shift = Math.min(rebuildFailures, 20);
        final long base = Math.min(rebuildMaxNanos, rebuildMinNanos << shift);
        final long jitter = ThreadLocalRandom.current().nextLong(base / 4 + 1);
        rebuildAt = now + Math.min(rebuildMaxNanos, base + jitter);
    }

    private boolean coversNext() {
        final Pending first = buffer.peek();
        return first != null && (lastSeq == NONE || Long.compareUnsigned(first.seq(), lastSeq + 1) <= 0);
    }

    private void bufferLive(long seq, byte[] payload, int offset, int length, long now) {
        if (buffer.size() >= maxBuffered) {
            fail(ReplayResult.FAILED, "more than " + maxBuffered + " live batches arrived during the replay", now);
            apply(seq, payload, offset, length, false, now);
            return;
        }
        buffer.add(new Pending(seq, Arrays.copyOfRange(payload, offset, offset + length)));
        counters.set(StreamCounters.BUFFERED, buffer.size());
    }

    private void drainBuffer(long now) {
        while (!buffer.isEmpty()) {
            final Pending p = buffer.peek();
            if (lastSeq != NONE && Long.compareUnsigned(p.seq(), lastSeq) <= 0) {
                counters.increment(StreamCounters.DUPLICATES);
                buffer.poll();
            } else if (lastSeq == NONE || p.seq() == lastSeq + 1) {
                buffer.poll();
                apply(p.seq(), p.payload(), 0, p.payload().length, false, now);
            } else {
                break;
            }
        }
        counters.set(StreamCounters.BUFFERED, buffer.size());
    }

    private void resetOwner(ResetCause cause) {
        if (!holdsState && cause == ResetCause.REBUILD) {
            return; // a bootstrap: nothing of this stream reached the sink, so there is nothing to forget
        }
        epoch++;
        counters.set(StreamCounters.EPOCH, epoch);
        holdsState = false;
        stale = false;
        resumeAfter = NONE;
        incompleteSinceReset = false;
        try {
            sink.onStreamReset(spec.key(), cause, epoch);
        } catch (RuntimeException e) {
            sinkError(e, System.nanoTime());
        }
    }

    private void publishState() {
        final StreamState state = syncing ? StreamState.SYNCING
                : degraded ? StreamState.DEGRADED
                : stale ? StreamState.STALE
                : !everLive || (lostPeer && !connected) ? StreamState.CONNECTING
                : StreamState.LIVE;
        // State and connectivity are published as one word, so a snapshot never pairs LIVE with a stale
        // "not connected" (or the reverse).
        counters.state(state, connected);
        if (state != published) {
            LOG.info("stream {}: {} -> {}", spec.key(), published, state);
            published = state;
        }
    }

    // ---- applying a batch ----

    private void apply(long seq, byte[] payload, int offset, int length, boolean replayed, long now) {
        everLive = true;
        lastSeq = seq;
        counters.set(StreamCounters.LAST_SEQ, seq);
        final KvBatch batch = this.batch;
        final BatchDecoder decoder = this.decoder;
        final KvEvent event = this.event;
        final KvEventSink sink = this.sink;
        batch.seq(seq);
        batch.epoch(epoch);
        batch.replayed(replayed);
        batch.clearReports();
        try {
            decoder.begin(payload, offset, length, batch, spec.key().dpRank());
        } catch (DecodeException e) {
            drop(e.reason(), "seq " + seq + ": " + e.getMessage(), payload, offset, length, now);
            releaseBuffers();
            return;
        }
        try {
            sink.onBatchBegin(batch);
        } catch (RuntimeException e) {
            sinkError(e, now);
        }
        holdsState = true;
        long events = 0;
        long stored = 0;
        long removed = 0;
        long clears = 0;
        long nonPrimary = 0;
        while (decoder.hasNextEvent()) {
            final int eventStart = decoder.reader.position();
            try {
                decoder.nextEvent(event);
            } catch (DecodeException e) {
                final int eventEnd = decoder.reader.position();
                drop(e.reason(), "seq " + seq + ": " + e.getMessage(), payload, eventStart, eventEnd - eventStart,
                        now);
                continue;
            }
            events++;
            switch (event.kind()) {
                case BLOCKS_STORED, OBJECT_STORED -> stored += event.blockCount();
                case BLOCKS_REMOVED, OBJECT_REMOVED -> removed += event.blockCount();
                case ALL_BLOCKS_CLEARED, OBJECTS_CLEARED -> clears++;
            }
            if (!event.isPrimaryGroup()) {
                nonPrimary++;
            }
            if (event.kind() == EventKind.ALL_BLOCKS_CLEARED) {
                incompleteSinceReset = false;
                if (degraded && !syncing) {
                    // The engine dropped everything: from here on we hold exactly what it announces.
                    degraded = false;
                    rebuildAt = NEVER;
                }
            }
            if (event.kind() == EventKind.ALL_BLOCKS_CLEARED) {
                stale = false; // nothing restored is left to distrust
            }
            try {
                sink.onEvent(batch, event);
            } catch (RuntimeException e) {
                sinkError(e, now);
            }
        }
        try {
            sink.onBatchEnd(batch);
        } catch (RuntimeException e) {
            sinkError(e, now);
        }
        releaseBuffers();
        final int unindexed = batch.unindexedEvents();
        if (unindexed > 0) {
            onUnindexed(seq, unindexed, batch.incomplete(), now);
        }
        final StreamCounters c = counters;
        c.increment(StreamCounters.BATCHES_APPLIED);
        if (replayed) {
            c.increment(StreamCounters.BATCHES_REPLAYED);
        }
        c.add(StreamCounters.EVENTS_APPLIED, events);
        c.add(StreamCounters.BLOCKS_STORED, stored);
        c.add(StreamCounters.BLOCKS_REMOVED, removed);
        c.add(StreamCounters.CLEARS, clears);
        c.add(StreamCounters.NON_PRIMARY_GROUP, nonPrimary);
        c.lastTimestamp(batch.timestampSeconds());
    }

    /** The decoder and the event flyweight forget the payload, and arrays a huge event grew are shrunk. */
    private void releaseBuffers() {
        decoder.reader.release();
        event.release(RETAINED_HASHES, RETAINED_TOKENS);
    }

    private void onUnindexed(long seq, int events, boolean incomplete, long now) {
        counters.drop(DropReason.UNINDEXED, events);
        warn(WARN_UNINDEXED, now, "stream {}: the sink could not index {} event(s) of seq {}{}", spec.key(), events,
                seq, incomplete ? "; state DEGRADED" : "");
        if (incomplete) {
            incompleteSinceReset = true;
            if (!degraded) {
                degraded = true;
                if (!syncing && rebuildAt == NEVER) {
                    scheduleRebuild(now);
                    rebuildFailures++;
                }
            }
        }
    }

    /** A WARN line logged at most once a minute per site, with how many were suppressed in between. */
    private void warn(int site, long now, String format, Object... args) {
        if (lastWarnNanos[site] != Long.MIN_VALUE && now - lastWarnNanos[site] < LOG_INTERVAL_NANOS) {
            suppressedWarns[site]++;
            return;
        }
        lastWarnNanos[site] = now;
        final long suppressed = suppressedWarns[site];
        suppressedWarns[site] = 0;
        if (suppressed > 0) {
            LOG.warn("stream {}: {} similar warnings suppressed in the last minute", spec.key(), suppressed);
        }
        LOG.warn(format, args);
    }

    private void drop(DropReason reason, String message, byte[] bytes, int offset, int length, long now) {
        counters.drop(reason);
        final int i = reason.ordinal();
        if (lastDropLogNanos[i] == Long.MIN_VALUE || now - lastDropLogNanos[i] >= LOG_INTERVAL_NANOS) {
            lastDropLogNanos[i] = now;
            LOG.warn("stream {}: dropped ({}) {}; bytes: {} (logged once a minute per reason, {} so far)",
                    spec.key(), reason, message, HexBytes.truncated(bytes, offset, length), counters.drops(reason));
        }
    }

    private void sinkError(RuntimeException e, long now) {
        counters.increment(StreamCounters.SINK_ERRORS);
        if (lastSinkErrorLogNanos == Long.MIN_VALUE || now - lastSinkErrorLogNanos >= LOG_INTERVAL_NANOS) {
            lastSinkErrorLogNanos = now;
            LOG.error("stream {}: sink threw (logged once a minute)", spec.key(), e);
        }
    }
}
