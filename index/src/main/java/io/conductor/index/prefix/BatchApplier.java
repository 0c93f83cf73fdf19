package io.conductor.index.prefix;

import java.util.Objects;

/**
 * Applies an {@link IndexBatch} to the index, op by op in order: rank stores (with chain depths), removals and
 * owner clears here, pool ops through {@link PoolBindings}. Ops naming an unregistered rank, a closed stream or a
 * missing context are skipped and counted.
 *
 * <p><b>Threading.</b> Not thread-safe: {@link #apply} runs under {@link PrefixIndex}'s writer lock, which also
 * publishes the counters once after the batch.
 */
final class BatchApplier {
    /*
     * Depth: a stored run gets depth 1 at block 0 when it has no parent, the parent's depth + 1 when the parent is
     * in the table, and UNKNOWN_DEPTH (evicted first) when the parent is unknown, i.e. an orphan no query can
     * reach; depths are consecutive within the run and saturate below UNKNOWN_DEPTH. An existing block keeps the
     * smaller depth, so a later store with a known parent rescues an orphan.
     *
     * Room: each block checks the budget first (MemoryBudget.ensureRoom); a block that cannot be placed ends the
     * run, and the rest of the run is counted in droppedForBudget.
     */

    private final PrefixIndexConfig config;
    private final MemoryBudget budget;
    private final PoolBindings pools;
    private final IndexCounters counters;

    BatchApplier(PrefixIndexConfig config, MemoryBudget budget, PoolBindings pools, IndexCounters counters) {
        this.config = config;
        this.budget = budget;
        this.pools = pools;
        this.counters = counters;
    }

    /** Applies every op of {@code batch} in order; see {@link PrefixIndex#apply}. */
    void apply(IndexBatch batch) {
        for (int op = 0; op < batch.ops; op++) {
            switch (batch.kinds[op]) {
                case IndexBatch.STORE -> applyStore(batch, op);
                case IndexBatch.REMOVE -> applyRemove(batch, op);
                case IndexBatch.CLEAR_OWNER -> applyClearOwner(batch, op);
                case IndexBatch.POOL_STORE -> pools.applyStore(batch, op);
                case IndexBatch.POOL_REMOVE -> pools.applyRemove(batch, op);
                case IndexBatch.POOL_CLEAR -> pools.applyClear(batch, op);
                case IndexBatch.STORE_GROUP -> applyGroupStore(batch, op);
                case IndexBatch.REMOVE_GROUP -> applyGroupRemove(batch, op);
                default -> throw new IllegalStateException("unknown op kind " + batch.kinds[op]);
            }
        }
    }

    private void applyStore(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            counters.droppedEvents++;
            return;
        }
        ContextState cs = h.context;
        int lora = cs.internLora(Objects.requireNonNull(b.texts[op]));
        if (lora < 0) {
            counters.droppedEvents++;
            return;
        }
        final BlockTable t = cs.table;
        int depth = 1;
        if (b.hasParent[op]) {
            int pd = t.depthOf(b.parents[op], lora);
            depth = pd < 0 || pd >= BlockTable.UNKNOWN_DEPTH - 1 ? BlockTable.UNKNOWN_DEPTH : pd + 1;
        }
        final MemoryBudget budget = this.budget;
        final long[] hashes = b.hashes;
        final int owner = h.owner;
        int start = b.hashStart[op];
        int len = b.hashLength[op];
        int tier = b.tiers[op];
        for (int k = 0; k < len; k++) {
            if (!budget.ensureRoom(cs)) {
                counters.droppedForBudget += len - k;
                break;
            }
            int d = depth == BlockTable.UNKNOWN_DEPTH ? depth : Math.min(depth + k, BlockTable.UNKNOWN_DEPTH - 1);
            t.add(hashes[start + k], lora, owner, tier, d);
        }
        budget.refreshBytes(cs);
        if (config.maxPairsPerInstance() > 0) {
            budget.enforceQuota(cs, h.instanceId());
        }
    }

    /*
     * Groups (hybrid contexts): a block of group g under LoRA index l has table id l * groupCount + g, so the
     * table, budget, eviction and counters treat (hash, LoRA, group) entries like any other. Depths count hash
     * blocks: a group block of k hash blocks lies k deeper than its parent, whichever group the parent was stored
     * in (the parent is looked up in the event's group first, then in the others), so deepest-first eviction
     * orders every group of a context on one scale. A sliding-window or Mamba event skips the blocks it does not
     * keep; their depths are then underestimated, which only delays their eviction.
     */

    private void applyGroupStore(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            counters.droppedEvents++;
            return;
        }
        ContextState cs = h.context;
        int group = b.groups[op];
        if (group >= cs.groupCount) {
            counters.droppedEvents++;
            return;
        }
        int base = cs.internLora(Objects.requireNonNull(b.texts[op]));
        if (base < 0) {
            counters.droppedEvents++;
            return;
        }
        final BlockTable t = cs.table;
        final int step = cs.layout == null ? 1 : cs.layout.blocksPerGroupBlock[group];
        int depth = step;
        if (b.hasParent[op]) {
            int pd = t.depthOf(b.parents[op], base + group);
            for (int g = 0; pd < 0 && g < cs.groupCount; g++) {
                if (g != group) {
                    pd = t.depthOf(b.parents[op], base + g);
                }
            }
            depth = pd < 0 || pd >= BlockTable.UNKNOWN_DEPTH - step ? BlockTable.UNKNOWN_DEPTH : pd + step;
        }
        final MemoryBudget budget = this.budget;
        final long[] hashes = b.hashes;
        final int owner = h.owner;
        final int id = base + group;
        int start = b.hashStart[op];
        int len = b.hashLength[op];
        int tier = b.tiers[op];
        for (int k = 0; k < len; k++) {
            if (!budget.ensureRoom(cs)) {
                counters.droppedForBudget += len - k;
                break;
            }
            int d = depth == BlockTable.UNKNOWN_DEPTH ? depth
                    : (int) Math.min(depth + (long) k * step, BlockTable.UNKNOWN_DEPTH - 1);
            t.add(hashes[start + k], id, owner, tier, d);
        }
        budget.refreshBytes(cs);
        if (config.maxPairsPerInstance() > 0) {
            budget.enforceQuota(cs, h.instanceId());
        }
    }

    private void applyGroupRemove(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            counters.droppedEvents++;
            return;
        }
        ContextState cs = h.context;
        int group = b.groups[op];
        if (group >= cs.groupCount) {
            counters.droppedEvents++;
            return;
        }
        final BlockTable t = cs.table;
        final long[] hashes = b.hashes;
        int start = b.hashStart[op];
        int end = start + b.hashLength[op];
        for (int k = start; k < end; k++) {
            if (t.removeTiersOfGroup(hashes[k], cs.groupCount, group, h.owner, b.tiers[op]) == 0) {
                counters.unknownRemovals++;
            }
        }
        budget.refreshBytes(cs);
    }

    private void applyRemove(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            counters.droppedEvents++;
            return;
        }
        final BlockTable t = h.context.table;
        final long[] hashes = b.hashes;
        final int owner = h.owner;
        final int tiers = b.tiers[op];
        int start = b.hashStart[op];
        int end = start + b.hashLength[op];
        for (int k = start; k < end; k++) {
            if (t.removeTiers(hashes[k], -1, owner, tiers) == 0) {
                counters.unknownRemovals++;
            }
        }
        budget.refreshBytes(h.context);
    }

    private void applyClearOwner(IndexBatch b, int op) {
        RankHandle h = (RankHandle) Objects.requireNonNull(b.targets[op]);
        if (!h.active) {
            counters.droppedEvents++;
            return;
        }
        h.context.table.clearOwner(h.owner, b.tiers[op]);
        budget.refreshBytes(h.context);
    }
}
