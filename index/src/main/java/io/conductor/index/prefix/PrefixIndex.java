package io.conductor.index.prefix;

import io.conductor.index.BlockHashSequence;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
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
 * striped seqlock ({@link SeqlockSlots}), so a query sees each block either before or after a concurrent change,
 * never torn, and costs the writer nothing. A query is not a snapshot across blocks.
 *
 * <p><b>Memory.</b> Accounted bytes (table and arena arrays, pool bindings) stay within
 * {@link PrefixIndexConfig#maxBytes}; when a table must grow beyond it, the index evicts blocks deepest first
 * from the context holding the most bytes, then compacts it ({@link MemoryBudget}, {@code docs/index.md}).
 *
 * <p><b>Structure.</b> This class owns the writer lock and delegates: {@link ContextRegistry} (contexts and
 * registrations), {@link BatchApplier} (batches), {@link PoolBindings} (Mooncake streams), {@link MemoryBudget}
 * (budget and eviction policy), {@link QueryWalk} (queries), {@link IndexCounters} (published counters).
 *
 * @param <P> the hash profile type (any value with {@code equals})
 */
public final class PrefixIndex<P> {
    /** Pool reader wildcard: the instance may read every pool (the reference conductor's behaviour). */
    public static final String ANY_BACKEND = "*";

    private final PrefixIndexConfig config;
    private final ReentrantLock writer = new ReentrantLock();
    private final IndexCounters counters = new IndexCounters();
    private final MemoryBudget budget;
    private final ContextRegistry registry;
    private final PoolBindings pools;
    private final BatchApplier applier;

    /**
     * Creates an empty index.
     *
     * @param config budget, quota and seed
     */
    public PrefixIndex(PrefixIndexConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        ConcurrentHashMap<ContextKey, ContextState> contexts = new ConcurrentHashMap<>();
        this.budget = new MemoryBudget(config, contexts, counters);
        this.registry = new ContextRegistry(contexts, config.seed(), budget);
        this.pools = new PoolBindings(registry, budget, counters);
        this.applier = new BatchApplier(config, budget, pools, counters);
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
        return register(context, profile, null, instanceId, dpRank);
    }

    /**
     * Registers one (instance, DP rank) in a context of a hybrid model, creating the context bound to
     * {@code profile} and {@code layout} if absent: its blocks are then kept per (hash, group) and queries answer
     * with the prefix every group lets the engine reuse ({@code docs/index.md}). A {@code null} or
     * {@linkplain GroupLayout#isPlain() plain} layout registers a plain context, exactly as
     * {@link #register(ContextKey, Object, String, int)}. Idempotent.
     *
     * @param context    the context
     * @param profile    the hash profile of the registration
     * @param layout     the engine's KV-cache groups, or {@code null} for a plain model
     * @param instanceId instance id (non-empty)
     * @param dpRank     DP rank ({@code >= 0})
     * @return the rank's handle, for {@link IndexBatch} ops
     * @throws ProfileConflictException if the context is bound to a different profile or layout (nothing changes)
     * @throws IllegalArgumentException for an empty instance id, a negative rank, or a layout built for another
     *                                  block size than the context's
     */
    public RankHandle register(ContextKey context, P profile, @Nullable GroupLayout layout, String instanceId,
            int dpRank) throws ProfileConflictException {
        Objects.requireNonNull(context, "context");
        if (layout != null && layout.hashBlockSize() != context.blockSize()) {
            throw new IllegalArgumentException("layout built for block size " + layout.hashBlockSize()
                    + ", context has " + context.blockSize());
        }
        GroupLayout effective = layout == null || layout.isPlain() ? null : layout;
        Objects.requireNonNull(profile, "profile");
        if (instanceId.isEmpty()) {
            throw new IllegalArgumentException("instanceId must not be empty");
        }
        if (dpRank < 0) {
            throw new IllegalArgumentException("dpRank must be >= 0: " + dpRank);
        }
        writer.lock();
        try {
            RankHandle h = registry.register(context, profile, effective, instanceId, dpRank);
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
            if (registry.unregister(handle)) {
                pools.dropContext(handle.context);
            }
            publish();
            return true;
        } finally {
            writer.unlock();
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
        return registry.checkPoolProfile(context, profile);
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
            return pools.open(name);
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
            if (pools.close(stream)) {
                publish();
            }
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
            long removed = pools.clearBackend(backendId);
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
            registry.addPoolReader(instanceId, backendId);
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
            registry.removePoolReader(instanceId, backendId);
        } finally {
            writer.unlock();
        }
    }

    /**
     * Returns how many instances have a pool-reader declaration (tests of the cleanup on unregistration).
     *
     * @return the count
     */
    public int poolReaderInstances() {
        writer.lock();
        try {
            return registry.poolReaderInstances();
        } finally {
            writer.unlock();
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
            applier.apply(batch);
            publish();
        } finally {
            writer.unlock();
        }
    }

    /**
     * Copies every block a rank holds (all tiers, with LoRA and chain depth) into new columns: the enumeration a
     * snapshot is written from. Holds the writer lock for one scan of the rank's context table.
     *
     * @param handle the rank
     * @return its blocks; empty when the rank is no longer registered
     */
    public RankBlocks exportRank(RankHandle handle) {
        writer.lock();
        try {
            ContextState cs = handle.context;
            RankBlocks out = new RankBlocks(
                    handle.owner < cs.table.ownerPairs.length ? cs.table.ownerPairs[handle.owner] : 0, cs.groupCount);
            if (!handle.active) {
                return out;
            }
            for (String name : cs.loraNames()) {
                out.lora(name);
            }
            cs.table.exportOwner(handle.owner, out);
            return out;
        } finally {
            writer.unlock();
        }
    }

    /**
     * Like {@link #exportRank} for several ranks at once: ranks of the same context are exported in one scan of
     * its table (a snapshot of many ranks reads each table once, not once per rank).
     *
     * @param handles the ranks
     * @return their blocks, in the order of {@code handles}; empty for a rank no longer registered
     */
    public List<RankBlocks> exportRanks(List<RankHandle> handles) {
        writer.lock();
        try {
            RankBlocks[] outs = new RankBlocks[handles.size()];
            java.util.IdentityHashMap<ContextState, List<Integer>> byContext = new java.util.IdentityHashMap<>();
            for (int i = 0; i < outs.length; i++) {
                RankHandle h = handles.get(i);
                ContextState cs = h.context;
                outs[i] = new RankBlocks(h.owner < cs.table.ownerPairs.length ? cs.table.ownerPairs[h.owner] : 0,
                        cs.groupCount);
                if (h.active) {
                    byContext.computeIfAbsent(cs, c -> new ArrayList<>()).add(i);
                }
            }
            for (Map.Entry<ContextState, List<Integer>> e : byContext.entrySet()) {
                ContextState cs = e.getKey();
                List<Integer> idx = e.getValue();
                int[] owners = new int[idx.size()];
                RankBlocks[] group = new RankBlocks[idx.size()];
                for (int k = 0; k < owners.length; k++) {
                    owners[k] = handles.get(idx.get(k)).owner;
                    group[k] = outs[idx.get(k)];
                    for (String name : cs.loraNames()) {
                        group[k].lora(name);
                    }
                }
                cs.table.exportOwners(owners, group);
            }
            return List.of(outs);
        } finally {
            writer.unlock();
        }
    }

    /**
     * Adds blocks to a rank as if its stream had stored them, keeping each block's tiers and chain depth (a
     * snapshot being restored). Blocks beyond the memory budget are dropped and counted like stored blocks
     * ({@link IndexStats#droppedForBudget}); a LoRA the context has no room for drops its blocks
     * ({@link IndexStats#droppedEvents}), and so are all blocks exported from a context with another number of
     * KV-cache groups ({@link RankBlocks#groupCount()}).
     *
     * @param handle the rank
     * @param blocks the blocks
     * @return how many blocks were added; 0 when the rank is no longer registered
     */
    public long restoreRank(RankHandle handle, RankBlocks blocks) {
        writer.lock();
        try {
            if (!handle.active) {
                return 0;
            }
            ContextState cs = handle.context;
            int gc = cs.groupCount;
            if (blocks.groupCount() != gc) {
                // Another group layout: the blocks' table ids mean other groups here.
                counters.droppedEvents += blocks.size();
                return 0;
            }
            List<String> names = blocks.loraNames();
            int[] loraIds = new int[names.size()];
            for (int i = 0; i < loraIds.length; i++) {
                loraIds[i] = cs.internLora(names.get(i));
            }
            BlockTable t = cs.table;
            long added = 0;
            int n = blocks.size();
            if (t.size == 0) {
                budget.reserve(cs, n); // one rehash instead of doubling up from empty
            }
            // In the table's slot order, so the inserts sweep the slot array instead of missing the cache on
            // every block (the snapshot's order is another process's slot order, random here).
            RankBlocks ordered = t.inSlotOrder(blocks);
            long[] hashes = ordered.hashes;
            int[] meta = ordered.meta;
            for (int i = 0; i < n; i++) {
                int m = meta[i];
                int field = RankBlocks.loraOfMeta(m);
                int lora = gc == 1 ? loraIds[field] : loraIds[field / gc];
                if (lora < 0) {
                    counters.droppedEvents++;
                    continue;
                }
                lora += gc == 1 ? 0 : field % gc;
                if (!budget.ensureRoom(cs)) {
                    counters.droppedForBudget += n - i;
                    break;
                }
                t.add(hashes[i], lora, handle.owner, RankBlocks.tierBitsOfMeta(m), RankBlocks.depthOfMeta(m));
                added++;
            }
            budget.refreshBytes(cs);
            if (config.maxPairsPerInstance() > 0) {
                budget.enforceQuota(cs, handle.instanceId());
            }
            publish();
            return added;
        } finally {
            writer.unlock();
        }
    }

    private void publish() {
        counters.publish(registry.contexts.values(), budget.usedBytes());
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
        return QueryWalk.run(registry.contexts, context, hashes, loraName, instanceId, out);
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
        ContextState cs = registry.contexts.get(context);
        return cs == null ? null : (P) cs.profile;
    }

    /**
     * Returns the KV-cache group layout a hybrid context is bound to.
     *
     * @param context the context
     * @return the layout, or {@code null} for a plain context or one that does not exist
     */
    public @Nullable GroupLayout layout(ContextKey context) {
        ContextState cs = registry.contexts.get(context);
        return cs == null ? null : cs.layout;
    }

    /**
     * Returns every live context ({@code /global_view}); allocates, not for hot paths.
     *
     * @return the contexts, in no particular order
     */
    public List<ContextView<P>> contexts() {
        return registry.views();
    }

    /**
     * Returns the counters as published after the last batch; allocates, not for hot paths.
     *
     * @return a snapshot
     */
    public IndexStats stats() {
        return counters.snapshot(registry.contexts.size(), config.maxBytes());
    }

    /** Checks structural invariants of every context (tests). */
    List<String> invariantViolations() {
        writer.lock();
        try {
            List<String> bad = new ArrayList<>();
            long used = budget.fixedBytes() + pools.bindingCount() * MemoryBudget.BINDING_BYTES;
            for (ContextState cs : registry.contexts.values()) {
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
            pools.checkInvariants(bad);
            if (used != budget.usedBytes()) {
                bad.add("accounted bytes " + budget.usedBytes() + " but " + used + " recomputed");
            }
            if (budget.usedBytes() > config.maxBytes()) {
                bad.add("budget exceeded: " + budget.usedBytes() + " > " + config.maxBytes());
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
