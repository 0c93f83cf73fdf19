package io.conductor.nativestore;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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

    private static final Logger LOG = LoggerFactory.getLogger(StoreResidencyProbe.class);
    private static final int SCRATCH_SLOTS = 32;
    private static final int MAX_DIGEST_BYTES = 64;

    /*
     * Design.
     *
     * Hot path: residentRun reads `live` once. Null means down: answer UNAVAILABLE without touching native code.
     * It then walks the cache from fromBlock: TRUE advances, FALSE ends the run, unknown stops the walk. Only
     * then is native memory touched: one scratch is claimed, keys for [first unknown, end) x every rank
     * namespace are written into its slab, and one batch_is_exist is made. The cache walk looks up with a
     * thread-local mutable BlockKey, so a warm query allocates nothing; inserts (on a miss) use fresh keys.
     *
     * Cache: per block and layout (seeded key), value TRUE (all ranks present) or FALSE. Short TTL, bounded.
     * Per-key errors are not cached. Store events narrow it: a removed object makes its block FALSE at once, a
     * stored object drops the entry so the next query asks (one rank's object says nothing about the others).
     *
     * Lifecycle: the connector thread runs connect() until it succeeds, doubling the delay from
     * retry_initial_ms up to retry_max_ms, then health checks every health_check_interval_ms. Unhealthy
     * (master unreachable) sets DOWN and keeps the client; "not initialised" drops the client and reconnects.
     * The client's own read-write lock keeps destroy from overlapping a running query call.
     */
    private final NativeStoreConfig config;
    private final @Nullable Cache<BlockKey, Boolean> cache;
    private final ConcurrentHashMap<String, StoreKeyLayout> layouts = new ConcurrentHashMap<>();
    private final ThreadLocal<BlockKey> lookupKey = ThreadLocal.withInitial(BlockKey::new);
    private final ProbeStats stats = new ProbeStats();
    private final BatchScratch.Pool scratches;
    private final @Nullable ScheduledExecutorService connector;
    private final String library;
    private final Object lifecycle = new Object();
    private volatile @Nullable MooncakeStoreClient live;
    private volatile ProbeStatus status;
    private @Nullable MooncakeStoreClient client; // guarded by lifecycle
    private long attempts; // guarded by lifecycle
    private long retryDelayMillis; // guarded by lifecycle
    private String lastLoggedReason = ""; // guarded by lifecycle
    private boolean closed; // guarded by lifecycle

    private StoreResidencyProbe(NativeStoreConfig config) {
        this.config = config;
        this.library = config.libraryPath().isEmpty() ? MooncakeStoreDescriptor.DEFAULT_LIBRARY_NAME
                : config.libraryPath();
        this.cache = config.cacheTtlMillis() > 0 && config.cacheMaxBlocks() > 0
                ? Caffeine.newBuilder().maximumSize(config.cacheMaxBlocks())
                        .expireAfterWrite(Duration.ofMillis(config.cacheTtlMillis())).executor(Runnable::run).build()
                : null;
        this.scratches = new BatchScratch.Pool(SCRATCH_SLOTS, config.maxBatchKeys(), config.maxKeyBytes());
        this.retryDelayMillis = config.retryInitialMillis();
        long now = System.currentTimeMillis();
        if (config.enabled()) {
            this.status = new ProbeStatus(ProbeStatus.State.CONNECTING, "connecting to " + library, now, 0,
                    library);
            this.connector = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "native-store-connector");
                t.setDaemon(true);
                return t;
            });
        } else {
            this.status = new ProbeStatus(ProbeStatus.State.DISABLED, "native_store.enabled is false", now, 0,
                    library);
            this.connector = null;
        }
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
            probe.layoutFor(config.model());
            ScheduledExecutorService c = Objects.requireNonNull(probe.connector);
            c.execute(probe::connect);
        }
        return probe;
    }

    /**
     * Returns the probe's state and, when down, why.
     *
     * @return the current status
     */
    public ProbeStatus status() {
        return status;
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
     * same instance for the same model. Cheap after the first call; hold the result per context if convenient.
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
        final MooncakeStoreClient client = live;
        if (client == null) {
            stats.unavailable.increment();
            return UNAVAILABLE;
        }
        stats.queries.increment();
        if (fromBlock >= toBlock) {
            return 0;
        }
        final Cache<BlockKey, Boolean> cache = this.cache;
        final long seed = layout.cacheSeed();
        int block = fromBlock;
        if (cache != null) {
            BlockKey probe = lookupKey.get();
            int hits = 0;
            while (block < toBlock) {
                probe.set(seed, low64(bytes, words, digestLength, block));
                Boolean resident = cache.getIfPresent(probe);
                if (resident == null) {
                    break;
                }
                hits++;
                if (!resident) {
                    stats.cacheHits.add(hits);
                    return block - fromBlock;
                }
                block++;
            }
            stats.cacheHits.add(hits);
            if (block == toBlock) {
                return block - fromBlock;
            }
        }
        int ranks = layout.rankCount();
        int end = (int) Math.min(toBlock, block + (long) (config.maxBatchKeys() / ranks));
        stats.cacheMisses.add(end - block);
        return block - fromBlock + askStore(client, layout, bytes, words, digestLength, block, end);
    }

    /** One batch_is_exist for blocks [from, to) and every rank; returns the resident run from {@code from}. */
    private int askStore(MooncakeStoreClient client, StoreKeyLayout layout, byte @Nullable [] bytes,
            long @Nullable [] words, int digestLength, int from, int to) {
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
                return 0;
            }
            return readResults(scratch, layout, bytes, words, digestLength, from, to);
        } finally {
            scratches.release(scratch);
        }
    }

    private int readResults(BatchScratch scratch, StoreKeyLayout layout, byte @Nullable [] bytes,
            long @Nullable [] words, int digestLength, int from, int to) {
        final Cache<BlockKey, Boolean> cache = this.cache;
        final int ranks = layout.rankCount();
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
                cache.put(new BlockKey(layout.cacheSeed(), low64(bytes, words, digestLength, b)), all);
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
        Cache<BlockKey, Boolean> c = cache;
        if (c != null) {
            c.invalidateAll();
        }
    }

    /**
     * Forgets the cached answer for one block.
     *
     * @param layout the block's layout
     * @param low64 the block's 64-bit key (last 8 digest bytes, big-endian)
     */
    public void invalidateBlock(StoreKeyLayout layout, long low64) {
        Cache<BlockKey, Boolean> c = cache;
        if (c != null) {
            c.invalidate(new BlockKey(layout.cacheSeed(), low64));
        }
    }

    /**
     * Caches one block as not resident (for the cache TTL).
     *
     * @param layout the block's layout
     * @param low64 the block's 64-bit key (last 8 digest bytes, big-endian)
     */
    public void markBlockAbsent(StoreKeyLayout layout, long low64) {
        Cache<BlockKey, Boolean> c = cache;
        if (c != null) {
            c.put(new BlockKey(layout.cacheSeed(), low64), Boolean.FALSE);
        }
    }

    // ---- lifecycle (connector thread) ----

    private void connect() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            attempts++;
            try {
                MooncakeStoreClient c = MooncakeStoreClient.open(config, localHostname(), false);
                int health = c.healthCheck();
                if (health != MooncakeStoreDescriptor.HEALTHY) {
                    c.close();
                    throw new StoreSetupException(library + ": mooncake_store_health_check returned " + health
                            + describeHealth(health) + " right after setup");
                }
                client = c;
                retryDelayMillis = config.retryInitialMillis();
                markUp();
                scheduleHealthCheck(config.healthCheckIntervalMillis());
            } catch (StoreSetupException | RuntimeException e) {
                markDown(e.getMessage() == null ? e.toString() : e.getMessage());
                scheduleRetry(this::connect);
            }
        }
    }

    private void healthCheck() {
        synchronized (lifecycle) {
            MooncakeStoreClient c = client;
            if (closed || c == null) {
                return;
            }
            int health;
            try {
                health = c.healthCheck();
            } catch (RuntimeException e) {
                health = MooncakeStoreDescriptor.HEALTH_NOT_INITIALIZED;
            }
            if (health == MooncakeStoreDescriptor.HEALTHY) {
                retryDelayMillis = config.retryInitialMillis();
                if (live == null) {
                    markUp();
                }
                scheduleHealthCheck(config.healthCheckIntervalMillis());
                return;
            }
            String reason = library + ": mooncake_store_health_check returned " + health + describeHealth(health);
            if (health == MooncakeStoreDescriptor.HEALTH_MASTER_UNREACHABLE) {
                markDown(reason);
                scheduleRetry(this::healthCheck);
            } else {
                markDown(reason + "; reconnecting");
                live = null;
                client = null;
                c.close();
                scheduleRetry(this::connect);
            }
        }
    }

    private static String describeHealth(int health) {
        return switch (health) {
            case MooncakeStoreDescriptor.HEALTH_NOT_INITIALIZED -> " (not initialised or closed)";
            case MooncakeStoreDescriptor.HEALTH_MASTER_UNREACHABLE -> " (master unreachable)";
            default -> "";
        };
    }

    private void markUp() {
        live = client;
        status = new ProbeStatus(ProbeStatus.State.UP, "", System.currentTimeMillis(), attempts, library);
        lastLoggedReason = "";
        LOG.info("native store probe up: {} (master {}, metadata {}, protocol {})", library,
                config.masterServerAddress(), config.metadataServer(), config.protocol());
    }

    private void markDown(String reason) {
        live = null;
        ProbeStatus previous = status;
        long since = previous.state() == ProbeStatus.State.DOWN ? previous.sinceEpochMillis()
                : System.currentTimeMillis();
        status = new ProbeStatus(ProbeStatus.State.DOWN, reason, since, attempts, library);
        if (!reason.equals(lastLoggedReason)) {
            LOG.error("native store probe down, serving from events only; retrying with backoff: {}", reason);
            lastLoggedReason = reason;
        } else {
            LOG.debug("native store probe still down (attempt {}): {}", attempts, reason);
        }
    }

    private void scheduleRetry(Runnable task) {
        long delay = retryDelayMillis;
        retryDelayMillis = Math.min(config.retryMaxMillis(), delay * 2);
        Objects.requireNonNull(connector).schedule(task, delay, TimeUnit.MILLISECONDS);
    }

    private void scheduleHealthCheck(long delayMillis) {
        Objects.requireNonNull(connector).schedule(this::healthCheck, delayMillis, TimeUnit.MILLISECONDS);
    }

    private String localHostname() {
        if (!config.localHostname().isEmpty()) {
            return config.localHostname();
        }
        try {
            return InetAddress.getLocalHost().getHostAddress();
        } catch (java.io.IOException e) {
            return "127.0.0.1";
        }
    }

    /**
     * Stops the connector thread, destroys the store handle (after running native calls finish) and frees native
     * memory. Later probes answer {@link #UNAVAILABLE}. Idempotent.
     */
    @Override
    public void close() {
        ScheduledExecutorService c = connector;
        if (c != null) {
            c.shutdownNow();
        }
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            live = null;
            MooncakeStoreClient open = client;
            client = null;
            if (open != null) {
                open.close();
            }
            scratches.close();
            status = new ProbeStatus(ProbeStatus.State.CLOSED, "closed", System.currentTimeMillis(), attempts,
                    library);
        }
        if (c != null) {
            try {
                if (!c.awaitTermination(5, TimeUnit.SECONDS)) {
                    LOG.warn("native-store-connector did not stop within 5 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Cache key: layout seed and the block's 64-bit key. Lookups reuse one mutable instance per thread (never
     * inserted); inserted keys are fresh and never mutated.
     */
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
}
