package io.conductor.nativestore;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The probe's two Caffeine caches: per-block answers ("every rank namespace present" or not) and whole-query runs.
 *
 * <p>Thread-safe. Lookups reuse one mutable key per thread and allocate nothing; inserts allocate their key and
 * value.
 */
final class ProbeCache {
    /** {@link #cachedRun} result when the run cache does not know the query. */
    static final int MISS = -1;

    /*
     * Why two caches. A warm query over n blocks would cost n lookups in a per-block cache (about 25 ns each on
     * a quiet core, more under load; StoreProbeBenchmark.warmQuery), too much for long prompts against a 2 us
     * budget. The run cache answers a repeated (layout, from, to, digest[from], digest[to - 1]) query with one
     * lookup; chained digests make digest[to - 1] stand for the whole prefix.
     *
     * Staleness. Block answers expire cache_ttl_ms after they were written. A run is built from block answers of
     * different ages, so it expires when its oldest answer does (variable expiry), never later. Store events
     * change block answers and bump a generation; a run written under an older generation is ignored, so an
     * event is seen by the very next query. Runs cut short by the max_batch_keys window are not cached, so a
     * repeated long query keeps extending into the store.
     */
    private final Cache<BlockKey, BlockAnswer> blocks;
    private final Cache<RunKey, RunAnswer> runs;
    private final long ttlNanos;
    private final AtomicLong generation = new AtomicLong();
    private final ThreadLocal<BlockKey> blockLookup = ThreadLocal.withInitial(BlockKey::new);
    private final ThreadLocal<RunKey> runLookup = ThreadLocal.withInitial(RunKey::new);

    private ProbeCache(NativeStoreConfig config) {
        this.ttlNanos = Duration.ofMillis(config.cacheTtlMillis()).toNanos();
        this.blocks = Caffeine.newBuilder().maximumSize(config.cacheMaxBlocks())
                .expireAfterWrite(Duration.ofNanos(ttlNanos)).executor(Runnable::run).build();
        this.runs = Caffeine.newBuilder().maximumSize(Math.max(1, config.cacheMaxBlocks() / 8))
                .expireAfter(new RunExpiry()).executor(Runnable::run).build();
    }

    /** Returns the cache, or {@code null} when {@code cache_ttl_ms} or {@code cache_max_blocks} is 0. */
    static @Nullable ProbeCache create(NativeStoreConfig config) {
        return config.cacheTtlMillis() > 0 && config.cacheMaxBlocks() > 0 ? new ProbeCache(config) : null;
    }

    long generation() {
        return generation.get();
    }

    /** Returns the cached run of a whole query, or {@link #MISS}. */
    int cachedRun(long seed, int fromBlock, int toBlock, long lowFrom, long lowLast) {
        RunKey k = runLookup.get();
        k.set(seed, ((long) fromBlock << 32) | (toBlock & 0xffffffffL), lowFrom, lowLast);
        RunAnswer a = runs.getIfPresent(k);
        return a != null && a.generation == generation.get() ? a.run : MISS;
    }

    void putRun(long seed, int fromBlock, int toBlock, long lowFrom, long lowLast, int run, long generationSeen,
            long oldestAnswerNanos) {
        runs.put(new RunKey(seed, ((long) fromBlock << 32) | (toBlock & 0xffffffffL), lowFrom, lowLast),
                new RunAnswer(run, generationSeen, oldestAnswerNanos + ttlNanos));
    }

    /** Returns the cached answer for one block, or {@code null}. */
    @Nullable BlockAnswer block(long seed, long low64) {
        BlockKey k = blockLookup.get();
        k.set(seed, low64);
        return blocks.getIfPresent(k);
    }

    void putBlock(long seed, long low64, boolean resident, long nowNanos) {
        blocks.put(new BlockKey(seed, low64), new BlockAnswer(resident, nowNanos));
    }

    void invalidateBlock(long seed, long low64) {
        blocks.invalidate(new BlockKey(seed, low64));
        generation.incrementAndGet();
    }

    void markAbsent(long seed, long low64) {
        blocks.put(new BlockKey(seed, low64), new BlockAnswer(false, System.nanoTime()));
        generation.incrementAndGet();
    }

    void clear() {
        generation.incrementAndGet();
        blocks.invalidateAll();
        runs.invalidateAll();
    }

    /** One block's answer and when it was learnt ({@link System#nanoTime()}). */
    record BlockAnswer(boolean resident, long writtenNanos) {
    }

    /** A query's run, the event generation it was computed under, and when its oldest block answer expires. */
    record RunAnswer(int run, long generation, long expiresAtNanos) {
    }

    /** Runs expire with their oldest block answer. */
    private static final class RunExpiry implements Expiry<RunKey, RunAnswer> {
        @Override
        public long expireAfterCreate(RunKey key, RunAnswer value, long currentTime) {
            return Math.max(0, value.expiresAtNanos - currentTime);
        }

        @Override
        public long expireAfterUpdate(RunKey key, RunAnswer value, long currentTime,
                long currentDuration) {
            return Math.max(0, value.expiresAtNanos - currentTime);
        }

        @Override
        public long expireAfterRead(RunKey key, RunAnswer value, long currentTime,
                long currentDuration) {
            return currentDuration;
        }
    }

    /** Block cache key; lookups mutate a per-thread instance that is never inserted. */
    static final class BlockKey {
        private long seed;
        private long low64;

        BlockKey() {
        }

        BlockKey(long seed, long low64) {
            this.seed = seed;
            this.low64 = low64;
        }

        void set(long seed, long low64) {
            this.seed = seed;
            this.low64 = low64;
        }

        @Override
        public boolean equals(@Nullable Object o) {
            return o instanceof BlockKey k && k.seed == seed && k.low64 == low64;
        }

        @Override
        public int hashCode() {
            long h = (low64 ^ seed) * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 32));
        }
    }

    /** Run cache key: layout seed, packed (from, to), and the first and last digests' 64-bit keys. */
    static final class RunKey {
        private long seed;
        private long range;
        private long lowFrom;
        private long lowLast;

        RunKey() {
        }

        RunKey(long seed, long range, long lowFrom, long lowLast) {
            set(seed, range, lowFrom, lowLast);
        }

        void set(long seed, long range, long lowFrom, long lowLast) {
            this.seed = seed;
            this.range = range;
            this.lowFrom = lowFrom;
            this.lowLast = lowLast;
        }

        @Override
        public boolean equals(@Nullable Object o) {
            return o instanceof RunKey k && k.seed == seed && k.range == range && k.lowFrom == lowFrom
                    && k.lowLast == lowLast;
        }

        @Override
        public int hashCode() {
            long h = seed;
            h = (h ^ range) * 0x9E3779B97F4A7C15L;
            h = (h ^ lowFrom) * 0xBF58476D1CE4E5B9L;
            h = (h ^ lowLast) * 0x94D049BB133111EBL;
            return (int) (h ^ (h >>> 32));
        }
    }
}
