package io.conductor.example.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * One data-parallel rank of the simulated engine: its own prefix cache, its own KV-event publisher (PUB and replay
 * ROUTER on the rank's offset ports) and its own "GPU". Prefill holds the GPU exclusively for a time proportional
 * to the uncached prompt tokens, so a request that finds its prefix cached is faster and also delays the requests
 * queued behind it less. Decode steps are not serialised (they batch well on a real GPU).
 *
 * <p>Thread-safe: request threads call {@link #admit}, {@link #prefill} and {@link #finish} concurrently; events
 * are handed to the publisher under the cache's lock, so they go out in the order the cache changed.
 */
public final class EngineRank implements AutoCloseable {
    private final int rank;
    private final PrefixCache cache;
    private final KvEventPublisher publisher;
    private final ReentrantLock gpu = new ReentrantLock(true);
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger waiting = new AtomicInteger();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generationTokens = new AtomicLong();
    private final AtomicLong finishedRequests = new AtomicLong();

    /**
     * Creates the rank.
     *
     * @param rank DP rank
     * @param cache the rank's block pool
     * @param publisher the rank's event publisher (closed with this rank)
     */
    public EngineRank(int rank, PrefixCache cache, KvEventPublisher publisher) {
        this.rank = rank;
        this.cache = cache;
        this.publisher = publisher;
    }

    /**
     * Returns the DP rank.
     *
     * @return the rank
     */
    public int rank() {
        return rank;
    }

    /**
     * Returns the rank's prefix cache.
     *
     * @return the cache
     */
    public PrefixCache cache() {
        return cache;
    }

    /**
     * Returns the rank's event publisher.
     *
     * @return the publisher
     */
    public KvEventPublisher publisher() {
        return publisher;
    }

    /**
     * Admits a request: waits (counted as waiting) until the pool can hold the prompt, then allocates its blocks,
     * publishing the resulting events as one batch.
     *
     * @param hashes chain hashes of the prompt's complete blocks
     * @param tokens prompt tokens
     * @param loraId LoRA int id, or {@code null}
     * @param loraName LoRA name, or {@code null}
     * @param cacheSalt cache salt, or {@code null}
     * @return the allocation
     * @throws InterruptedException if interrupted while waiting
     * @throws IllegalArgumentException if the prompt can never fit in the pool
     */
    public PrefixCache.Allocation admit(long[] hashes, int[] tokens, @Nullable Integer loraId,
                                        @Nullable String loraName, @Nullable String cacheSalt)
        throws InterruptedException {
        waiting.incrementAndGet();
        try {
            while (true) {
                List<KvEvent> events = new ArrayList<>();
                PrefixCache.Allocation a;
                synchronized (cache) {
                    a = cache.allocate(hashes, tokens, tokens.length, loraId, loraName, cacheSalt, events);
                    if (a != null) {
                        publisher.publish(events);
                    }
                }
                if (a != null) {
                    running.incrementAndGet();
                    promptTokens.addAndGet(tokens.length);
                    return a;
                }
                cache.awaitFree(50);
            }
        } finally {
            waiting.decrementAndGet();
        }
    }

    /**
     * Simulates the prefill: holds the rank's GPU for {@code nanos}.
     *
     * @param nanos compute time in nanoseconds
     * @throws InterruptedException if interrupted
     */
    public void prefill(long nanos) throws InterruptedException {
        gpu.lockInterruptibly();
        try {
            if (nanos > 0) {
                Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
            }
        } finally {
            gpu.unlock();
        }
    }

    /**
     * Ends a request: frees its blocks (they stay cached) and counts it.
     *
     * @param allocation what {@link #admit} returned
     * @param generated tokens generated for it
     */
    public void finish(PrefixCache.Allocation allocation, int generated) {
        cache.release(allocation);
        running.decrementAndGet();
        generationTokens.addAndGet(generated);
        finishedRequests.incrementAndGet();
    }

    /**
     * Resets the prefix cache (refused while requests run) and publishes {@code AllBlocksCleared}.
     *
     * @return whether the cache was reset
     */
    public boolean resetPrefixCache() {
        List<KvEvent> events = new ArrayList<>(1);
        synchronized (cache) {
            boolean ok = cache.reset(events);
            publisher.publish(events);
            return ok;
        }
    }

    /**
     * Returns the number of admitted, unfinished requests.
     *
     * @return running requests
     */
    public int running() {
        return running.get();
    }

    /**
     * Returns the number of requests waiting for blocks.
     *
     * @return waiting requests
     */
    public int waiting() {
        return waiting.get() + gpu.getQueueLength();
    }

    /**
     * Returns total prompt tokens admitted.
     *
     * @return prompt tokens
     */
    public long promptTokens() {
        return promptTokens.get();
    }

    /**
     * Returns total generated tokens.
     *
     * @return generated tokens
     */
    public long generationTokens() {
        return generationTokens.get();
    }

    /**
     * Returns the number of finished requests.
     *
     * @return finished requests
     */
    public long finishedRequests() {
        return finishedRequests.get();
    }

    @Override
    public void close() {
        publisher.close();
    }
}
