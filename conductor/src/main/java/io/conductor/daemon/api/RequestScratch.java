package io.conductor.daemon.api;

import org.jspecify.annotations.Nullable;

/**
 * One request thread's reusable buffers for a POST body and a query's decoded token ids, so a query in steady
 * state allocates neither (they were two thirds of a {@code /query}'s allocation). A buffer grows to what a request
 * needs up to a retained bound ({@link #RETAINED_BODY_BYTES}, {@link #RETAINED_TOKENS}); a larger request gets a
 * one-off array that is garbage after it, so one huge query does not leave the thread holding megabytes.
 *
 * <p>What a request reads from the buffers (the body, {@link Value.Bin} views of it, the token ids of its
 * {@link PromptQuery}) is valid only until the thread's next request: nothing may keep them past the response.
 * Memory admission is unchanged: a request still charges its body and token bytes to its
 * {@link MemoryBudget.Charge} as if it allocated them.
 *
 * <p>Not thread-safe: one instance per request thread ({@link #forThread()}).
 */
final class RequestScratch {
    /** Largest body buffer a thread keeps between requests. */
    static final int RETAINED_BODY_BYTES = 64 * 1024;
    /** Largest token buffer a thread keeps between requests (64 KB of int32). */
    static final int RETAINED_TOKENS = 16 * 1024;

    private static final ThreadLocal<RequestScratch> THREADS = ThreadLocal.withInitial(RequestScratch::new);

    private byte[] body = new byte[ApiRoutes.READ_CHUNK];
    private int[] tokens = new int[2048];

    private RequestScratch() {
    }

    /** Returns the calling thread's scratch. */
    static RequestScratch forThread() {
        return THREADS.get();
    }

    /**
     * Returns a body buffer of at least {@code capacity} bytes whose first {@code keep} bytes are those of
     * {@code current} (the buffer a read is growing, or {@code null} for the first one).
     */
    byte[] body(int capacity, byte @Nullable [] current, int keep) {
        byte[] out;
        if (capacity <= body.length) {
            out = body;
        } else if (capacity <= RETAINED_BODY_BYTES) {
            body = new byte[Math.min(RETAINED_BODY_BYTES, Math.max(capacity, 2 * body.length))];
            out = body;
        } else {
            out = new byte[capacity];
        }
        if (current != null && current != out && keep > 0) {
            System.arraycopy(current, 0, out, 0, keep);
        }
        return out;
    }

    /** Returns a token buffer of at least {@code count} ints (one-off past {@link #RETAINED_TOKENS}). */
    int[] tokens(int count) {
        if (count <= tokens.length) {
            return tokens;
        }
        if (count <= RETAINED_TOKENS) {
            tokens = new int[Math.min(RETAINED_TOKENS, Math.max(count, 2 * tokens.length))];
            return tokens;
        }
        return new int[count];
    }

    /** The retained body buffer's capacity (tests). */
    int retainedBodyBytes() {
        return body.length;
    }

    /** The retained token buffer's capacity (tests). */
    int retainedTokens() {
        return tokens.length;
    }
}
