package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Writers and lock-free readers at once. Each (block, rank) may only ever be stored if an "allowed" predicate
 * holds, so a torn read (owners of another block, a half-shifted run, a recycled arena block) shows up as a rank
 * reported on a block it could never hold. Afterwards the index must equal the writers' own model.
 */
class ConcurrentStressTest extends IndexFixture {
    private static final int INSTANCES = 7;
    private static final int RANKS = 10;
    private static final int HASHES = 4096;
    private static final int OPS_PER_WRITER = 150_000;

    private static long hashOf(int i) {
        return (i + 1) * 0x9E3779B97F4A7C15L;
    }

    /** Whether rank {@code r} (0..69) may hold block {@code h}: about half the pairs. */
    private static boolean allowed(long h, int r) {
        long x = h ^ (r * 0xBF58476D1CE4E5B9L);
        x ^= x >>> 31;
        x *= 0x94D049BB133111EBL;
        x ^= x >>> 29;
        return (x & 1) == 0;
    }

    @ParameterizedTest(name = "budget {0}")
    @ValueSource(longs = {64L << 20, 300 * 1024})
    void shouldNeverShowTornEntriesAndEndEqualToModelWhenWritersAndReadersRunTogether(long budget)
            throws Exception {
        boolean tight = budget < (1 << 20);
        index = new PrefixIndex<>(new PrefixIndexConfig(budget, 0, 11));
        RankHandle[] ranks = new RankHandle[INSTANCES * RANKS];
        for (int r = 0; r < ranks.length; r++) {
            ranks[r] = rank("inst-" + (r / RANKS), r % RANKS);
        }
        boolean[][] model = new boolean[ranks.length][HASHES];
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicLong torn = new AtomicLong();
        AtomicLong reads = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        int[] yieldTick = new int[1];
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            int writer = w;
            threads.add(Thread.ofPlatform().name("writer-" + w).unstarted(() -> {
                SplittableRandom rnd = new SplittableRandom(writer);
                IndexBatch b = new IndexBatch();
                long[] one = new long[1];
                for (int op = 0; op < OPS_PER_WRITER; op++) {
                    int r = 2 * rnd.nextInt(ranks.length / 2) + writer;
                    int hi = rnd.nextInt(HASHES);
                    long h = hashOf(hi);
                    if (!allowed(h, r)) {
                        continue;
                    }
                    one[0] = h;
                    if (rnd.nextInt(10) < 6) {
                        b.store(ranks[r], "", Tier.GPU, 0, false, one, 0, 1);
                        model[r][hi] = true;
                    } else {
                        b.remove(ranks[r], Tier.GPU, one, 0, 1);
                        model[r][hi] = false;
                    }
                    if (b.size() == 16) {
                        index.apply(b);
                        b.clear();
                    }
                }
                index.apply(b);
            }));
        }
        for (int rd = 0; rd < 2; rd++) {
            int reader = rd;
            threads.add(Thread.ofPlatform().name("reader-" + rd).unstarted(() -> {
                SplittableRandom rnd = new SplittableRandom(100 + reader);
                PrefixMatch m = new PrefixMatch();
                BlockHashArray seq = new BlockHashArray(new long[1]);
                long[] one = new long[1];
                while (writing.get()) {
                    long h = hashOf(rnd.nextInt(HASHES));
                    one[0] = h;
                    index.query(CTX, seq.wrap(one, 0, 1), "", null, m);
                    reads.incrementAndGet();
                    for (int i = 0; i < m.instanceCount(); i++) {
                        int inst = Integer.parseInt(m.instanceId(i).substring(5));
                        for (int k = 0; k < m.rankCount(i); k++) {
                            int r = inst * RANKS + m.rank(i, k);
                            if (m.rankGpuTokens(i, k) > 0 && !allowed(h, r)) {
                                torn.incrementAndGet();
                            }
                            if (m.rankGpuTokens(i, k) > m.rankCpuTokens(i, k)
                                    || m.rankCpuTokens(i, k) > m.rankDiskTokens(i, k)) {
                                torn.incrementAndGet();
                            }
                        }
                    }
                }
            }));
        }
        // Widen the race: a reader yields between finding a block and copying its owners, so writers often
        // recycle that block's arena memory meanwhile. Without seqlock validation this test reports torn reads.
        SeqlockSlots.readHook = () -> {
            if (Thread.currentThread().getName().startsWith("reader") && (++yieldTick[0] & 3) == 0) {
                Thread.yield();
            }
        };
        try {
            for (Thread t : threads) {
                t.setUncaughtExceptionHandler((th, e) -> failure.compareAndSet(null, e));
                t.start();
            }
            for (Thread t : threads.subList(0, 2)) {
                t.join(TimeUnit.MINUTES.toMillis(2));
            }
            writing.set(false);
            for (Thread t : threads) {
                t.join(TimeUnit.MINUTES.toMillis(1));
            }
        } finally {
            SeqlockSlots.readHook = null;
        }

        assertEquals(null, failure.get());
        assertTrue(reads.get() > 0);
        assertEquals(0, torn.get(), "torn or impossible reads out of " + reads.get());
        if (!tight) {
            long pairs = 0;
            for (int r = 0; r < ranks.length; r++) {
                for (int hi = 0; hi < HASHES; hi++) {
                    int expected = model[r][hi] ? Tier.GPU.bit() : 0;
                    assertEquals(expected, index.tiersOf(ranks[r], "", hashOf(hi)), "rank " + r + " hash " + hi);
                    pairs += model[r][hi] ? 1 : 0;
                }
            }
            assertEquals(pairs, index.stats().pairs());
        } else {
            assertTrue(index.stats().evictedPairs() > 0, "the tight budget forced evictions and compactions");
            assertTrue(index.stats().bytes() <= budget);
        }
    }
}
