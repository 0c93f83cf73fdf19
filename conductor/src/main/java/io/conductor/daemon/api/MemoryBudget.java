package io.conductor.daemon.api;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Admission of HTTP requests by memory cost: every request charges what it is about to allocate (body bytes as
 * they arrive, decoded arrays before they are allocated, hashing scratch) to its own {@link Charge}, which may
 * hold at most the per-request budget, and which takes that memory from one global in-flight budget shared by all
 * requests. A charge over the per-request budget is a {@code 413}: the request can never fit, retrying is useless.
 * A charge the global budget cannot hold right now is a {@code 503} with {@code Retry-After}: other requests hold
 * the memory and will give it back. Either way the charge fails before the allocation, so no request, and no
 * number of concurrent requests, can take more heap than the global budget.
 *
 * <p>The defaults are sized from the heap ({@link Runtime#maxMemory()}): the global budget is a quarter of it (the
 * index may take half, the rest is the daemon's own working set and GC headroom), and one request may use all of
 * it. With the 96 MB default heap that is about 23 MB: a 1.28M-token query (kvbench's verification) costs ~14 MB,
 * a 2048-token prompt ~30 KB.
 *
 * <p>Thread-safe: the global count is atomic. A {@link Charge} belongs to its request's thread.
 */
public final class MemoryBudget {
    /** Memory is taken from the global budget in steps of at least this much, so small requests touch it once. */
    static final long GRANULE = 64 * 1024;
    /** Seconds a client is told to wait after a 503 (the time a large request takes to finish). */
    static final int RETRY_AFTER_SECONDS = 1;

    private final long globalBytes;
    private final long perRequestBytes;
    private final AtomicLong inFlight = new AtomicLong();
    private final AtomicLong rejectedGlobal = new AtomicLong();
    private final AtomicLong rejectedRequest = new AtomicLong();

    /**
     * Creates a budget.
     *
     * @param globalBytes the most bytes all requests in flight may hold together, {@code > 0}
     * @param perRequestBytes the most one request may hold, {@code 1..globalBytes}
     * @throws IllegalArgumentException if a size is out of range
     */
    public MemoryBudget(long globalBytes, long perRequestBytes) {
        if (globalBytes <= 0 || perRequestBytes <= 0 || perRequestBytes > globalBytes) {
            throw new IllegalArgumentException("memory budgets must be positive and per-request <= global: global="
                    + globalBytes + " per_request=" + perRequestBytes);
        }
        this.globalBytes = globalBytes;
        this.perRequestBytes = perRequestBytes;
    }

    /**
     * Returns the default global budget for a heap: a quarter of it.
     *
     * @param maxHeapBytes the heap limit, e.g. {@link Runtime#maxMemory()}
     * @return the global in-flight budget in bytes
     */
    public static long defaultGlobalBytes(long maxHeapBytes) {
        return Math.max(4L << 20, maxHeapBytes / 4);
    }

    /**
     * Returns the default budget of this JVM: global {@link #defaultGlobalBytes}, per request the same.
     *
     * @return the budget
     */
    public static MemoryBudget forHeap() {
        long global = defaultGlobalBytes(Runtime.getRuntime().maxMemory());
        return new MemoryBudget(global, global);
    }

    private static final MemoryBudget UNLIMITED = new MemoryBudget(Long.MAX_VALUE / 4, Long.MAX_VALUE / 4);

    /**
     * Returns the budget that never refuses (for decoding outside a server, e.g. tools, tests and fuzzing). Shared:
     * its count is the sum over everyone using it, which never matters.
     *
     * @return the unlimited budget
     */
    public static MemoryBudget unlimited() {
        return UNLIMITED;
    }

    /**
     * Opens one request's charge; close it when the request's memory is garbage (after the response).
     *
     * @return the charge
     */
    public Charge open() {
        return new Charge();
    }

    /**
     * Returns the global budget.
     *
     * @return bytes
     */
    public long globalBytes() {
        return globalBytes;
    }

    /**
     * Returns the per-request budget.
     *
     * @return bytes
     */
    public long perRequestBytes() {
        return perRequestBytes;
    }

    /**
     * Returns the bytes held by requests in flight now.
     *
     * @return bytes
     */
    public long inFlightBytes() {
        return inFlight.get();
    }

    /**
     * Returns how many charges were refused because the global budget was full (503).
     *
     * @return the count
     */
    public long rejectedGlobal() {
        return rejectedGlobal.get();
    }

    /**
     * Returns how many charges were refused because one request would exceed its budget (413).
     *
     * @return the count
     */
    public long rejectedPerRequest() {
        return rejectedRequest.get();
    }

    private boolean tryTake(long bytes) {
        while (true) {
            long now = inFlight.get();
            if (now + bytes > globalBytes) {
                return false;
            }
            if (inFlight.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    /**
     * One request's memory: what it has charged and what it holds of the global budget. Not thread-safe: it
     * belongs to the request's thread. Closing it gives everything back; it may be closed more than once.
     */
    public final class Charge implements AutoCloseable {
        private long used;
        private long held;

        private Charge() {
        }

        /**
         * Charges bytes the request is about to allocate.
         *
         * @param bytes the cost, {@code >= 0}
         * @throws ApiException 413 {@code payload_too_large} when the request would exceed the per-request
         *     budget; 503 {@code overloaded} (answered with {@code Retry-After}) when the global budget cannot
         *     hold it now
         */
        public void charge(long bytes) {
            if (bytes <= 0) {
                return;
            }
            long total = used + bytes;
            if (total < 0 || total > perRequestBytes) {
                rejectedRequest.incrementAndGet();
                throw ApiException.withReason(413, Reason.PAYLOAD_TOO_LARGE, "request needs more than its memory "
                        + "budget of " + perRequestBytes + " bytes (sized from the heap; see docs/operations.md)");
            }
            if (total > held) {
                long step = Math.min(Math.max(total - held, GRANULE), perRequestBytes - held);
                if (!tryTake(step)) {
                    long exact = total - held;
                    if (exact == step || !tryTake(exact)) {
                        rejectedGlobal.incrementAndGet();
                        throw ApiException.withReason(503, Reason.OVERLOADED, "requests in flight hold the memory "
                                + "budget of " + globalBytes + " bytes; retry later");
                    }
                    step = exact;
                }
                held += step;
            }
            used = total;
        }

        /**
         * Gives back bytes charged earlier whose memory is garbage now (e.g. a body buffer that was replaced).
         *
         * @param bytes the bytes, at most what is charged
         */
        public void refund(long bytes) {
            used = Math.max(0, used - Math.max(0, bytes));
        }

        /**
         * Returns the bytes charged so far.
         *
         * @return bytes
         */
        public long used() {
            return used;
        }

        @Override
        public void close() {
            if (held > 0) {
                inFlight.addAndGet(-held);
                held = 0;
            }
            used = 0;
        }
    }
}
