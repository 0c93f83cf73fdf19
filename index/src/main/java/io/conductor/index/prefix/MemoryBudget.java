package io.conductor.index.prefix;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The memory budget of the index and its eviction policy: the accounted bytes of every context's table and of the
 * Mooncake bindings, kept within {@link PrefixIndexConfig#maxBytes}; which context loses blocks when a table must
 * grow beyond it; and the optional per-instance quota.
 *
 * <p><b>Threading.</b> Not thread-safe: every method runs under {@link PrefixIndex}'s writer lock. Readers see
 * the accounted bytes only through {@link IndexCounters#publish}.
 */
final class MemoryBudget {
    /*
     * Accounting: every table's slot, arena and stripe arrays, its small per-owner arrays (BlockTable.bytes), and
     * BINDING_BYTES per Mooncake binding. A context's bytes are re-read after each change that may resize them
     * (refreshBytes), so the total is exact at the end of every op.
     *
     * Growth: a table or arena grows only if the result fits under growthLimit, the budget minus a reserve of
     * min(64 KiB, max/16) for the small arrays (owner counters, free lists) that change size without a pre-check.
     *
     * Eviction (reclaim):
     *  1. The victim is the context holding the most bytes (often the one that wants to grow).
     *  2. It loses an eighth of its blocks, deepest first (DeepestFirstEviction), so the prefixes left stay
     *     walkable.
     *  3. A victim other than the requester, or an arena that must shrink, is then compacted (slots rebuilt at the
     *     smallest capacity that fits, arena packed), so the freed bytes return to the budget.
     *  4. Evictions are counted per instance (rank owners) and per backend.
     * A store that cannot be placed at all is dropped and counted (droppedForBudget). Bindings are counted but not
     * evicted: they go with removed, cleared, unregister or the context.
     *
     * Quota: when an instance's ranks hold more than maxPairsPerInstance pairs in one context, that instance's
     * pairs are evicted deepest first down to 90% of the quota (other owners of those blocks keep them).
     */

    /** Accounted cost of one Mooncake binding (key strings are shared with the event decoder). */
    static final long BINDING_BYTES = 160;

    private final PrefixIndexConfig config;
    private final ConcurrentHashMap<ContextKey, ContextState> contexts;
    private final IndexCounters counters;
    private final int[] depthHistogram = new int[SlotDescriptor.UNKNOWN_DEPTH + 1];
    private final long growthLimit;
    private long usedBytes;

    MemoryBudget(PrefixIndexConfig config, ConcurrentHashMap<ContextKey, ContextState> contexts,
            IndexCounters counters) {
        this.config = config;
        this.contexts = contexts;
        this.counters = counters;
        this.usedBytes = fixedBytes();
        // Small arrays (owner counters, free lists) change size without a pre-check; this reserve covers them.
        this.growthLimit = config.maxBytes() - Math.min(64 * 1024, config.maxBytes() / 16);
    }

    /** Bytes accounted for the index itself, before any context or binding. */
    long fixedBytes() {
        return 4L * depthHistogram.length + 256;
    }

    long usedBytes() {
        return usedBytes;
    }

    /** Re-reads the bytes of {@code cs}'s table after a change. */
    void refreshBytes(ContextState cs) {
        long now = cs.table.bytes();
        usedBytes += now - cs.accountedBytes;
        cs.accountedBytes = now;
    }

    /** Returns the bytes of a freed context to the budget. */
    void releaseContext(ContextState cs) {
        usedBytes -= cs.accountedBytes;
    }

    /** Accounts {@code delta} bindings (negative: removed). */
    void addBindings(long delta) {
        usedBytes += BINDING_BYTES * delta;
    }

    /**
     * Makes room for one more binding, evicting if needed.
     *
     * @return false if it does not fit (nothing more could be evicted)
     */
    boolean makeRoomForBinding(ContextState cs) {
        int guard = 0;
        while (usedBytes + BINDING_BYTES > growthLimit && guard++ < 64 && reclaim(cs, false)) {
            // reclaim until the binding fits
        }
        return usedBytes + BINDING_BYTES <= growthLimit;
    }

    /**
     * Grows {@code cs}'s slots at once to hold {@code entries} more blocks when the budget allows it without
     * evicting (a bulk restore); otherwise leaves growth to {@link #ensureRoom}, block by block.
     */
    void reserve(ContextState cs, int entries) {
        BlockTable t = cs.table;
        int cap = t.capacityToHold((int) Math.min(Integer.MAX_VALUE / 4, (long) t.size + entries));
        long extra = t.growthBytesTo(cap);
        if (extra > 0 && usedBytes + extra <= growthLimit) {
            t.growSlotsTo(cap);
            refreshBytes(cs);
        }
    }

    /** Makes room for one more block and its largest possible arena block in {@code cs}, within the budget. */
    boolean ensureRoom(ContextState cs) {
        final BlockTable t = cs.table;
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
            int cap = SeqlockSlots.capacityFor(v.size());
            if (v.compactedBytes(cap) < v.bytes()) {
                v.compact(cap);
            }
        }
        refreshBytes(victim);
        return v.size() < sizeBefore || usedBytes < before;
    }

    /** Applies the per-instance quota to {@code instanceId}'s ranks in {@code cs} (if a quota is set). */
    void enforceQuota(ContextState cs, String instanceId) {
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
            if (n != 0) {
                counters.countEvictions(n, cs.ownerInstance(o), cs.ownerBackend(o));
            }
        }
    }
}
