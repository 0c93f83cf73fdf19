package io.conductor.example.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A vLLM-like block pool with prefix caching for one DP rank: {@code numBlocks} blocks of {@code blockSize} tokens,
 * each full block findable by its chain hash while it stays in the pool. Blocks held by running requests are
 * reference-counted; freed blocks keep their hash and join an LRU free queue, and a new allocation takes the least
 * recently used free block, evicting its hash ({@code BlockRemoved}). Newly hashed blocks are announced in one
 * {@code BlockStored} per contiguous run, with the hash of the block before the run as parent.
 *
 * <p>Like vLLM, the hit is capped at {@code promptLength - 1} tokens (the last token is always computed), and a
 * request's blocks are freed tail first so that the ends of chains are evicted before their shared heads.
 *
 * <p>Thread-safe: all methods synchronize on this object; {@link #allocate} returns {@code null} rather than
 * blocking when the pool is short, and {@link #awaitFree} lets the caller wait for a release.
 */
public final class PrefixCache {
    /** Medium name vLLM's block pool uses in events. */
    public static final String GPU = "GPU";

    private final int numBlocks;
    private final int blockSize;
    private final long[] hash;
    private final boolean[] hashed;
    private final int[] refCount;
    private final int[] prev;
    private final int[] next;
    private final int head;
    private final Map<Long, Integer> byHash = new HashMap<>();
    private int inUse;
    private long queryTokens;
    private long hitTokens;

    /**
     * The blocks a request holds.
     *
     * @param blockIds pool block ids in prompt order
     * @param cachedTokens prefix hit
     */
    public record Allocation(int[] blockIds, int cachedTokens) {
    }

    /**
     * Creates an empty pool.
     *
     * @param numBlocks number of blocks, {@code > 0}
     * @param blockSize tokens per block, {@code > 0}
     */
    public PrefixCache(int numBlocks, int blockSize) {
        if (numBlocks <= 0 || blockSize <= 0) {
            throw new IllegalArgumentException("numBlocks and blockSize must be > 0, were " + numBlocks + ", "
                + blockSize);
        }
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        hash = new long[numBlocks];
        hashed = new boolean[numBlocks];
        refCount = new int[numBlocks];
        prev = new int[numBlocks + 1];
        next = new int[numBlocks + 1];
        head = numBlocks;
        prev[head] = head;
        next[head] = head;
        for (int b = 0; b < numBlocks; b++) {
            linkLast(b);
        }
    }

    /**
     * Returns the pool size.
     *
     * @return number of blocks
     */
    public int numBlocks() {
        return numBlocks;
    }

    /**
     * Returns how many blocks a prompt needs.
     *
     * @param promptLength prompt tokens
     * @return blocks needed (complete blocks plus a partial tail)
     */
    public int blocksNeeded(int promptLength) {
        return Math.max(1, (promptLength + blockSize - 1) / blockSize);
    }

    /**
     * Allocates a prompt's blocks, reusing its longest cached prefix.
     *
     * @param hashes chain hashes of the prompt's complete blocks
     * @param tokens prompt tokens (only the first {@code promptLength} are used)
     * @param promptLength prompt length in tokens, {@code > 0}
     * @param loraId LoRA int id for events, or {@code null}
     * @param loraName LoRA name for events, or {@code null}
     * @param cacheSalt cache salt (becomes block 0's extra key), or {@code null}
     * @param events receives the events this allocation produced, in order
     * @return the allocation, or {@code null} if the pool has too few free blocks right now (nothing changed)
     * @throws IllegalArgumentException if the prompt can never fit in the pool
     */
    public synchronized @Nullable Allocation allocate(long[] hashes, int[] tokens, int promptLength,
                                                      @Nullable Integer loraId, @Nullable String loraName,
                                                      @Nullable String cacheSalt, List<KvEvent> events) {
        int needed = blocksNeeded(promptLength);
        if (needed > numBlocks) {
            throw new IllegalArgumentException("prompt of " + promptLength + " tokens needs " + needed
                + " blocks; the pool has " + numBlocks);
        }
        int maxHitBlocks = Math.min(hashes.length, (promptLength - 1) / blockSize);
        int hits = 0;
        while (hits < maxHitBlocks && byHash.containsKey(hashes[hits])) {
            hits++;
        }
        int reusable = 0;
        for (int i = 0; i < hashes.length; i++) {
            Integer b = byHash.get(hashes[i]);
            if (b != null && refCount[b] == 0) {
                reusable++;
            }
        }
        if (needed - (hits + countPresentAfter(hashes, hits)) > freeCount() - reusable) {
            return null;
        }
        int[] ids = new int[needed];
        boolean[] reused = new boolean[needed];
        // Pin every block this prompt finds first, so that allocating new blocks cannot evict one of them.
        for (int i = 0; i < hashes.length && i < needed; i++) {
            Integer cached = byHash.get(hashes[i]);
            if (cached != null) {
                ids[i] = cached;
                reused[i] = true;
                acquire(cached);
            }
        }
        long[] run = new long[hashes.length];
        int runStart = -1;
        int runLength = 0;
        for (int i = 0; i < needed; i++) {
            if (reused[i]) {
                flushRun(run, runStart, runLength, hashes, tokens, loraId, loraName, cacheSalt, events);
                runLength = 0;
                continue;
            }
            int b = takeFree(events);
            ids[i] = b;
            acquire(b);
            if (i < hashes.length) {
                hash[b] = hashes[i];
                hashed[b] = true;
                byHash.put(hashes[i], b);
                if (runLength == 0) {
                    runStart = i;
                }
                run[runLength++] = hashes[i];
            }
        }
        flushRun(run, runStart, runLength, hashes, tokens, loraId, loraName, cacheSalt, events);
        int cachedTokens = hits * blockSize;
        queryTokens += promptLength;
        hitTokens += cachedTokens;
        return new Allocation(ids, cachedTokens);
    }

    /**
     * Returns a request's blocks; cached blocks stay findable until evicted.
     *
     * @param allocation what {@link #allocate} returned
     */
    public synchronized void release(Allocation allocation) {
        int[] ids = allocation.blockIds();
        for (int i = ids.length - 1; i >= 0; i--) {
            int b = ids[i];
            if (--refCount[b] == 0) {
                inUse--;
                if (hashed[b]) {
                    linkLast(b);
                } else {
                    linkFirst(b);
                }
            }
        }
        notifyAll();
    }

    /**
     * Waits until some block is released or the timeout passes.
     *
     * @param millis maximum wait
     * @throws InterruptedException if interrupted
     */
    @SuppressWarnings("WaitNotInLoop") // the caller loops and re-checks; an early (spurious) return is harmless
    public synchronized void awaitFree(long millis) throws InterruptedException {
        wait(millis);
    }

    /**
     * Drops every cached hash, like vLLM's {@code reset_prefix_cache}; refused while blocks are in use.
     *
     * @param events receives {@code AllBlocksCleared} on success
     * @return whether the cache was reset
     */
    public synchronized boolean reset(List<KvEvent> events) {
        if (inUse > 0) {
            return false;
        }
        byHash.clear();
        Arrays.fill(hashed, false);
        events.add(new KvEvent.AllBlocksCleared());
        return true;
    }

    /**
     * Returns the fraction of blocks held by running requests ({@code vllm:kv_cache_usage_perc}).
     *
     * @return usage in {@code [0, 1]}
     */
    public synchronized double usage() {
        return (double) inUse / numBlocks;
    }

    /**
     * Returns the number of blocks currently findable by hash.
     *
     * @return cached block count
     */
    public synchronized int cachedBlocks() {
        return byHash.size();
    }

    /**
     * Returns whether a hash is cached.
     *
     * @param blockHash a chain hash
     * @return whether a pool block carries it
     */
    public synchronized boolean contains(long blockHash) {
        return byHash.containsKey(blockHash);
    }

    /**
     * Returns prompt tokens looked up so far ({@code vllm:prefix_cache_queries}).
     *
     * @return queried tokens
     */
    public synchronized long queryTokens() {
        return queryTokens;
    }

    /**
     * Returns prompt tokens served from the cache so far ({@code vllm:prefix_cache_hits}).
     *
     * @return hit tokens
     */
    public synchronized long hitTokens() {
        return hitTokens;
    }

    private int countPresentAfter(long[] hashes, int from) {
        int n = 0;
        for (int i = from; i < hashes.length; i++) {
            if (byHash.containsKey(hashes[i])) {
                n++;
            }
        }
        return n;
    }

    private int freeCount() {
        return numBlocks - inUse;
    }

    private void flushRun(long[] run, int runStart, int runLength, long[] hashes, int[] tokens,
                          @Nullable Integer loraId, @Nullable String loraName, @Nullable String cacheSalt,
                          List<KvEvent> events) {
        if (runLength == 0) {
            return;
        }
        int[] runTokens = Arrays.copyOfRange(tokens, runStart * blockSize, (runStart + runLength) * blockSize);
        List<@Nullable List<String>> extra = new ArrayList<>(runLength);
        for (int i = runStart; i < runStart + runLength; i++) {
            List<String> keys = new ArrayList<>(2);
            if (loraName != null && !loraName.isEmpty()) {
                keys.add(loraName);
            }
            if (i == 0 && cacheSalt != null && !cacheSalt.isEmpty()) {
                keys.add(cacheSalt);
            }
            extra.add(keys.isEmpty() ? null : List.copyOf(keys));
        }
        events.add(new KvEvent.BlockStored(Arrays.copyOf(run, runLength),
            runStart == 0 ? null : hashes[runStart - 1], runTokens, blockSize, loraId, GPU, loraName,
            Collections.unmodifiableList(extra)));
    }

    private void acquire(int b) {
        if (refCount[b]++ == 0) {
            unlink(b);
            inUse++;
        }
    }

    private int takeFree(List<KvEvent> events) {
        int b = next[head];
        if (b == head) {
            throw new IllegalStateException("no free block although the capacity check passed");
        }
        if (hashed[b]) {
            byHash.remove(hash[b]);
            hashed[b] = false;
            events.add(new KvEvent.BlockRemoved(new long[] {hash[b]}, GPU));
        }
        return b;
    }

    private void unlink(int b) {
        next[prev[b]] = next[b];
        prev[next[b]] = prev[b];
    }

    private void linkLast(int b) {
        int last = prev[head];
        next[last] = b;
        prev[b] = last;
        next[b] = head;
        prev[head] = b;
    }

    private void linkFirst(int b) {
        int first = next[head];
        next[head] = b;
        prev[b] = head;
        next[b] = first;
        prev[first] = b;
    }
}
