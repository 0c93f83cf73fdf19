package io.conductor.index.prefix;

import io.conductor.index.BlockHashSequence;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The prefix index: for every {@link ContextKey}, which owner holds each KV block on which {@link Tier}, and for a
 * prompt's block-hash chain how far each instance's contiguous prefix reaches ({@link #query}).
 *
 * <p><b>Model.</b> A context is bound to a hash profile (an opaque {@code P} compared with {@code equals}) by its
 * first {@link #register}; a registration with another profile is rejected; a context with no registered rank
 * left is freed with everything in it. LoRA adapters live inside a context: a block stored under LoRA name X
 * matches only queries naming X. Owners are context-local small ints: a registered (instance, DP rank) owns its
 * GPU blocks and its instance-local offload tiers; a pool backend (Mooncake store {@code backend_id}, kept apart
 * from instance ids) owns shared CPU/disk blocks, which count for every instance registered with
 * {@link #addPoolReader} for that pool. Mooncake removals follow the bindings each {@link PoolStream} saved.
 *
 * <p><b>Ownership and thread-safety.</b> Every mutation ({@link #apply}, registration, pool streams and readers)
 * runs under one writer lock: many stream threads may call {@link #apply}, one at a time gets in, and each applies
 * a whole batch before publishing counters once. The lock also makes budget eviction across contexts simple.
 * {@link #query}, {@link #contexts}, {@link #stats} and {@link #profile} never take it: contexts sit in a
 * concurrent map, per-context directories are immutable snapshots, and block reads are validated by the table's
 * striped seqlock ({@link BlockTable}), so a query sees each block either before or after a concurrent change,
 * never torn, and costs the writer nothing. A query is not a snapshot across blocks.
 *
 * <p><b>Memory.</b> Accounted bytes (table and arena arrays, pool bindings) stay within
 * {@link PrefixIndexConfig#maxBytes}; when a table must grow beyond it, the index evicts blocks deepest first
 * from the context holding the most bytes, then compacts it (see {@code docs/index.md}).
 *
 * @param <P> the hash profile type (any value with {@code equals})
 */
public final class PrefixIndex<P> {
    /** Pool reader wildcard: the instance may read every pool (the reference conductor's behaviour). */
    public static final String ANY_BACKEND = "*";
    /** Accounted cost of one Mooncake binding (key strings are shared with the event decoder). */
    static final long BINDING_BYTES = 160;

    private final PrefixIndexConfig config;
    private final ReentrantLock writer = new ReentrantLock();
    private final ConcurrentHashMap<ContextKey, ContextState> contexts = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, AtomicLong> evictionsByInstance = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, AtomicLong> evictionsByBackend = new ConcurrentHashMap<>();

    // ---- writer-owned (under `writer`)
    private final Map<String, Set<String>> poolReaders = new HashMap<>();
    private final Set<PoolStream> poolStreams = new HashSet<>();
    private final int[] depthHistogram = new int[BlockTable.UNKNOWN_DEPTH + 1];
    private final long growthLimit;
    private long usedBytes;
    private long bindingCount;
    private long unknownRemovals;
    private long evictedPairs;
    private long droppedForBudget;
    private long droppedEvents;

    // ---- published once per batch for readers of stats()
    private volatile long pubBlocks;
    private volatile long pubPairs;
    private volatile long pubBytes;
    private volatile long pubUnknown;
    private volatile long pubEvicted;
    private volatile long pubDroppedBudget;
    private volatile long pubDropped;

    /**
     * Creates an empty index.
     *
     * @param config budget, quota and seed
     */
    public PrefixIndex(PrefixIndexConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.usedBytes = 4L * depthHistogram.length + 256;
        // Small arrays (owner counters, free lists) change size without a pre-check; this reserve covers them.
        this.growthLimit = config.maxBytes() - Math.min(64 * 1024, config.maxBytes() / 16);
    }

    /**
     * Returns the configuration.
     *
     * @return the configuration
     */
    public PrefixIndexConfig config() {
        return config;
    }

    // ============================================================== registration

    /**
     * Registers one (instance, DP rank) in a context, creating the context bound to {@code profile} if absent.
     * Idempotent: registering the same rank again returns the same handle.
     *
     * @param context    the context
     * @param profile    the hash profile of the registration
     * @param instanceId instance id (non-empty)
     * @param dpRank     DP rank ({@code >= 0})
     * @return the rank's handle, for {@link IndexBatch} ops
     * @throws ProfileConflictException if the context is bound to a different profile (nothing changes)
     * @throws IllegalArgumentException for an empty instance id or negative rank
     */
    public RankHandle register(ContextKey context, P profile, String instanceId, int dpRank)
            throws ProfileConflictException {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(profile, "profile");
        if (instanceId.isEmpty()) {
            throw new IllegalArgumentException("instanceId must not be empty");
        }
        if (dpRank < 0) {
            throw new IllegalArgumentException("dpRank must be >= 0: " + dpRank);
        }
        writer.lock();
        try {
            ContextState cs = contexts.get(context);
            if (cs != null && !cs.profile.equals(profile)) {
                throw new ProfileConflictException(context);
            }
            if (cs == null) {
                cs = new ContextState(context, profile, config.seed());
                contexts.put(context, cs);
                refreshBytes(cs);
            }
            Map<Integer, RankHandle> byRank = cs.ranks.computeIfAbsent(instanceId, k -> new TreeMap<>());
            RankHandle h = byRank.get(dpRank);
            if (h == null) {
                h = new RankHandle(cs, cs.allocOwner(instanceId, dpRank, null), instanceId, dpRank);
                byRank.put(dpRank, h);
                cs.rebuildDirectory(poolReaders);
                refreshBytes(cs);
            }
            publish();
            return h;
        } finally {
            writer.unlock();
        }
    }

    /**
     * Unregisters a rank: removes everything it holds (all tiers) and frees the context if it was the last rank.
     * Idempotent.
     *
     * @param handle the rank
     * @return false if it was already unregistered
     */
    public boolean unregister(RankHandle handle) {
        writer.lock();
        try {
            if (!handle.active) {
                return false;
            }
            handle.active = false;
            ContextState cs = handle.context;
            cs.table.clearOwner(handle.owner, BlockTable.ALL_TIERS);
            cs.freeOwner(handle.owner);
            Map<Integer, RankHandle> byRank = cs.ranks.get(handle.instanceId());
            if (byRank != null) {
                byRank.remove(handle.dpRank());
                if (byRank.isEmpty()) {
                    cs.ranks.remove(handle.instanceId());
                }
            }
            if (cs.hasRegistrations()) {
                cs.rebuildDirectory(poolReaders);
                refreshBytes(cs);
            } else {
                freeContext(cs);
            }
            publish();
            return true;
        } finally {
            writer.unlock();
        }
    }

    private void freeContext(ContextState cs) {
        cs.alive = false;
        contexts.remove(cs.key, cs);
        usedBytes -= cs.accountedBytes;
        for (PoolStream s : poolStreams) {
            Iterator<PoolStream.Binding> it = s.bindings.values().iterator();
            while (it.hasNext()) {
                if (it.next().context() == cs) {
                    it.remove();
                    bindingCount--;
                    usedBytes -= BINDING_BYTES;
                }
            }
        }
    }

    /**
     * Checks a Mooncake registration's profile against its context (the reference tolerates a missing context and
     * does not create it).
     *
     * @param context the context the pool registration names
     * @param profile its profile
     * @return whether the context exists
     * @throws ProfileConflictException if the context is bound to a different profile
     */
    public boolean checkPoolProfile(ContextKey context, P profile) throws ProfileConflictException {
        ContextState cs = contexts.get(context);
        if (cs == null) {
            return false;
        }
        if (!cs.profile.equals(profile)) {
            throw new ProfileConflictException(context);
        }
        return true;
    }

    /**
     * Opens a Mooncake store stream (one subscription) that records bindings.
     *
     * @param name a name for diagnostics (normally the endpoint)
     * @return the stream handle
     */
    public PoolStream openPoolStream(String name) {
        writer.lock();
        try {
            PoolStream s = new PoolStream(name);
            poolStreams.add(s);
            return s;
        } finally {
            writer.unlock();
        }
    }

    /**
     * Closes a pool stream: removes every binding it made (Mooncake {@code /unregister}). Idempotent.
     *
     * @param stream the stream
     */
    public void closePoolStream(PoolStream stream) {
        writer.lock();
        try {
            if (!stream.open) {
                return;
            }
            stream.open = false;
            for (PoolStream.Binding b : stream.bindings.values()) {
                unbind(b);
            }
            bindingCount -= stream.bindings.size();
            usedBytes -= BINDING_BYTES * stream.bindings.size();
            stream.bindings.clear();
            poolStreams.remove(stream);
            publish();
        } finally {
            writer.unlock();
        }
    }

    /**
     * Removes every block a pool backend holds, in every context and from every stream (a backend restart).
     *
     * @param backendId the pool
     * @return bindings removed
     */
    public long clearBackend(String backendId) {
        writer.lock();
        try {
            long removed = 0;
            for (PoolStream s : poolStreams) {
                Iterator<Map.Entry<PoolStream.BindingKey, PoolStream.Binding>> it = s.bindings.entrySet().iterator();
                while (it.hasNext()) {
                    Map.Entry<PoolStream.BindingKey, PoolStream.Binding> e = it.next();
                    if (e.getKey().backendId().equals(backendId)) {
                        unbind(e.getValue());
                        it.remove();
                        removed++;
                    }
                }
            }
            bindingCount -= removed;
            usedBytes -= BINDING_BYTES * removed;
            publish();
            return removed;
        } finally {
            writer.unlock();
        }
    }

    /**
     * Declares that {@code instanceId} can read pool {@code backendId} ({@link #ANY_BACKEND}: every pool), so that
     * pool's CPU/disk blocks count in its query results.
     *
     * @param instanceId the instance
     * @param backendId  the pool, or {@link #ANY_BACKEND}
     */
    public void addPoolReader(String instanceId, String backendId) {
        writer.lock();
        try {
            if (poolReaders.computeIfAbsent(instanceId, k -> new HashSet<>()).add(backendId)) {
                rebuildDirectories();
            }
        } finally {
            writer.unlock();
        }
    }

    /**
     * Withdraws a declaration made with {@link #addPoolReader}.
     *
     * @param instanceId the instance
     * @param backendId  the pool, or {@link #ANY_BACKEND}
     */
    public void removePoolReader(String instanceId, String backendId) {
        writer.lock();
        try {
            Set<String> s = poolReaders.get(instanceId);
            if (s != null && s.remove(backendId)) {
                if (s.isEmpty()) {
                    poolReaders.remove(instanceId);
                }
                rebuildDirectories();
            }
        } finally {
            writer.unlock();
        }
    }

    private void rebuildDirectories() {
        for (ContextState cs : contexts.values()) {
            cs.rebuildDirectory(poolReaders);
        }
    }

    // ============================================================== updates

    /**
     * Applies a batch in order, then publishes counters once. Ops naming an unregistered rank, a closed stream or a
     * missing context are skipped and counted ({@link IndexStats#droppedEvents}); removals of unknown blocks are
     * counted ({@link IndexStats#unknownRemovals}). The batch is left as it was (call {@link IndexBatch#clear}).
     *
     * @param batch the ops
     */
    public void apply(IndexBatch batch) {
        writer.lock();
        try {
            for (int op = 0; op < batch.ops; op++) {
                switch (batch.kinds[op]) {
                    case IndexBatch.STORE -> applyStore(batch, op);
                    case IndexBatch.REMOVE -> applyRemove(batch, op);
                    case IndexBatch.CLEAR_OWNER -> applyClearOwner(batch, op);
                    case IndexBatch.POOL_STORE -> applyPoolStore(batch, op);
                    case IndexBatch.POOL_REMOVE -> applyPoolRemove(batch, op);
                    case IndexBatch.POOL_CLEAR -> applyPoolClear(batch, op);
                    default -> throw new IllegalStateException("unknown op kind " + batch.kinds[op]);
                }
            }
            publish();
        } finally {
            writer.unlock();
        }
    }

    private void applyStore(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            droppedEvents++;
            return;
        }
        ContextState cs = h.context;
        int lora = cs.internLora(Objects.requireNonNull(b.texts[op]));
        if (lora < 0) {
            droppedEvents++;
            return;
        }
        BlockTable t = cs.table;
        int depth = 1;
        if (b.hasParent[op]) {
            int pd = t.depthOf(b.parents[op], lora);
            depth = pd < 0 || pd >= BlockTable.UNKNOWN_DEPTH - 1 ? BlockTable.UNKNOWN_DEPTH : pd + 1;
        }
        int start = b.hashStart[op];
        int len = b.hashLength[op];
        int tier = b.tiers[op];
        for (int k = 0; k < len; k++) {
            if (!ensureRoom(cs)) {
                droppedForBudget += len - k;
                break;
            }
            int d = depth == BlockTable.UNKNOWN_DEPTH ? depth : Math.min(depth + k, BlockTable.UNKNOWN_DEPTH - 1);
            t.add(b.hashes[start + k], lora, h.owner, tier, d);
        }
        refreshBytes(cs);
        if (config.maxPairsPerInstance() > 0) {
            enforceQuota(cs, h.instanceId());
        }
    }

    private void applyRemove(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            droppedEvents++;
            return;
        }
        BlockTable t = h.context.table;
        int start = b.hashStart[op];
        int end = start + b.hashLength[op];
        for (int k = start; k < end; k++) {
            if (t.removeTiers(b.hashes[k], -1, h.owner, b.tiers[op]) == 0) {
                unknownRemovals++;
            }
        }
        refreshBytes(h.context);
    }

    private void applyClearOwner(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            droppedEvents++;
            return;
        }
        h.context.table.clearOwner(h.owner, b.tiers[op]);
        refreshBytes(h.context);
    }

    private void applyPoolStore(IndexBatch b, int op) {
        PoolStream s = (PoolStream) Objects.requireNonNull(b.targets[op]);
        ContextKey key = Objects.requireNonNull(b.contexts[op]);
        ContextState cs = contexts.get(key);
        if (!s.open || cs == null) {
            droppedEvents++;
            return;
        }
        int lora = cs.internLora(Objects.requireNonNull(b.texts[op]));
        if (lora < 0) {
            droppedEvents++;
            return;
        }
        String backendId = Objects.requireNonNull(b.backends[op]);
        int backend = cs.backendOwner(backendId);
        if (backend < 0) {
            backend = cs.allocOwner(null, -1, backendId);
            cs.backends.put(backendId, backend);
            cs.rebuildDirectory(poolReaders);
        }
        int tier = b.tiers[op];
        long hash = b.hashes[b.hashStart[op]];
        PoolStream.BindingKey bk = new PoolStream.BindingKey(backendId, key.tenantId(),
                Objects.requireNonNull(b.objectKeys[op]), tier);
        PoolStream.Binding nb = new PoolStream.Binding(cs, hash, lora, backend, tier);
        PoolStream.Binding old = s.bindings.get(bk);
        if (old != null && !old.equals(nb)) {
            unbind(old);
            s.bindings.remove(bk);
            bindingCount--;
            usedBytes -= BINDING_BYTES;
            old = null;
        }
        if (old == null) {
            int guard = 0;
            while (usedBytes + BINDING_BYTES > growthLimit && guard++ < 64 && reclaim(cs, false)) {
                // reclaim until the binding fits
            }
            if (usedBytes + BINDING_BYTES > growthLimit) {
                droppedForBudget++;
                return;
            }
        }
        if (!ensureRoom(cs)) {
            droppedForBudget++;
            return;
        }
        if (old == null) {
            s.bindings.put(bk, nb);
            bindingCount++;
            usedBytes += BINDING_BYTES;
            cs.poolRefs.computeIfAbsent(new ContextState.PoolRef(hash, lora, backend, tier), k -> new int[1])[0]++;
        }
        // Always (re)assert the pair: an identical re-store after an eviction brings the block back.
        cs.table.add(hash, lora, backend, tier, BlockTable.UNKNOWN_DEPTH);
        refreshBytes(cs);
    }

    private void applyPoolRemove(IndexBatch b, int op) {
        PoolStream s = (PoolStream) Objects.requireNonNull(b.targets[op]);
        if (!s.open) {
            droppedEvents++;
            return;
        }
        PoolStream.Binding old = s.bindings.remove(new PoolStream.BindingKey(Objects.requireNonNull(b.backends[op]),
                Objects.requireNonNull(b.texts[op]), Objects.requireNonNull(b.objectKeys[op]), b.tiers[op]));
        if (old == null) {
            unknownRemovals++;
            return;
        }
        bindingCount--;
        usedBytes -= BINDING_BYTES;
        unbind(old);
    }

    private void applyPoolClear(IndexBatch b, int op) {
        PoolStream s = (PoolStream) Objects.requireNonNull(b.targets[op]);
        if (!s.open) {
            droppedEvents++;
            return;
        }
        String tenant = Objects.requireNonNull(b.texts[op]);
        String backendId = Objects.requireNonNull(b.backends[op]);
        Iterator<Map.Entry<PoolStream.BindingKey, PoolStream.Binding>> it = s.bindings.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<PoolStream.BindingKey, PoolStream.Binding> e = it.next();
            if (e.getKey().backendId().equals(backendId) && e.getKey().tenantId().equals(tenant)) {
                unbind(e.getValue());
                it.remove();
                bindingCount--;
                usedBytes -= BINDING_BYTES;
            }
        }
    }

    /** Drops one binding's reference; the pool pair goes when its last binding does. */
    private void unbind(PoolStream.Binding b) {
        ContextState cs = b.context();
        if (!cs.alive) {
            return;
        }
        ContextState.PoolRef ref = new ContextState.PoolRef(b.hash(), b.lora(), b.backendOwner(), b.tier());
        int[] rc = cs.poolRefs.get(ref);
        if (rc != null && --rc[0] == 0) {
            cs.poolRefs.remove(ref);
            cs.table.removeTiers(b.hash(), b.lora(), b.backendOwner(), b.tier());
            refreshBytes(cs);
        }
    }

    // ============================================================== budget and eviction

    private void refreshBytes(ContextState cs) {
        long now = cs.table.bytes();
        usedBytes += now - cs.accountedBytes;
        cs.accountedBytes = now;
    }

    /** Makes room for one more block and its largest possible arena block in {@code cs}, within the budget. */
    private boolean ensureRoom(ContextState cs) {
        BlockTable t = cs.table;
        int guard = 0;
        while (true) {
            boolean slots = t.needsSlotGrowth();
            if (!slots && !t.needsArenaGrowth()) {
                return true;
            }
            if (guard++ > 256) {
                return false;
            }
            long extra = slots ? t.slotGrowthBytes() : t.arenaGrowthBytes();
            if (usedBytes + extra <= growthLimit) {
                if (slots) {
                    t.growSlots();
                } else {
                    t.growArena();
                }
                refreshBytes(cs);
            } else if (!reclaim(cs, slots)) {
                return false;
            }
        }
    }

    /**
     * Frees memory for {@code requester}: evicts an eighth of the blocks of the context holding the most bytes,
     * deepest first, then compacts it unless the requester only needed slot headroom in its own table.
     *
     * @return false if nothing could be freed
     */
    private boolean reclaim(ContextState requester, boolean slotsNeeded) {
        ContextState victim = requester;
        for (ContextState cs : contexts.values()) {
            if (cs.accountedBytes > victim.accountedBytes) {
                victim = cs;
            }
        }
        BlockTable v = victim.table;
        long before = usedBytes;
        int sizeBefore = v.size();
        if (sizeBefore > 0) {
            DeepestFirstEviction.evictEntries(v, Math.max(1, sizeBefore / 8), depthHistogram);
            collectEvictions(victim);
        }
        if (victim != requester || !slotsNeeded) {
            int cap = BlockTable.capacityFor(v.size());
            if (v.compactedBytes(cap) < v.bytes()) {
                v.compact(cap);
            }
        }
        refreshBytes(victim);
        return v.size() < sizeBefore || usedBytes < before;
    }

    private void enforceQuota(ContextState cs, String instanceId) {
        Map<Integer, RankHandle> byRank = cs.ranks.get(instanceId);
        if (byRank == null) {
            return;
        }
        long held = 0;
        for (RankHandle r : byRank.values()) {
            held += cs.table.ownerPairs(r.owner);
        }
        long quota = config.maxPairsPerInstance();
        if (held <= quota) {
            return;
        }
        boolean[] flags = new boolean[cs.ownerLimit()];
        for (RankHandle r : byRank.values()) {
            flags[r.owner] = true;
        }
        // Down to 90% of the quota so the next stores do not each trigger a scan.
        DeepestFirstEviction.evictOwnerPairs(cs.table, flags, held - quota + quota / 10, depthHistogram);
        collectEvictions(cs);
        refreshBytes(cs);
    }

    private void collectEvictions(ContextState cs) {
        for (int o = 0; o < cs.ownerLimit(); o++) {
            long n = cs.table.takeEvicted(o);
            if (n == 0) {
                continue;
            }
            evictedPairs += n;
            String instance = cs.ownerInstance(o);
            String backend = cs.ownerBackend(o);
            if (instance != null) {
                evictionsByInstance.computeIfAbsent(instance, k -> new AtomicLong()).addAndGet(n);
            } else if (backend != null) {
                evictionsByBackend.computeIfAbsent(backend, k -> new AtomicLong()).addAndGet(n);
            }
        }
    }

    private void publish() {
        long blocks = 0;
        long pairs = 0;
        for (ContextState cs : contexts.values()) {
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

    // ============================================================== queries

    /**
     * Matches a prompt against one context. Never blocks on the writer. The walk stops at the first block no
     * candidate rank can use, so a lazy {@code hashes} computes only the blocks needed.
     *
     * @param context    the context
     * @param hashes     the prompt's block hashes
     * @param loraName   adapter name, {@code ""} for the base model
     * @param instanceId restrict the answer to this instance, or {@code null} for all registered instances
     * @param out        receives the result (reused)
     * @return {@link PrefixMatch#contextFound()}: false when the context or the filtered instance is unknown
     */
    public boolean query(ContextKey context, BlockHashSequence hashes, String loraName, @Nullable String instanceId,
            PrefixMatch out) {
        int n = hashes.blockCount();
        out.reset(context.blockSize(), n);
        ContextState cs = contexts.get(context);
        if (cs == null) {
            return false;
        }
        ContextState.Directory dir = cs.directory;
        int first = 0;
        int last = dir.instances.length;
        if (instanceId != null) {
            int idx = dir.instanceIndex(instanceId);
            if (idx < 0) {
                return false;
            }
            first = idx;
            last = idx + 1;
        }
        int words = dir.words;
        out.prepareScratch(words);
        long[] inG = out.inGpu;
        long[] inC = out.inCpu;
        long[] inD = out.inDisk;
        for (int i = first; i < last; i++) {
            for (int o : dir.rankOwners[i]) {
                inG[o >>> 6] |= 1L << o;
            }
        }
        Integer loraId = loraName.isEmpty() ? Integer.valueOf(0) : cs.loraIds.get(loraName);
        int lora = loraId == null ? -1 : loraId;
        ReadBuffer buf = out.buffer;
        int[] gEnd = out.ownerGpuEnd;
        int[] cEnd = out.ownerCpuEnd;
        int[] dEnd = out.ownerDiskEnd;
        int block = 0;
        int hashed = 0;
        boolean active = lora >= 0 && first < last;
        BlockTable table = cs.table;
        while (active && block < n) {
            long h = hashes.blockHash(block);
            hashed++;
            if (table.read(h, lora, buf)) {
                expandPools(dir, buf, words);
            }
            long g;
            long c;
            long d;
            long any = 0;
            for (int w = 0; w < words; w++) {
                long ig = inG[w];
                long ic = inC[w];
                long id = inD[w];
                if ((ig | ic | id) == 0) {
                    continue;
                }
                g = buf.gpu[w];
                c = buf.cpu[w];
                d = buf.disk[w];
                long dropG = ig & ~g;
                long toC = ic | dropG;
                long dropC = toC & ~c;
                long toD = id | dropC;
                long dropD = toD & ~d;
                inG[w] = ig & g;
                inC[w] = toC & c;
                inD[w] = toD & d;
                record(gEnd, w, dropG, block);
                record(cEnd, w, dropC, block);
                record(dEnd, w, dropD, block);
                any |= inG[w] | inC[w] | inD[w];
            }
            active = any != 0;
            if (active) {
                block++;
            }
        }
        // Cursors still running stopped at `block` (the end of the prompt, or 0 when no block could match).
        for (int w = 0; w < words; w++) {
            long ig = inG[w];
            long ic = inC[w] | ig;
            long id = inD[w] | ic;
            record(gEnd, w, ig, block);
            record(cEnd, w, ic, block);
            record(dEnd, w, id, block);
        }
        for (int i = first; i < last; i++) {
            out.addInstance(dir.instances[i], dir.ranks[i], dir.rankOwners[i]);
        }
        out.setFound(hashed);
        return true;
    }

    private static void record(int[] ends, int w, long bits, int value) {
        while (bits != 0) {
            ends[(w << 6) + Long.numberOfTrailingZeros(bits)] = value;
            bits &= bits - 1;
        }
    }

    /** A pool's CPU/disk presence counts for the ranks of every instance that reads that pool. */
    private static void expandPools(ContextState.Directory dir, ReadBuffer buf, int words) {
        int[] owners = dir.backendOwners;
        for (int k = 0; k < owners.length; k++) {
            int o = owners[k];
            int w = o >>> 6;
            if (w >= words) {
                continue;
            }
            long bit = 1L << o;
            boolean cpu = (buf.cpu[w] & bit) != 0;
            boolean disk = (buf.disk[w] & bit) != 0;
            if (cpu || disk) {
                long[] readers = dir.backendReaders[k];
                for (int x = 0; x < words; x++) {
                    if (cpu) {
                        buf.cpu[x] |= readers[x];
                    }
                    if (disk) {
                        buf.disk[x] |= readers[x];
                    }
                }
            }
        }
    }

    // ============================================================== views

    /**
     * Returns the profile a context is bound to.
     *
     * @param context the context
     * @return the profile, or {@code null} if the context does not exist
     */
    @SuppressWarnings("unchecked")
    public @Nullable P profile(ContextKey context) {
        ContextState cs = contexts.get(context);
        return cs == null ? null : (P) cs.profile;
    }

    /**
     * Returns every live context ({@code /global_view}); allocates, not for hot paths.
     *
     * @return the contexts, in no particular order
     */
    @SuppressWarnings("unchecked")
    public List<ContextView<P>> contexts() {
        List<ContextView<P>> out = new ArrayList<>();
        for (ContextState cs : contexts.values()) {
            ContextState.Directory dir = cs.directory;
            Map<String, List<Integer>> instances = new TreeMap<>();
            for (int i = 0; i < dir.instances.length; i++) {
                List<Integer> rs = new ArrayList<>();
                for (int r : dir.ranks[i]) {
                    rs.add(r);
                }
                instances.put(dir.instances[i], List.copyOf(rs));
            }
            String[] loras = new String[cs.loraIds.size()];
            for (Map.Entry<String, Integer> e : cs.loraIds.entrySet()) {
                if (e.getValue() < loras.length) {
                    loras[e.getValue()] = e.getKey();
                }
            }
            List<String> loraList = new ArrayList<>();
            Map<String, Long> byLora = new HashMap<>();
            for (int id = 0; id < loras.length; id++) {
                String l = loras[id];
                if (l != null) {
                    loraList.add(l);
                    byLora.put(l, (long) cs.table.loraEntries(id));
                }
            }
            out.add(new ContextView<>(cs.key, (P) cs.profile, cs.publishedBlocks, cs.publishedPairs, instances,
                    loraList, byLora, Arrays.asList(dir.backendIds)));
        }
        return out;
    }

    /**
     * Returns the counters as published after the last batch; allocates, not for hot paths.
     *
     * @return a snapshot
     */
    public IndexStats stats() {
        return new IndexStats(contexts.size(), pubBlocks, pubPairs, pubBytes, config.maxBytes(), pubUnknown,
                pubEvicted, pubDroppedBudget, pubDropped, snapshot(evictionsByInstance),
                snapshot(evictionsByBackend));
    }

    private static Map<String, Long> snapshot(ConcurrentHashMap<String, AtomicLong> m) {
        Map<String, Long> out = new HashMap<>();
        m.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /** Checks structural invariants of every context (tests). */
    List<String> invariantViolations() {
        writer.lock();
        try {
            List<String> bad = new ArrayList<>();
            long used = 4L * depthHistogram.length + 256 + bindingCount * BINDING_BYTES;
            for (ContextState cs : contexts.values()) {
                for (String v : cs.table.invariantViolations()) {
                    bad.add(cs.key + ": " + v);
                }
                used += cs.table.bytes();
                for (Map.Entry<ContextState.PoolRef, int[]> e : cs.poolRefs.entrySet()) {
                    ContextState.PoolRef r = e.getKey();
                    if (e.getValue()[0] <= 0) {
                        bad.add(cs.key + ": non-positive pool refcount " + r);
                    }
                }
            }
            long bindings = 0;
            for (PoolStream s : poolStreams) {
                bindings += s.bindings.size();
            }
            if (bindings != bindingCount) {
                bad.add("binding count " + bindingCount + " but " + bindings + " bindings");
            }
            if (used != usedBytes) {
                bad.add("accounted bytes " + usedBytes + " but " + used + " recomputed");
            }
            if (usedBytes > config.maxBytes()) {
                bad.add("budget exceeded: " + usedBytes + " > " + config.maxBytes());
            }
            return bad;
        } finally {
            writer.unlock();
        }
    }

    /** Tier bits {@code owner} holds on a block (tests). */
    int tiersOf(RankHandle owner, String loraName, long hash) {
        writer.lock();
        try {
            Integer lora = owner.context.loraIds.get(loraName);
            return lora == null ? 0 : owner.context.table.tiersOf(hash, lora, owner.owner);
        } finally {
            writer.unlock();
        }
    }
}
