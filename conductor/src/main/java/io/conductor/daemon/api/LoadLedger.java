package io.conductor.daemon.api;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import org.jspecify.annotations.Nullable;

/**
 * The prefill work the conductor itself has sent to each instance: every cost-policy {@code /route} answer
 * reserves its estimated prefill on the chosen instance. Each instance is modelled as one prefill queue that works
 * through its reservations in order: a reservation is placed at the queue's end ({@code busyUntil}), so the queue
 * an instance shows is {@code busyUntil - now}, which drains with time on its own.
 *
 * <p>A reservation's life: (1) queued; (2) when the instance's engine stores the prompt's first block that no
 * instance held at decision time ({@link #onGpuBlocksStored}: vLLM stores a chunk's blocks when it schedules the
 * chunk, so the prefill has begun), it is re-anchored to start now, and it and everything behind it move earlier
 * or later by how far the prediction was off; (3) it ends when the proxy reports the request through
 * {@code /feedback} or when its TTL passes, and whatever was left of it leaves the queue (the reservations behind
 * it move up). A prompt fully cached on the instance stores no block and goes from (1) to (3).
 *
 * <p>Bounded: at most {@value #MAX_PER_INSTANCE} reservations per instance and {@value #MAX_RESERVATIONS} in all
 * (past either the oldest is dropped, counted as {@code evicted}: candidates are client-supplied ids, so without
 * the overall cap 4,096 ids could hold 4M reservations), and {@value #MAX_INSTANCES} instances with state (an
 * instance whose queue is empty is dropped when room is needed, and at least once per TTL; without room nothing is
 * reserved, counted). An instance's state goes when it is unregistered ({@link #forget}, counted as
 * {@code unregistered}). Thread-safety: one monitor guards everything;
 * the decision path holds it while it reads queues and reserves, so concurrent decisions see each other's
 * reservations. Poller threads take it only while some reservation waits for its block.
 */
final class LoadLedger implements StoredBlocksListener {
    static final int MAX_PER_INSTANCE = 1024;
    static final int MAX_INSTANCES = 4096;
    static final int MAX_RESERVATIONS = 32_768;

    /** Why reservations ended: indexes into {@link #ended}. */
    enum End {
        FEEDBACK, TTL, EVICTED, UNREGISTERED;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** One reservation; mutable fields only under the ledger's monitor. */
    static final class Reservation {
        final long routeId;
        final String instanceId;
        final long releaseHash;
        final boolean hasReleaseHash;
        final long workNanos;
        final long expiresAt;
        final long promptTokens;
        final long uncachedTokens;
        final long predictedQueueNanos;
        /** Start and end on the ledger's clock plus the queue's {@code shift} at the time they were last set. */
        long start;
        long finish;
        boolean started;

        Reservation(long routeId, String instanceId, long releaseHash, boolean hasReleaseHash, long workNanos,
                long expiresAt, long promptTokens, long uncachedTokens, long predictedQueueNanos) {
            this.routeId = routeId;
            this.instanceId = instanceId;
            this.releaseHash = releaseHash;
            this.hasReleaseHash = hasReleaseHash;
            this.workNanos = workNanos;
            this.expiresAt = expiresAt;
            this.promptTokens = promptTokens;
            this.uncachedTokens = uncachedTokens;
            this.predictedQueueNanos = predictedQueueNanos;
        }

        long predictedPrefillNanos() {
            return workNanos;
        }

        long predictedTtftNanos() {
            return predictedQueueNanos + workNanos;
        }
    }

    /** One instance's queue. */
    private static final class Queue {
        final ArrayDeque<Reservation> fifo = new ArrayDeque<>();
        long busyUntil;
        /**
         * How far every reservation in the queue has moved up since it was placed, by removals at the head: their
         * stored times minus this are their times. Makes the common removal (the oldest) O(1).
         */
        long shift;
    }

    private final long ttlNanos;
    private final boolean requestClock;
    private long clock;
    private final HashMap<String, Queue> queues = new HashMap<>();
    /** Every open reservation by route id, oldest first (route ids only grow). */
    private final LinkedHashMap<Long, Reservation> byRouteId = new LinkedHashMap<>();
    private final AtomicLongArray ended = new AtomicLongArray(End.values().length);
    private long nextRouteId = 1;
    private long noRoom;
    /** When idle queues were last dropped; a sweep runs at least once per TTL. */
    private long lastSweep;
    private final java.util.concurrent.atomic.AtomicLong started = new java.util.concurrent.atomic.AtomicLong();
    /** Reservations whose BlockStored has not come; read without the monitor by poller threads (zero: skip). */
    private volatile int waiting;

    LoadLedger(long ttlNanos) {
        this(ttlNanos, false);
    }

    /**
     * Creates a ledger.
     *
     * @param ttlNanos reservation TTL
     * @param requestClock true: time is what {@link #advanceClock} was last given (a replay's simulated clock);
     *     false: {@link System#nanoTime()}
     */
    LoadLedger(long ttlNanos, boolean requestClock) {
        this.ttlNanos = ttlNanos;
        this.requestClock = requestClock;
        this.lastSweep = requestClock ? 0 : System.nanoTime();
    }

    /**
     * Returns the ledger's time.
     *
     * @return nanoseconds on the ledger's clock
     */
    synchronized long now() {
        return requestClock ? clock : System.nanoTime();
    }

    /**
     * Moves the request clock forward (never back); ignored on the wall clock.
     *
     * @param nanos the caller's time
     */
    synchronized void advanceClock(long nanos) {
        clock = Math.max(clock, nanos);
    }

    boolean requestClock() {
        return requestClock;
    }

    /**
     * Returns the instance's queued prefill work at {@code now}, after dropping expired reservations. Callers that
     * decide and then reserve hold this object's monitor across both.
     *
     * @param instanceId the instance
     * @param now {@link System#nanoTime()}
     * @return nanoseconds of queued work, {@code >= 0}
     */
    synchronized long queueNanos(String instanceId, long now) {
        Queue q = queues.get(instanceId);
        if (q == null) {
            return 0;
        }
        expire(q, now);
        return Math.max(0, q.busyUntil - now);
    }

    /**
     * Returns how many reservations are outstanding on an instance.
     *
     * @param instanceId the instance
     * @return the count
     */
    synchronized int pending(String instanceId) {
        Queue q = queues.get(instanceId);
        return q == null ? 0 : q.fifo.size();
    }

    /**
     * Reserves work at the end of an instance's queue.
     *
     * @return the reservation, or {@code null} when there was no room for another instance's state
     */
    synchronized @Nullable Reservation reserve(String instanceId, long workNanos, long releaseHash,
            boolean hasReleaseHash, long promptTokens, long uncachedTokens, long now) {
        if (now - lastSweep >= ttlNanos) {
            // Queues of ids named once (client-supplied candidates) must not outlive their reservations.
            lastSweep = now;
            dropIdle(now);
        }
        Queue q = queues.get(instanceId);
        if (q == null) {
            if (queues.size() >= MAX_INSTANCES && !dropIdle(now)) {
                noRoom++;
                return null;
            }
            q = new Queue();
            queues.put(instanceId, q);
        }
        expire(q, now);
        if (q.fifo.size() >= MAX_PER_INSTANCE) {
            Reservation oldest = q.fifo.pollFirst();
            if (oldest != null) {
                shiftAfterRemoval(q, oldest, now, true);
                byRouteId.remove(oldest.routeId);
                waiting -= oldest.started || !oldest.hasReleaseHash ? 0 : 1;
                ended.incrementAndGet(End.EVICTED.ordinal());
            }
        }
        if (byRouteId.size() >= MAX_RESERVATIONS) {
            Map.Entry<Long, Reservation> eldest = byRouteId.pollFirstEntry();
            if (eldest != null) {
                Reservation oldest = eldest.getValue();
                Queue owner = queues.get(oldest.instanceId);
                if (owner != null) {
                    release(owner, oldest, now, End.EVICTED);
                }
            }
        }
        long start = Math.max(now, q.busyUntil);
        Reservation r = new Reservation(nextRouteId++, instanceId, releaseHash, hasReleaseHash, workNanos,
                now + ttlNanos, promptTokens, uncachedTokens, start - now);
        r.start = start + q.shift;
        r.finish = r.start + workNanos;
        q.busyUntil = start + workNanos;
        q.fifo.addLast(r);
        byRouteId.put(r.routeId, r);
        waiting += hasReleaseHash ? 1 : 0;
        return r;
    }

    /**
     * Ends a reservation named by its route id, or else the oldest of the instance, because the proxy reported it.
     *
     * @param instanceId the instance the feedback names
     * @param routeId the route id the feedback names, or {@code 0} for none
     * @param now {@link System#nanoTime()}
     * @return the ended reservation (for prediction error and learning), or {@code null} when none was open
     */
    synchronized @Nullable Reservation releaseByFeedback(String instanceId, long routeId, long now) {
        Queue q = queues.get(instanceId);
        if (q == null) {
            return null;
        }
        Reservation r = routeId != 0 ? byRouteId.get(routeId) : q.fifo.peekFirst();
        if (r == null || !r.instanceId.equals(instanceId)) {
            return null;
        }
        release(q, r, now, End.FEEDBACK);
        return r;
    }

    @Override
    public void onGpuBlocksStored(String instanceId, long[] hashes, int from, int count) {
        if (waiting == 0) {
            return;
        }
        synchronized (this) {
            Queue q = queues.get(instanceId);
            if (q == null || q.fifo.isEmpty()) {
                return;
            }
            long now = now();
            for (int i = from; i < from + count; i++) {
                Reservation r = firstWaiting(q, hashes[i]);
                if (r != null) {
                    start(q, r, now);
                }
            }
        }
    }

    private static @Nullable Reservation firstWaiting(Queue q, long hash) {
        for (Reservation r : q.fifo) {
            if (!r.started && r.hasReleaseHash && r.releaseHash == hash) {
                return r;
            }
        }
        return null;
    }

    /**
     * Its prefill has begun now: it and everything behind it move to where that puts them (earlier when the
     * queue ahead went faster than predicted, later when slower). It stays in the queue until it ends.
     */
    @SuppressWarnings("NonAtomicVolatileUpdate") // runs under the monitor; volatile only for lock-free readers
    private void start(Queue q, Reservation r, long now) {
        r.started = true;
        waiting--;
        started.incrementAndGet();
        long delta = r.start - q.shift - now;
        if (delta == 0) {
            return;
        }
        boolean behind = false;
        for (Reservation other : q.fifo) {
            if (other == r) {
                behind = true;
            }
            if (behind) {
                other.start -= delta;
                other.finish -= delta;
            }
        }
        q.busyUntil = Math.max(q.busyUntil - delta, r.finish - q.shift);
    }

    /**
     * Returns how many reservations saw their prompt's {@code BlockStored} (their prefill began).
     *
     * @return the count since start
     */
    long started() {
        return started.get();
    }

    /**
     * Returns how many reservations ended for a reason.
     *
     * @param end the reason
     * @return the count since start
     */
    long ended(End end) {
        return ended.get(end.ordinal());
    }

    /**
     * Returns how many reservations could not be made for lack of room.
     *
     * @return the count since start
     */
    synchronized long noRoom() {
        return noRoom;
    }

    /**
     * Drops an unregistered instance's queue: its open reservations end (counted as {@code unregistered}).
     *
     * @param instanceId the instance
     */
    synchronized void forget(String instanceId) {
        Queue q = queues.remove(instanceId);
        if (q == null) {
            return;
        }
        for (Reservation r : q.fifo) {
            byRouteId.remove(r.routeId);
            waiting -= r.started || !r.hasReleaseHash ? 0 : 1;
            ended.incrementAndGet(End.UNREGISTERED.ordinal());
        }
    }

    /**
     * Returns how many reservations are open over all instances (for tests of the bound).
     *
     * @return the count
     */
    synchronized int reservations() {
        return byRouteId.size();
    }

    /**
     * Returns the number of instances with state (for tests of the bound).
     *
     * @return the count
     */
    synchronized int instanceCount() {
        return queues.size();
    }

    @SuppressWarnings("NonAtomicVolatileUpdate") // runs under the monitor; volatile only for lock-free readers
    private void release(Queue q, Reservation r, long now, End why) {
        boolean head = q.fifo.peekFirst() == r;
        q.fifo.remove(r);
        shiftAfterRemoval(q, r, now, head);
        byRouteId.remove(r.routeId);
        waiting -= r.started || !r.hasReleaseHash ? 0 : 1;
        ended.incrementAndGet(why.ordinal());
    }

    /**
     * Takes what was left of {@code r} (already out of the queue) out of the schedule: the end and every later
     * slot move up by it. For the former head every remaining reservation is later, so the queue's shift moves
     * them all at once.
     */
    private static void shiftAfterRemoval(Queue q, Reservation r, long now, boolean head) {
        long left = Math.clamp(r.finish - q.shift - Math.max(now, r.start - q.shift), 0, r.workNanos);
        if (left == 0) {
            return;
        }
        q.busyUntil -= left;
        if (head) {
            q.shift += left;
            return;
        }
        for (Reservation later : q.fifo) {
            if (later.start >= r.finish) {
                later.start -= left;
                later.finish -= left;
            }
        }
    }

    /** Ends reservations past their TTL (the oldest first: every reservation has the same TTL). */
    @SuppressWarnings("NonAtomicVolatileUpdate") // runs under the monitor; volatile only for lock-free readers
    private void expire(Queue q, long now) {
        while (!q.fifo.isEmpty() && q.fifo.peekFirst().expiresAt - now <= 0) {
            Reservation r = q.fifo.pollFirst();
            shiftAfterRemoval(q, r, now, true);
            byRouteId.remove(r.routeId);
            waiting -= r.started || !r.hasReleaseHash ? 0 : 1;
            ended.incrementAndGet(End.TTL.ordinal());
        }
    }

    /** Drops instances whose queue is empty and drained; tells whether room was made. */
    private boolean dropIdle(long now) {
        for (Iterator<Map.Entry<String, Queue>> it = queues.entrySet().iterator(); it.hasNext(); ) {
            Queue q = it.next().getValue();
            expire(q, now);
            if (q.fifo.isEmpty() && q.busyUntil - now <= 0) {
                it.remove();
            }
        }
        return queues.size() < MAX_INSTANCES;
    }
}
