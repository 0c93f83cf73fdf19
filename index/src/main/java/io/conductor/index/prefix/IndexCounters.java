package io.conductor.index.prefix;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The index's event counters and their publication to readers of {@link PrefixIndex#stats}.
 *
 * <p><b>Threading.</b> One writer, many readers. The plain counters are written only under {@link PrefixIndex}'s
 * writer lock; {@link #publish} copies them into volatile fields once per batch (or registration change), and
 * {@link #snapshot} reads only those and the concurrent eviction maps, so it may run on any thread.
 */
final class IndexCounters {
    // ---- writer-owned (under the index writer lock)
    long unknownRemovals;
    long evictedPairs;
    long droppedForBudget;
    long droppedEvents;
    final ConcurrentHashMap<String, AtomicLong> evictionsByInstance = new ConcurrentHashMap<>();
    final ConcurrentHashMap<String, AtomicLong> evictionsByBackend = new ConcurrentHashMap<>();

    // ---- published once per batch for readers of stats()
    private volatile long pubBlocks;
    private volatile long pubPairs;
    private volatile long pubBytes;
    private volatile long pubUnknown;
    private volatile long pubEvicted;
    private volatile long pubDroppedBudget;
    private volatile long pubDropped;

    /** Counts {@code n} evicted pairs of one owner: an instance's rank, else a pool backend. */
    void countEvictions(long n, @Nullable String instance, @Nullable String backend) {
        evictedPairs += n;
        if (instance != null) {
            evictionsByInstance.computeIfAbsent(instance, k -> new AtomicLong()).addAndGet(n);
        } else if (backend != null) {
            evictionsByBackend.computeIfAbsent(backend, k -> new AtomicLong()).addAndGet(n);
        }
    }

    /**
     * Publishes the counters, each context's block and pair counts, and the accounted bytes (writer only).
     *
     * @param contexts  the live contexts
     * @param usedBytes the budget's accounted bytes
     */
    void publish(Collection<ContextState> contexts, long usedBytes) {
        long blocks = 0;
        long pairs = 0;
        for (ContextState cs : contexts) {
            long b = cs.table.size();
            long p = cs.table.pairs();
            cs.publishedBlocks = b;
            cs.publishedPairs = p;
            blocks += b;
            pairs += p;
        }
        pubBlocks = blocks;
        pubPairs = pairs;
        pubBytes = usedBytes;
        pubUnknown = unknownRemovals;
        pubEvicted = evictedPairs;
        pubDroppedBudget = droppedForBudget;
        pubDropped = droppedEvents;
    }

    /** The published counters; any thread, allocates. */
    IndexStats snapshot(int contexts, long maxBytes) {
        return new IndexStats(contexts, pubBlocks, pubPairs, pubBytes, maxBytes, pubUnknown, pubEvicted,
                pubDroppedBudget, pubDropped, copy(evictionsByInstance), copy(evictionsByBackend));
    }

    private static Map<String, Long> copy(ConcurrentHashMap<String, AtomicLong> m) {
        Map<String, Long> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }
}
