package io.conductor.daemon.service;

import io.conductor.daemon.api.StoredBlocksListener;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.events.EventKind;
import io.conductor.events.KvBatch;
import io.conductor.events.KvEvent;
import io.conductor.events.KvEventSink;
import io.conductor.events.Medium;
import io.conductor.events.ResetCause;
import io.conductor.events.StreamKey;
import io.conductor.events.SpecKind;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.RehashEntries;
import io.conductor.index.hash.TokenRehasher;
import io.conductor.index.prefix.CacheGroup;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.GroupLayout;
import io.conductor.index.prefix.IndexBatch;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.RankBlocks;
import io.conductor.index.prefix.RankHandle;
import io.conductor.index.prefix.Tier;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns one subscription's normalized events into index updates: each ZMQ batch becomes one {@link IndexBatch}
 * applied once at the batch end. Engine streams (vLLM, SGLang) update their rank's GPU and instance-local
 * offload tiers; in token-rehash mode (no profile registered) block hashes are recomputed from the events'
 * {@code token_ids} by a {@link TokenRehasher}, so queries hash with the conductor's own chain. Mooncake streams
 * update the shared pool tiers through their {@link PoolStream}.
 *
 * <p>Nothing is dropped silently: an event that does not reach the index is counted by {@link SkipReason}
 * ({@link #skipped}). A medium the daemon does not know is indexed on the outermost tier (disk), counted by its raw
 * name ({@link #unknownMedia}, at most {@value #MAX_UNKNOWN_MEDIA} names, the rest under {@code other}) and warned
 * about once per stream and name. LMCache objects on a Mooncake stream count only once every worker of their chunk
 * has its object present ({@link #MAX_TRACKED_CHUNKS} chunks tracked at once).
 *
 * <p>Thread-safety: one writer. Every sink call comes from the subscription's poller thread (the events module's
 * contract); the counters it exposes for metrics are atomics read by the scrape thread. In token-rehash mode the
 * poller holds {@code rehashLock} from each batch's begin to its end and across a reset, so a snapshot
 * ({@link #captureRehash}) copies the rehasher's map and exports the rank between batches, both as of one seq.
 */
final class IndexingSink implements KvEventSink {
    /*
     * Allocation: the batch, the rehash scratch and the rehasher are allocated once; an engine event allocates
     * nothing except, in rehash mode, HashExtras when its LoRA name or salt changes; an unknown medium name or an
     * LMCache object allocates its bookkeeping. A Mooncake event allocates its
     * context key and object key (the index keeps the key in its binding).
     */
    private static final int MEDIA = Medium.values().length;
    private static final Logger LOG = LoggerFactory.getLogger(IndexingSink.class);
    /** Distinct unknown medium names counted per stream; more share the name {@code other}. */
    static final int MAX_UNKNOWN_MEDIA = 16;
    /** LMCache chunks (per tier, tenant and backend) whose worker objects are tracked at once per stream. */
    static final int MAX_TRACKED_CHUNKS = 1 << 16;
    /** Objects (workers x layers) tracked per LMCache chunk; more are counted as {@code chunk_tracking_full}. */
    static final int MAX_OBJECTS_PER_CHUNK = 1 << 14;

    private final ServiceRegistration registration;
    private final PrefixIndex<?> index;
    private final @Nullable RankHandle rank;
    private final @Nullable PoolStream pool;
    private final @Nullable TokenRehasher rehasher;
    private final IndexBatch batch = new IndexBatch();
    private final StoredBlocksListener stored;
    /** The registered KV-cache groups of a hybrid model's engine stream, or {@code null}. */
    private final @Nullable GroupLayout groups;
    private final AtomicLongArray groupSkips = new AtomicLongArray(GroupSkip.values().length);
    private final boolean[] groupSkipWarned = new boolean[GroupSkip.values().length];
    private final AtomicLongArray eventCounts = new AtomicLongArray(EventKind.values().length * MEDIA);
    private final Set<String> poolBackends = new HashSet<>();
    private final AtomicLongArray skipped = new AtomicLongArray(SkipReason.values().length);
    private final ConcurrentHashMap<String, AtomicLong> unknownMedia = new ConcurrentHashMap<>();
    private final Map<String, LmcacheChunk> lmcacheChunks = new HashMap<>();
    private final @Nullable ResumePoint resume;
    /** Held by the poller during a batch or reset of a token-rehash stream, and by a snapshot capturing it. */
    private final ReentrantLock rehashLock = new ReentrantLock();
    /** Position of what the index holds for this stream; written by the poller thread, read by snapshots. */
    private volatile long appliedEpoch;
    private volatile long appliedSeq = -1;
    private long[] ownHashes = new long[64];
    private String extrasLora = "";
    private @Nullable String extrasSalt;
    private HashExtras extras = HashExtras.NONE;

    IndexingSink(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool, int rehashCapacity) {
        this(registration, index, rank, pool, rehashCapacity, TokenRehasher.MemoryGate.UNLIMITED,
                StoredBlocksListener.NONE, null);
    }

    /**
     * Creates the sink; in token-rehash mode its table grows on demand, admitted by {@code rehashTables};
     * {@code stored} hears of every GPU block this engine stream stores (route reservations); {@code resume}, when
     * not null, is the snapshot position the stream resumes after.
     *
     * @throws IllegalStateException if {@code rehashTables} cannot hold even the initial table
     */
    IndexingSink(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool, int rehashCapacity, TokenRehasher.MemoryGate rehashTables,
            StoredBlocksListener stored, @Nullable ResumePoint resume) {
        this.stored = Objects.requireNonNull(stored, "stored");
        this.registration = Objects.requireNonNull(registration, "registration");
        this.index = Objects.requireNonNull(index, "index");
        this.rank = rank;
        this.pool = pool;
        this.groups = rank != null ? registration.kvCacheGroups() : null;
        this.rehasher = rank != null && registration.profile() == null
                ? new TokenRehasher(QueryHashing.REHASH_PROFILE, rehashCapacity, rehashTables) : null;
        this.resume = rank != null ? restoreRehash(rank, resume) : null;
        if (this.resume != null) {
            appliedSeq = this.resume.afterSeq();
        }
    }

    /**
     * Fills a token-rehash stream's map from its snapshot. Restored blocks whose map cannot come back (a snapshot
     * without one, or a smaller capacity or memory budget now) could never be removed by the engine's hashes: they
     * are dropped from the rank and the stream bootstraps as if no snapshot had been taken.
     */
    private @Nullable ResumePoint restoreRehash(RankHandle r, @Nullable ResumePoint point) {
        TokenRehasher rh = rehasher;
        if (point == null || rh == null) {
            return point;
        }
        RehashEntries saved = point.rehash();
        String problem = saved == null ? "the snapshot holds no rehash map" : null;
        if (saved != null) {
            try {
                if (!rh.restoreEntries(saved)) {
                    problem = saved.size() + " saved rehash entries exceed this stream's table (capacity "
                            + rh.capacity() + " or the memory budget)";
                }
            } catch (IllegalArgumentException e) {
                problem = e.getMessage();
            }
        }
        if (problem == null) {
            return point;
        }
        LOG.warn("event=snapshot_rehash_not_restored instance_id={} tenant={} dp_rank={} reason=\"{}\" "
                + "action=\"restored blocks dropped; the stream bootstraps from replay\"", registration.instanceId(),
                registration.tenantId(), registration.dpRank(), problem);
        rh.clear();
        batch.clear();
        batch.clearOwner(r);
        index.apply(batch);
        batch.clear();
        return null;
    }

    /**
     * Captures a token-rehash stream between two batches: the poller waits (at most {@code timeoutMillis} for the
     * current batch to end) while {@code export} runs.
     *
     * @param export        exports this stream's rank
     * @param timeoutMillis how long to wait for the batch in progress
     * @return the capture, or {@code null} when this is not a token-rehash stream or the batch did not end in time
     * @throws InterruptedException when interrupted while waiting
     */
    ZmqEventStreams.@Nullable RehashState captureRehash(Supplier<RankBlocks> export, long timeoutMillis)
            throws InterruptedException {
        TokenRehasher rh = rehasher;
        if (rh == null || !rehashLock.tryLock(timeoutMillis, TimeUnit.MILLISECONDS)) {
            return null;
        }
        try {
            AppliedPosition p = position();
            return new ZmqEventStreams.RehashState(p, export.get(), rh.exportEntries());
        } finally {
            rehashLock.unlock();
        }
    }

    /** Gives the rehash table's memory back; call once the subscriber delivers nothing more to this sink. */
    void releaseTables() {
        TokenRehasher rh = rehasher;
        if (rh != null) {
            rh.release();
        }
    }

    /**
     * Returns how many events of a kind and medium this stream delivered.
     *
     * @param kind the event kind
     * @param medium the medium
     * @return the count
     */
    long eventCount(EventKind kind, Medium medium) {
        return eventCounts.getOpaque(kind.ordinal() * MEDIA + medium.ordinal());
    }

    /**
     * Returns how many events of this stream did not reach the index for a reason.
     *
     * @param reason the reason
     * @return the count
     */
    long skipped(SkipReason reason) {
        return skipped.getOpaque(reason.ordinal());
    }

    /**
     * Returns the events per unknown medium name (lower case) seen on this stream; they were indexed on the
     * outermost tier.
     *
     * @return a snapshot, name to count
     */
    Map<String, Long> unknownMedia() {
        Map<String, Long> out = new java.util.TreeMap<>();
        for (Map.Entry<String, AtomicLong> e : unknownMedia.entrySet()) {
            out.put(e.getKey(), e.getValue().get());
        }
        return out;
    }

    private void skip(SkipReason reason) {
        int i = reason.ordinal();
        skipped.setOpaque(i, skipped.getPlain(i) + 1);
    }

    /** Counts an unknown medium by its raw name and warns once per name (the map is bounded). */
    private void unknownMedium(KvEvent event) {
        String raw = event.mediumName() == null ? "" : event.mediumName().toLowerCase(Locale.ROOT);
        AtomicLong count = unknownMedia.get(raw);
        if (count == null) {
            if (unknownMedia.size() >= MAX_UNKNOWN_MEDIA) {
                raw = "other";
                count = unknownMedia.get(raw);
            }
            if (count == null) {
                count = new AtomicLong();
                unknownMedia.put(raw, count);
                LOG.warn("event=unknown_medium instance_id={} tenant={} dp_rank={} medium=\"{}\" tier=disk "
                        + "note=\"indexed on the outermost tier; counted in conductor_events_total\"",
                        registration.instanceId(), registration.tenantId(), registration.dpRank(),
                        event.mediumName());
            }
        }
        count.incrementAndGet();
    }

    @Override
    public void onBatchBegin(KvBatch kvBatch) {
        if (rehasher != null && !rehashLock.isHeldByCurrentThread()) {
            rehashLock.lock();  // released by onBatchEnd, which the events module always calls after a begin
        }
        batch.clear();
    }

    @Override
    public void onEvent(KvBatch kvBatch, KvEvent event) {
        int slot = event.kind().ordinal() * MEDIA + event.medium().ordinal();
        eventCounts.setOpaque(slot, eventCounts.getPlain(slot) + 1);
        RankHandle r = rank;
        if (r != null) {
            onEngineEvent(r, kvBatch, event);
        } else if (pool != null) {
            onPoolEvent(pool, event);
        }
    }

    private void onEngineEvent(RankHandle r, KvBatch kvBatch, KvEvent event) {
        GroupLayout layout = groups;
        if (layout != null && event.kind() != EventKind.ALL_BLOCKS_CLEARED) {
            onHybridEvent(r, layout, event);
            return;
        }
        switch (event.kind()) {
            case BLOCKS_STORED -> {
                Tier tier = engineTier(event);
                if (!event.isPrimaryGroup()) {
                    skip(SkipReason.NON_PRIMARY_GROUP);
                    return;
                }
                String lora = event.loraName() == null ? "" : event.loraName();
                int n = event.blockCount();
                TokenRehasher rh = rehasher;
                if (rh == null) {
                    batch.store(r, lora, tier, event.parentHash(), event.hasParentHash(), event.blockHashes(), 0, n);
                    if (tier == Tier.GPU) {
                        stored.onGpuBlocksStored(registration.instanceId(), event.blockHashes(), 0, n);
                    }
                    return;
                }
                ensureScratch(n);
                long parentOwn = event.hasParentHash()
                        ? rh.ownHashOrDefault(event.parentHash(), 0) : 0;
                int done = rh.onBlockStored(event.hasParentHash(), event.parentHash(), event.blockHashes(), 0, n,
                        event.tokenIds(), 0, event.tokenCount(), (int) registration.blockSize(),
                        extrasFor(lora, event.cacheSalt()), ownHashes, 0);
                if (done > 0) {
                    batch.store(r, lora, tier, parentOwn, event.hasParentHash(), ownHashes, 0, done);
                    if (tier == Tier.GPU) {
                        stored.onGpuBlocksStored(registration.instanceId(), ownHashes, 0, done);
                    }
                } else if (done == TokenRehasher.UNKNOWN_PARENT) {
                    skip(SkipReason.UNKNOWN_PARENT);
                } else if (done == TokenRehasher.TOKEN_COUNT_MISMATCH) {
                    skip(SkipReason.TOKEN_COUNT_MISMATCH);
                } else if (done == TokenRehasher.TABLE_FULL) {
                    skip(SkipReason.REHASH_TABLE_FULL);
                    // This stream now holds less than the engine announced: the event layer marks it DEGRADED
                    // until a rebuild or an AllBlocksCleared.
                    kvBatch.reportUnindexed(true);
                }
            }
            case BLOCKS_REMOVED -> {
                Tier tier = engineTier(event);
                if (!event.isPrimaryGroup()) {
                    skip(SkipReason.NON_PRIMARY_GROUP);
                    return;
                }
                int n = event.blockCount();
                TokenRehasher rh = rehasher;
                if (rh == null) {
                    batch.remove(r, tier, event.blockHashes(), 0, n);
                    return;
                }
                ensureScratch(n);
                int mapped = rh.onBlockRemoved(event.blockHashes(), 0, n, ownHashes, 0);
                if (mapped == 0 && n > 0) {
                    skip(SkipReason.UNKNOWN_HASH_REMOVED);
                }
                batch.remove(r, tier, ownHashes, 0, mapped);
            }
            case ALL_BLOCKS_CLEARED -> {
                batch.clearOwner(r);
                if (rehasher != null) {
                    rehasher.clear();
                }
            }
            default -> skip(SkipReason.WRONG_STREAM_KIND);   // the decoder follows the registered type
        }
    }

    /*
     * Hybrid models: every group's events go to the index keyed on (hash, group). An event is skipped, counted by
     * reason and warned about once per stream when its group_idx is not in the registered layout, its
     * kv_cache_spec_kind or window contradicts the group's, or a BlockStored's block_size differs from the group's
     * (which includes Mamba's partial-block entries). In token-rehash mode the registered hash-block-sized
     * full-attention groups rehash from token_ids as group 0 always did; other groups publish the same chain
     * hashes (only some of them, and token_ids that span skipped blocks), so their hashes are translated through
     * the rehasher's map, taking a reference that their own BlockRemoved releases; a hash the map does not know is
     * skipped and counted.
     */

    private void onHybridEvent(RankHandle r, GroupLayout layout, KvEvent event) {
        Tier tier = engineTier(event);
        int group = event.groupIdx();
        if (group >= layout.groupCount()) {
            skip(GroupSkip.GROUP_NOT_IN_LAYOUT, event);
            return;
        }
        CacheGroup spec = layout.groups().get(group);
        if (!kindMatches(spec, event)) {
            skip(GroupSkip.GROUP_KIND_MISMATCH, event);
            return;
        }
        int n = event.blockCount();
        TokenRehasher rh = rehasher;
        if (event.kind() == EventKind.BLOCKS_REMOVED) {
            if (rh == null) {
                batch.removeGroup(r, tier, group, event.blockHashes(), 0, n);
                return;
            }
            ensureScratch(n);
            int mapped = rh.onBlockRemoved(event.blockHashes(), 0, n, ownHashes, 0);
            batch.removeGroup(r, tier, group, ownHashes, 0, mapped);
            return;
        }
        if (event.kind() != EventKind.BLOCKS_STORED) {
            return;
        }
        if (event.blockSize() != KvEvent.ABSENT_INT && event.blockSize() != spec.blockSize()) {
            skip(GroupSkip.GROUP_BLOCK_SIZE_MISMATCH, event);
            return;
        }
        String lora = event.loraName() == null ? "" : event.loraName();
        if (rh == null) {
            batch.storeGroup(r, lora, tier, group, event.parentHash(), event.hasParentHash(), event.blockHashes(), 0,
                    n);
            return;
        }
        ensureScratch(n);
        long parentOwn = event.hasParentHash() ? rh.ownHashOrDefault(event.parentHash(), 0) : 0;
        if (spec instanceof CacheGroup.FullAttention && spec.blockSize() == registration.blockSize()) {
            int done = rh.onBlockStored(event.hasParentHash(), event.parentHash(), event.blockHashes(), 0, n,
                    event.tokenIds(), 0, event.tokenCount(), (int) registration.blockSize(),
                    extrasFor(lora, event.cacheSalt()), ownHashes, 0);
            if (done > 0) {
                batch.storeGroup(r, lora, tier, group, parentOwn, event.hasParentHash(), ownHashes, 0, done);
            }
            return;
        }
        long[] engine = event.blockHashes();
        int mapped = 0;
        for (int i = 0; i < n; i++) {
            if (rh.contains(engine[i])) {
                ownHashes[mapped++] = rh.retainOwnHash(engine[i], 0);
            }
        }
        if (mapped < n) {
            skip(GroupSkip.UNMAPPED_GROUP_HASH, event);
        }
        if (mapped > 0) {
            batch.storeGroup(r, lora, tier, group, parentOwn, event.hasParentHash(), ownHashes, 0, mapped);
        }
    }

    private static boolean kindMatches(CacheGroup spec, KvEvent event) {
        SpecKind kind = event.specKind();
        if (kind == SpecKind.ABSENT) {
            return true;
        }
        return switch (spec) {
            case CacheGroup.FullAttention f -> kind == SpecKind.FULL_ATTENTION || kind == SpecKind.MLA_ATTENTION
                    || kind == SpecKind.SINK_FULL_ATTENTION;
            case CacheGroup.SlidingWindow w -> (kind == SpecKind.SLIDING_WINDOW || kind == SpecKind.SLIDING_WINDOW_MLA)
                    && (event.slidingWindow() == KvEvent.ABSENT_INT || event.slidingWindow() == w.windowTokens());
            case CacheGroup.Mamba m -> kind == SpecKind.MAMBA;
        };
    }

    private void skip(GroupSkip reason, KvEvent event) {
        int i = reason.ordinal();
        groupSkips.setOpaque(i, groupSkips.getPlain(i) + 1);
        skip(reason.skipReason);
        if (!groupSkipWarned[i]) {
            groupSkipWarned[i] = true;
            LOG.warn("event=hybrid_event_skipped stream={} reason={} group={} kind={} block_size={} layout=\"{}\"",
                    registration.key(), reason.wireName(), event.groupIdx(), event.specKind(), event.blockSize(),
                    groups);
        }
    }

    /**
     * Returns how many events of a hybrid model's stream were skipped for {@code reason}.
     *
     * @param reason the reason
     * @return the count
     */
    long groupSkips(GroupSkip reason) {
        return groupSkips.getOpaque(reason.ordinal());
    }

    /** Why a hybrid model's event did not reach the index ({@code reason} label values). */
    enum GroupSkip {
        /** {@code group_idx} is not a group of the registered layout. */
        GROUP_NOT_IN_LAYOUT(SkipReason.GROUP_NOT_IN_LAYOUT),
        /** The event's attention kind or sliding window contradicts the registered group. */
        GROUP_KIND_MISMATCH(SkipReason.GROUP_KIND_MISMATCH),
        /** A {@code BlockStored}'s {@code block_size} differs from the group's (e.g. Mamba partial blocks). */
        GROUP_BLOCK_SIZE_MISMATCH(SkipReason.GROUP_BLOCK_SIZE_MISMATCH),
        /** Token-rehash mode: some hashes of a non-full group were never mapped by its full-attention group. */
        UNMAPPED_GROUP_HASH(SkipReason.UNMAPPED_GROUP_HASH);

        /** The reason {@code conductor_events_skipped_total} counts it under. */
        final SkipReason skipReason;

        GroupSkip(SkipReason skipReason) {
            this.skipReason = skipReason;
        }

        String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private void onPoolEvent(PoolStream p, KvEvent event) {
        String backend = event.backendId();
        if (backend == null || backend.isEmpty()) {
            skip(SkipReason.NO_OBJECT_KEY);    // the decoder rejects these; kept so no path is uncounted
            return;
        }
        String tenant = event.tenantId() == null || event.tenantId().isEmpty()
                ? registration.tenantId() : event.tenantId();
        switch (event.kind()) {
            case OBJECT_STORED -> {
                Tier tier = poolTier(event);
                String objectKey = event.objectKey();
                if (objectKey == null) {
                    skip(SkipReason.NO_OBJECT_KEY);
                    return;
                }
                if (event.blockCount() == 0) {
                    skip(SkipReason.NO_HASH);
                    return;
                }
                if (!event.cacheRoleKv()) {
                    skip(SkipReason.STATE_OBJECT);
                    return;
                }
                String model = event.modelName() == null || event.modelName().isEmpty()
                        ? registration.modelName() : event.modelName();
                long blockSize = event.blockSize() > 0 ? event.blockSize() : registration.blockSize();
                String lora = event.loraName() == null ? registration.loraName() : event.loraName();
                poolBackends.add(backend);
                if (event.isLmcacheKey()) {
                    String chunk = lmcacheChunkKey(event, tenant, backend, tier);
                    LmcacheChunk c = lmcacheChunks.get(chunk);
                    if (c == null) {
                        if (lmcacheChunks.size() >= MAX_TRACKED_CHUNKS) {
                            skip(SkipReason.CHUNK_TRACKING_FULL);
                            return;
                        }
                        c = new LmcacheChunk(event.lmcacheWorldSize(), event.lmcacheChunkKey(), tenant, backend);
                        lmcacheChunks.put(chunk, c);
                    }
                    if (c.objects.size() >= MAX_OBJECTS_PER_CHUNK && !c.objects.contains(objectKey)) {
                        skip(SkipReason.CHUNK_TRACKING_FULL);
                        return;
                    }
                    if (!c.add(objectKey, event.lmcacheWorkerId())) {
                        return;                                     // a repeat of a present object
                    }
                    if (!c.complete()) {
                        skip(SkipReason.CHUNK_INCOMPLETE);
                        return;
                    }
                    if (c.indexed) {
                        return;
                    }
                    c.indexed = true;
                    objectKey = c.bindingKey;
                }
                batch.poolStore(p, new ContextKey(tenant, model, blockSize), lora, backend, objectKey, tier,
                        event.blockHash(0));
            }
            case OBJECT_REMOVED -> {
                Tier tier = poolTier(event);
                String objectKey = event.objectKey();
                if (objectKey == null) {
                    skip(SkipReason.NO_OBJECT_KEY);
                    return;
                }
                if (event.isLmcacheKey()) {
                    String chunk = lmcacheChunkKey(event, tenant, backend, tier);
                    LmcacheChunk c = lmcacheChunks.get(chunk);
                    if (c == null || !c.remove(objectKey, event.lmcacheWorkerId())) {
                        skip(SkipReason.UNKNOWN_HASH_REMOVED);
                        return;
                    }
                    if (c.isEmpty()) {
                        lmcacheChunks.remove(chunk);
                    }
                    if (!c.indexed || c.complete()) {
                        return;
                    }
                    c.indexed = false;
                    objectKey = c.bindingKey;
                }
                batch.poolRemove(p, tenant, backend, objectKey, tier);
            }
            case OBJECTS_CLEARED -> {
                batch.poolClear(p, tenant, backend);
                Iterator<LmcacheChunk> it = lmcacheChunks.values().iterator();
                while (it.hasNext()) {
                    LmcacheChunk c = it.next();
                    if (c.tenant.equals(tenant) && c.backend.equals(backend)) {
                        it.remove();
                    }
                }
            }
            default -> skip(SkipReason.WRONG_STREAM_KIND);
        }
    }

    private static String lmcacheChunkKey(KvEvent event, String tenant, String backend, Tier tier) {
        return tier.ordinal() + "|" + tenant + "|" + backend + "|" + event.lmcacheChunkKey();
    }

    /**
     * The objects present of one LMCache chunk on one tier: LMCache writes one object per worker (tensor-parallel
     * rank), and with layerwise keys one per layer too. The chunk is usable only when every worker has at least
     * one object there. Bound to the index under {@link #bindingKey} (the object key with the worker and layer ids
     * replaced by {@code *}) while complete.
     */
    private static final class LmcacheChunk {
        final int[] perWorker;
        final Set<String> objects = new HashSet<>();
        final String bindingKey;
        final String tenant;
        final String backend;
        int workersPresent;
        boolean indexed;

        LmcacheChunk(int worldSize, @Nullable String bindingKey, String tenant, String backend) {
            this.perWorker = new int[worldSize];
            this.bindingKey = Objects.requireNonNull(bindingKey, "bindingKey");
            this.tenant = tenant;
            this.backend = backend;
        }

        boolean add(String objectKey, int worker) {
            if (worker < 0 || worker >= perWorker.length || !objects.add(objectKey)) {
                return false;
            }
            if (perWorker[worker]++ == 0) {
                workersPresent++;
            }
            return true;
        }

        boolean remove(String objectKey, int worker) {
            if (worker < 0 || worker >= perWorker.length || !objects.remove(objectKey)) {
                return false;
            }
            if (--perWorker[worker] == 0) {
                workersPresent--;
            }
            return true;
        }

        boolean complete() {
            return workersPresent == perWorker.length;
        }

        boolean isEmpty() {
            return objects.isEmpty();
        }
    }

    @Override
    public void onBatchEnd(KvBatch kvBatch) {
        try {
            if (batch.size() > 0) {
                index.apply(batch);
            }
            batch.clear();
            // After the apply: a snapshot that reads this seq first and then exports finds at least its effects.
            appliedSeq = kvBatch.seq();
        } finally {
            if (rehashLock.isHeldByCurrentThread()) {
                rehashLock.unlock();
            }
        }
    }

    @Override
    public long resumeAfterSeq() {
        ResumePoint r = resume;
        return r == null ? -1 : r.afterSeq();
    }

    @Override
    public boolean resumeStale() {
        ResumePoint r = resume;
        return r != null && r.stale();
    }

    /**
     * Returns the position of what the index holds for this stream. Readers take the epoch, then the seq, then
     * export the rank, then compare the epoch again: an unchanged epoch means the export includes at least every
     * batch up to the seq (replaying a batch the export already includes changes nothing).
     */
    AppliedPosition position() {
        long e = appliedEpoch;
        return new AppliedPosition(e, appliedSeq);
    }

    @Override
    public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        if (rehasher == null) {
            reset(epoch);
            return;
        }
        rehashLock.lock();
        try {
            reset(epoch);
        } finally {
            rehashLock.unlock();
        }
    }

    private void reset(long epoch) {
        appliedSeq = -1;
        batch.clear();
        if (rank != null) {
            batch.clearOwner(rank);
            if (rehasher != null) {
                rehasher.clear();
            }
        } else if (pool != null) {
            for (String backend : poolBackends) {
                batch.poolClear(pool, registration.tenantId(), backend);
            }
            lmcacheChunks.clear();
        }
        index.apply(batch);
        batch.clear();
        appliedEpoch = epoch;
    }

    private void ensureScratch(int n) {
        if (ownHashes.length < n) {
            ownHashes = new long[Math.max(n, ownHashes.length * 2)];
        }
    }

    private HashExtras extrasFor(String lora, @Nullable String salt) {
        if (!lora.equals(extrasLora) || !Objects.equals(salt, extrasSalt)) {
            extras = HashExtras.of(lora, salt);
            extrasLora = lora;
            extrasSalt = salt;
        }
        return extras;
    }

    /**
     * vLLM's block pool (or no medium) is the GPU; the offloading connector's CPU tier and SGLang's pinned host
     * memory are CPU; vLLM's storage tiers (STORAGE, and FS / OBJ before 2026-07-27), SGLang's disk and external
     * tiers are the instance's outermost tier, disk. A medium the daemon does not know is indexed there too.
     */
    private Tier engineTier(KvEvent event) {
        return switch (event.medium()) {
            case ABSENT, GPU -> Tier.GPU;
            case CPU, CPU_PINNED -> Tier.CPU;
            case FS, OBJ, DISK, STORAGE, EXTERNAL -> Tier.DISK;
            case OTHER -> {
                unknownMedium(event);
                yield Tier.DISK;
            }
        };
    }

    /** The store's {@code cpu} and {@code disk}; no medium, or any other, on the outermost tier, disk. */
    private Tier poolTier(KvEvent event) {
        return switch (event.medium()) {
            case CPU -> Tier.CPU;
            case DISK, ABSENT -> Tier.DISK;
            default -> {
                unknownMedium(event);
                yield Tier.DISK;
            }
        };
    }
}
