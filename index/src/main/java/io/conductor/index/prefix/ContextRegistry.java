package io.conductor.index.prefix;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The contexts of the index and their lifecycle: creation bound to a hash profile on the first registration, rank
 * registration and unregistration, freeing a context with its last rank, the pool-reader declarations, and the
 * reader-facing directories and views built from them.
 *
 * <p><b>Threading.</b> One writer, many readers. Mutating methods run under {@link PrefixIndex}'s writer lock.
 * {@link #contexts} is a concurrent map and each context's directory an immutable snapshot, so {@link #views} and
 * the lookups of queries run on any thread without the lock.
 */
final class ContextRegistry {
    /*
     * Profiles: a query names no profile, so one context must hash one way; a registration with another profile is
     * rejected and changes nothing. A context whose last registered rank goes is freed with every block in it (the
     * reference keeps contexts forever, defect 7).
     *
     * Directories: what a query needs about a context's owners (instances sorted, their ranks ascending, the owner
     * indices, which ranks may read which pool) is rebuilt on every registration or pool-reader change and
     * published whole through a volatile field, so a query never sees half a registration.
     */

    /** Live contexts; this class adds and removes them, {@link MemoryBudget} reads the same map to pick victims. */
    final ConcurrentHashMap<ContextKey, ContextState> contexts;
    private final Map<String, Set<String>> poolReaders = new HashMap<>();
    private final long seed;
    private final MemoryBudget budget;

    ContextRegistry(ConcurrentHashMap<ContextKey, ContextState> contexts, long seed, MemoryBudget budget) {
        this.contexts = contexts;
        this.seed = seed;
        this.budget = budget;
    }

    /** See {@link PrefixIndex#register}; the caller validated the arguments ({@code layout} null when plain). */
    RankHandle register(ContextKey context, Object profile, @Nullable GroupLayout layout, String instanceId,
            int dpRank) throws ProfileConflictException {
        ContextState cs = contexts.get(context);
        if (cs != null && !cs.profile.equals(profile)) {
            throw new ProfileConflictException(context);
        }
        if (cs != null && !Objects.equals(cs.layout, layout)) {
            throw new ProfileConflictException(context, "KV-cache group layout " + describe(cs.layout)
                    + " (the registration names " + describe(layout) + ")");
        }
        if (cs == null) {
            cs = new ContextState(context, profile, layout, seed);
            contexts.put(context, cs);
            budget.refreshBytes(cs);
        }
        Map<Integer, RankHandle> byRank = cs.ranks.computeIfAbsent(instanceId, k -> new TreeMap<>());
        RankHandle h = byRank.get(dpRank);
        if (h == null) {
            h = new RankHandle(cs, cs.allocOwner(instanceId, dpRank, null), instanceId, dpRank);
            byRank.put(dpRank, h);
            cs.rebuildDirectory(poolReaders);
            budget.refreshBytes(cs);
        }
        return h;
    }

    private static String describe(@Nullable GroupLayout layout) {
        return layout == null ? "plain (one full-attention group)" : layout.toString();
    }

    /**
     * Unregisters an active rank: removes everything it holds and frees the context if it was the last rank.
     *
     * @return whether the context was freed (the caller drops the pool bindings into it)
     */
    boolean unregister(RankHandle handle) {
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
            budget.refreshBytes(cs);
            return false;
        }
        cs.alive = false;
        contexts.remove(cs.key, cs);
        budget.releaseContext(cs);
        return true;
    }

    /** See {@link PrefixIndex#checkPoolProfile}; any thread. */
    boolean checkPoolProfile(ContextKey context, Object profile) throws ProfileConflictException {
        ContextState cs = contexts.get(context);
        if (cs == null) {
            return false;
        }
        if (!cs.profile.equals(profile)) {
            throw new ProfileConflictException(context);
        }
        return true;
    }

    void addPoolReader(String instanceId, String backendId) {
        if (poolReaders.computeIfAbsent(instanceId, k -> new HashSet<>()).add(backendId)) {
            rebuildDirectories();
        }
    }

    void removePoolReader(String instanceId, String backendId) {
        Set<String> s = poolReaders.get(instanceId);
        if (s != null && s.remove(backendId)) {
            if (s.isEmpty()) {
                poolReaders.remove(instanceId);
            }
            rebuildDirectories();
        }
    }

    int poolReaderInstances() {
        return poolReaders.size();
    }

    /** Rebuilds and publishes one context's directory (after a new pool backend appeared in it). */
    void rebuildDirectory(ContextState cs) {
        cs.rebuildDirectory(poolReaders);
    }

    private void rebuildDirectories() {
        for (ContextState cs : contexts.values()) {
            cs.rebuildDirectory(poolReaders);
        }
    }

    /** See {@link PrefixIndex#contexts}; any thread, allocates. */
    @SuppressWarnings("unchecked")
    <P> List<ContextView<P>> views() {
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
            int groups = cs.groupCount;
            String[] loras = new String[cs.loraIds.size()];
            for (Map.Entry<String, Integer> e : cs.loraIds.entrySet()) {
                int index = e.getValue() / groups;
                if (index < loras.length) {
                    loras[index] = e.getKey();
                }
            }
            List<String> loraList = new ArrayList<>();
            Map<String, Long> byLora = new HashMap<>();
            for (int index = 0; index < loras.length; index++) {
                String l = loras[index];
                if (l != null) {
                    loraList.add(l);
                    // A hybrid context counts (hash, group) entries: every group's blocks of this LoRA.
                    long entries = 0;
                    for (int g = 0; g < groups; g++) {
                        entries += cs.table.loraEntries(index * groups + g);
                    }
                    byLora.put(l, entries);
                }
            }
            out.add(new ContextView<>(cs.key, (P) cs.profile, cs.publishedBlocks, cs.publishedPairs, instances,
                    loraList, byLora, Arrays.asList(dir.backendIds)));
        }
        return out;
    }
}
