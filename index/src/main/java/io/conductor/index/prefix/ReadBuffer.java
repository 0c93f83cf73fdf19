package io.conductor.index.prefix;

import java.util.Arrays;

/**
 * Per-query scratch for {@link SeqlockSlots#read}: the three tier bitmaps of the block just read (one bit per
 * context-local owner index) and the stripe sequence numbers seen while probing, kept for validation.
 *
 * <p>Not thread-safe: one buffer belongs to one query thread; it is reused from query to query and allocates only
 * when the owner space of a context grows.
 */
final class ReadBuffer {
    /** Words per tier bitmap (64 owner indices each). */
    int words;
    long[] gpu = new long[1];
    long[] cpu = new long[1];
    long[] disk = new long[1];
    int[] stripeIndex = new int[4];
    long[] stripeSeq = new long[4];
    /** Validation failures seen so far (a diagnostic for stress tests). */
    long retries;

    void prepare(int newWords) {
        if (gpu.length < newWords) {
            gpu = new long[newWords];
            cpu = new long[newWords];
            disk = new long[newWords];
        }
        words = newWords;
    }

    void clearBitmaps() {
        Arrays.fill(gpu, 0, words, 0L);
        Arrays.fill(cpu, 0, words, 0L);
        Arrays.fill(disk, 0, words, 0L);
    }

    void recordStripe(int n, int stripe, long seq) {
        if (n == stripeIndex.length) {
            stripeIndex = Arrays.copyOf(stripeIndex, n * 2);
            stripeSeq = Arrays.copyOf(stripeSeq, n * 2);
        }
        stripeIndex[n] = stripe;
        stripeSeq[n] = seq;
    }
}
