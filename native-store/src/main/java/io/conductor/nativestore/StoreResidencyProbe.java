package io.conductor.nativestore;

import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * Asks the Mooncake distributed store, through its C API, whether a prompt's KV blocks are resident: the
 * conductor's second source of truth next to KV events. A query hands over the full block digests of the prompt
 * and the block where the event-based walk stopped; the probe answers how many consecutive blocks from there the
 * store holds for every rank namespace of the model ({@link StoreKeyLayout}), asking the store at most once
 * (one {@code batch_is_exist}) per call and answering hot prefixes from a short-lived cache.
 *
 * <p>Thread-safe: any number of query threads may call {@link #residentRun} concurrently with each other, with
 * the event hooks, and with the probe's own connector thread ({@code native-store-connector}), which owns setup,
 * retries with backoff and health checks. {@link #close()} may be called from any thread, once or more.
 *
 * <pre>{@code
 * StoreResidencyProbe probe = StoreResidencyProbe.start(NativeStoreConfig.fromTree(block, System::getenv));
 * StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
 * int run = probe.residentRun(layout, digests, 32, gpuCpuHitBlocks, blockCount);
 * if (run > 0) { storeHitBlocks = run; } // run == UNAVAILABLE: probe down, see status()
 * }</pre>
 */
public final class StoreResidencyProbe implements AutoCloseable {
    /** {@link #residentRun} result when the probe is disabled, down or closed. */
    public static final int UNAVAILABLE = -1;
    /** Tier name for store hits: the store does not say whether a replica is in DRAM or on SSD. */
    public static final String STORE_TIER = "store";

    private static final int SCRATCH_SLOTS = 32;
    private static final int MAX_DIGEST_BYTES = 64;
    /** Layouts kept for reuse and for matching store events to models; further models get unshared layouts. */
    private static final int MAX_REMEMBERED_LAYOUTS = 1024;

    /*
     * Design.
     *
     * Hot path: residentRun reads `live` once. Null means down: answer UNAVAILABLE without touching native code.
     * A repeated query is answered by one run-cache lookup (ProbeCache explains why and how it stays fresh).
     * Otherwise it walks the block cache from fromBlock: resident advances, absent ends the run, unknown stops
     * the walk. Only then is native memory touched: one scratch is claimed, keys for [first unknown, end) x
     * every rank namespace are written into its slab, and one batch_is_exist is made. Cache lookups use
     * thread-local mutable keys, so a warm query allocates nothing; inserts (after a miss) use fresh keys.
     *
     * Cache: per block and layout (seeded key). Short TTL, bounded. Per-key errors are not cached. Store
     * events narrow it: a removed object makes its block absent at once, a stored object drops the entry so the
     * next query asks (one rank's object says nothing about the others).
     *
     * Lifecycle (StoreConnector): the connector thread runs connect() until it succeeds, doubling the delay
     * from retry_initial_ms up to retry_max_ms, then health checks every health_check_interval_ms. Unhealthy
     * (master unreachable) sets DOWN and keeps the client; "not initialised" drops the client and reconnects.
     * The client's own read-write lock keeps destroy from overlapping a running query call.
     */
    private final NativeStoreConfig config;
    private final @Nullable ProbeCache cache;
    private final ConcurrentHashMap<String, StoreKeyLayout> layouts = new ConcurrentHashMap<>();
    private final ProbeStats stats = new ProbeStats();
    private final BatchScratch.Pool scratches;
    private final StoreConnector connector;

    private StoreResidencyProbe(NativeStoreConfig config) {
        this.config = config;
        this.cache = ProbeCache.create(config);
        this.scratches = new BatchScratch.Pool(SCRATCH_SLOTS, config.maxBatchKeys(), config.maxKeyBytes());
        this.connector = new StoreConnector(config);
    }

    /**
     * Creates the probe and, when enabled, starts connecting in the background (the first attempt runs at once;
     * this method does not wait for it). A missing library or failed setup never throws here: the probe reports
     * {@link ProbeStatus.State#DOWN} with the reason and retries with backoff.
     *
     * @param config the validated configuration
     * @return the probe; {@link ProbeStatus.State#DISABLED} when {@code config.enabled()} is false
     * @throws NativeStoreConfigException if the configured model's key layout does not fit {@code max_key_bytes}
     *                                    or {@code max_batch_keys} is below its rank count
     */
    public static StoreResidencyProbe start(NativeStoreConfig config) {
        StoreResidencyProbe probe = new StoreResidencyProbe(Objects.requireNonNull(config, "config"));
        if (config.enabled()) {
            try {
                probe.layoutFor(config.model()); // fail fast on a layout that cannot fit
            } catch (RuntimeException e) {
                probe.close();
                throw e;
            }
            probe.connector.start();
        }
        return probe;
    }

    /**
     * Returns the probe's state and, when down, why.
     *
     * @return the current status
     */
    public ProbeStatus status() {
        return connector.status();
    }

    /**
     * Returns a copy of the counters.
     *
     * @return the snapshot
     */
    public ProbeStatsSnapshot stats() {
        return stats.snapshot();
    }

    /**
     * Returns the configuration the probe runs with.
     *
     * @return the configuration
     */
    public NativeStoreConfig config() {
        return config;
    }

    /**
     * Returns the key layout for {@code model} with the configured parallel layout, cache prefix and group; the
     * same instance for the same model (for the first 1024 models; later ones get a fresh, equivalent layout, and
     * store events do not reach their cache entries). Cheap after the first call; hold the result per context.
     *
     * @param model model name as vLLM puts it in keys (last path segment of {@code --model})
     * @return the layout
     * @throws NativeStoreConfigException if the model name is blank, holds '@', makes keys longer than
     *                                    {@code max_key_bytes}, or has more rank namespaces than
     *                                    {@code max_batch_keys}
     */
    public StoreKeyLayout layoutFor(String model) {
        StoreKeyLayout layout = layouts.get(model);
        if (layout != null) {
            return layout;
        }
        StoreKeyLayout created = StoreKeyLayout.of(config, model);
        if (created.rankCount() > config.maxBatchKeys()) {
            throw new NativeStoreConfigException("native_store.max_batch_keys", "must be >= the "
                    + created.rankCount() + " rank namespaces of one block, was " + config.maxBatchKeys());
        }
        if (layouts.size() >= MAX_REMEMBERED_LAYOUTS) {
            return created; // model names may come from requests: do not let them grow this map without bound
        }
        StoreKeyLayout raced = layouts.putIfAbsent(model, created);
        return raced != null ? raced : created;
    }

    /**
     * Returns how many consecutive blocks from {@code fromBlock} the store holds for every rank namespace of
     * {@code layout}. Digests are packed: block {@code b}'s full digest (vLLM's block hash, 32 bytes for
     * {@code sha256}/{@code sha256_cbor}, 16 for the xxhash variants) is {@code digests[b * digestLength, (b + 1)
     * * digestLength)}, so a caller can reuse one array for every query. At most one {@code batch_is_exist} is
     * made, covering {@code min(toBlock - firstUncached, max_batch_keys / rankCount)} blocks; a longer run is
     * reported up to that window. Allocates nothing when the cache answers.
     *
     * @param layout the key layout ({@link #layoutFor})
     * @param digests packed digests, at least {@code toBlock * digestLength} bytes
     * @param digestLength bytes per digest, 8 to 64
     * @param fromBlock first block to probe (where the GPU/CPU walk stopped)
     * @param toBlock one past the last block to probe (normally the prompt's block count)
     * @return the resident run length in {@code [0, toBlock - fromBlock]}, or {@link #UNAVAILABLE} when the probe
     *         is disabled, down or closed; after a failed native call the run known from the cache
     * @throws IllegalArgumentException if {@code digestLength} is out of range
     * @throws IndexOutOfBoundsException if the block range does not fit {@code digests}
     */
    public int residentRun(StoreKeyLayout layout, byte[] digests, int digestLength, int fromBlock, int toBlock) {
        if (digestLength < 8 || digestLength > MAX_DIGEST_BYTES) {
            throw new IllegalArgumentException("digestLength must be 8..64, was " + digestLength);
        }
        java.util.Objects.checkFromToIndex(fromBlock, toBlock, digests.length / digestLength);
        return run(layout, digests, null, digestLength, fromBlock, toBlock);
    }

    /**
     * As {@link #residentRun}, with each digest given as big-endian 64-bit words: block {@code b}'s digest is
     * {@code digestWords[b * wordsPerDigest, (b + 1) * wordsPerDigest)}, word {@code k} holding digest bytes
     * {@code 8k .. 8k + 7} (4 words for SHA-256).
     *
     * @param layout the key layout ({@link #layoutFor})
     * @param digestWords packed digests as words
     * @param wordsPerDigest words per digest, 1 to 8
     * @param fromBlock first block to probe
     * @param toBlock one past the last block to probe
     * @return the resident run length, or {@link #UNAVAILABLE}
     * @throws IllegalArgumentException if {@code wordsPerDigest} is out of range
     * @throws IndexOutOfBoundsException if the block range does not fit {@code digestWords}
     */
    public int residentRunOfWords(StoreKeyLayout layout, long[] digestWords, int wordsPerDigest, int fromBlock,
            int toBlock) {
        if (wordsPerDigest < 1 || wordsPerDigest > MAX_DIGEST_BYTES / 8) {
            throw new IllegalArgumentException("wordsPerDigest must be 1..8, was " + wordsPerDigest);
        }
        java.util.Objects.checkFromToIndex(fromBlock, toBlock, digestWords.length / wordsPerDigest);
        return run(layout, null, digestWords, wordsPerDigest * 8, fromBlock, toBlock);
    }

    private int run(StoreKeyLayout layout, byte @Nullable [] bytes, long @Nullable [] words, int digestLength,
            int fromBlock, int toBlock) {
        final MooncakeStoreClient client = connector.live();
        if (client == null) {
            stats.unavailable.increment();
            return UNAVAILABLE;
        }
        stats.queries.increment();
        if (fromBlock >= toBlock) {
            return 0;
        }
        final ProbeCache cache = this.cache;
        final long seed = layout.cacheSeed();
        if (cache == null) {
            int end = batchEnd(layout, fromBlock, toBlock);
            stats.cacheMisses.add(end - fromBlock);
            return Math.max(0, askStore(client, layout, bytes, words, digestLength, fromBlock, end, null, 0, 0));
        }
        final long generation = cache.generation();
        final long lowFrom = low64(bytes, words, digestLength, fromBlock);
        final long lowLast = low64(bytes, words, digestLength, toBlock - 1);
        int cachedRun = cache.cachedRun(seed, fromBlock, toBlock, lowFrom, lowLast);
        if (cachedRun != ProbeCache.MISS) {
            stats.cacheHits.add(Math.min(cachedRun + 1, toBlock - fromBlock));
            return cachedRun;
        }
        long oldest = Long.MAX_VALUE;
        int block = fromBlock;
        int hits = 0;
        while (block < toBlock) {
            ProbeCache.BlockAnswer answer = cache.block(seed, low64(bytes, words, digestLength, block));
            if (answer == null) {
                break;
            }
            hits++;
            oldest = Math.min(oldest, answer.writtenNanos());
            if (!answer.resident()) {
                break;
            }
            block++;
        }
        stats.cacheHits.add(hits);
        int run;
        if (block == toBlock || hits > block - fromBlock) {
            run = block - fromBlock; // answered by the block cache: all resident, or an absent block
        } else {
            int end = batchEnd(layout, block, toBlock);
            stats.cacheMisses.add(end - block);
            long asking = System.nanoTime(); // answers learnt now count as written at this (earlier) instant
            int asked = askStore(client, layout, bytes, words, digestLength, block, end, cache, seed, asking);
            if (asked < 0) {
                return block - fromBlock; // failed call: what the cache knows, nothing cached
            }
            run = block - fromBlock + asked;
            if (asked == end - block && end < toBlock) {
                return run; // cut by the batch window: not final, so not cached as a run
            }
            if (asked < end - block
                    && cache.block(seed, low64(bytes, words, digestLength, block + asked)) == null) {
                return run; // ended at a key the store answered with an error: not cached either
            }
            oldest = Math.min(oldest, asking);
        }
        cache.putRun(seed, fromBlock, toBlock, lowFrom, lowLast, run, generation, oldest);
        return run;
    }

    private int batchEnd(StoreKeyLayout layout, int from, int to) {
        return (int) Math.min(to, from + (long) (config.maxBatchKeys() / layout.rankCount()));
    }

    /**
     * One batch_is_exist for blocks [from, to) and every rank; caches each answered block (when a cache is
     * given) as learnt at {@code answerNanos}. Returns the resident run from {@code from}, or -1 if the call
     * failed.
     */
    private int askStore(MooncakeStoreClient client, StoreKeyLayout layout, byte @Nullable [] bytes,
            long @Nullable [] words, int digestLength, int from, int to, @Nullable ProbeCache cache, long seed,
            long answerNanos) {
        final int ranks = layout.rankCount();
        final int hexLength = 2 * digestLength;
        if (layout.keyBytes(digestLength) > config.maxKeyBytes()) {
            throw new IllegalArgumentException("keys of " + digestLength + "-byte digests need "
                    + layout.keyBytes(digestLength) + " bytes, native_store.max_key_bytes is " + config.maxKeyBytes());
        }
        BatchScratch scratch = scratches.claim();
        try {
            int k = 0;
            for (int b = from; b < to; b++) {
                if (bytes != null) {
                    DigestHex.encode(bytes, b * digestLength, digestLength, scratch.hex);
                } else {
                    DigestHex.encodeWords(Objects.requireNonNull(words), b * (digestLength / 8), digestLength / 8,
                            scratch.hex);
                }
                for (int r = 0; r < ranks; r++) {
                    int length = layout.writeKey(r, scratch.hex, hexLength, scratch.key, 0);
                    scratch.putKey(k++, length);
                }
            }
            long start = System.nanoTime();
            int rc = client.batchIsExist(scratch.pointers, k, scratch.results);
            stats.recordLatency(System.nanoTime() - start);
            stats.nativeCalls.increment();
            stats.keysAsked.add(k);
            stats.blocksAsked.add(to - from);
            if (rc != MooncakeStoreDescriptor.OK) {
                stats.errors.increment();
                return -1;
            }
            return readResults(scratch, ranks, bytes, words, digestLength, from, to, cache, seed, answerNanos);
        } finally {
            scratches.release(scratch);
        }
    }

    private int readResults(BatchScratch scratch, int ranks, byte @Nullable [] bytes, long @Nullable [] words,
            int digestLength, int from, int to, @Nullable ProbeCache cache, long seed, long answerNanos) {
        int run = -1;
        int resident = 0;
        int k = 0;
        for (int b = from; b < to; b++) {
            boolean all = true;
            boolean failed = false;
            for (int r = 0; r < ranks; r++) {
                int v = scratch.result(k++);
                if (v != MooncakeStoreDescriptor.EXISTS) {
                    all = false;
                    if (v < 0) {
                        failed = true;
                        stats.errors.increment();
                    }
                }
            }
            if (all) {
                resident++;
            } else if (run < 0) {
                run = b - from;
            }
            if (cache != null && !failed) {
                cache.putBlock(seed, low64(bytes, words, digestLength, b), all, answerNanos);
            }
        }
        stats.residentBlocks.add(resident);
        return run < 0 ? to - from : run;
    }

    private static long low64(byte @Nullable [] bytes, long @Nullable [] words, int digestLength, int block) {
        if (bytes != null) {
            return DigestHex.low64(bytes, block * digestLength, digestLength);
        }
        return Objects.requireNonNull(words)[(block + 1) * (digestLength / 8) - 1];
    }

    /**
     * Store event hook: an object was stored. Drops the cached answer for its block (one rank's object does not
     * make the block resident for all ranks; the next query asks). Keys that are not vLLM connector keys, or of
     * models without a layout here, are ignored.
     *
     * @param objectKey the full Mooncake object key
     */
    public void onObjectStored(String objectKey) {
        StoreKeyLayout.ParsedKey parsed = StoreKeyLayout.parse(objectKey);
        StoreKeyLayout layout = parsed == null ? null : layouts.get(parsed.model());
        if (parsed != null && layout != null && layout.cachePrefix().equals(parsed.cachePrefix())) {
            invalidateBlock(layout, parsed.low64());
        }
    }

    /**
     * Store event hook: an object was removed. Its block is no longer resident for every rank, so it is cached
     * as absent at once.
     *
     * @param objectKey the full Mooncake object key
     */
    public void onObjectRemoved(String objectKey) {
        StoreKeyLayout.ParsedKey parsed = StoreKeyLayout.parse(objectKey);
        StoreKeyLayout layout = parsed == null ? null : layouts.get(parsed.model());
        if (parsed != null && layout != null && layout.cachePrefix().equals(parsed.cachePrefix())) {
            markBlockAbsent(layout, parsed.low64());
        }
    }

    /** Store event hook: the store was cleared (a {@code cleared} event); forgets every cached answer. */
    public void onStoreCleared() {
        ProbeCache c = cache;
        if (c != null) {
            c.clear();
        }
    }

    /**
     * Forgets the cached answer for one block.
     *
     * @param layout the block's layout
     * @param low64 the block's 64-bit key (last 8 digest bytes, big-endian)
     */
    public void invalidateBlock(StoreKeyLayout layout, long low64) {
        ProbeCache c = cache;
        if (c != null) {
            c.invalidateBlock(layout.cacheSeed(), low64);
        }
    }

    /**
     * Caches one block as not resident (for the cache TTL).
     *
     * @param layout the block's layout
     * @param low64 the block's 64-bit key (last 8 digest bytes, big-endian)
     */
    public void markBlockAbsent(StoreKeyLayout layout, long low64) {
        ProbeCache c = cache;
        if (c != null) {
            c.markAbsent(layout.cacheSeed(), low64);
        }
    }

    /**
     * Stops the connector thread, destroys the store handle (after running native calls finish) and frees native
     * memory. Later probes answer {@link #UNAVAILABLE}. Idempotent.
     */
    @Override
    public void close() {
        connector.close();
        scratches.close();
    }
}
