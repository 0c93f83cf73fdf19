package io.conductor.index.prefix;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * Everything the index keeps for one {@link ContextKey}: the bound profile, the {@link BlockTable}, interned LoRA
 * names, the context-local owner numbering and the reader-facing {@link Directory}.
 *
 * <p>Ownership: every mutable field is written only under {@link PrefixIndex}'s writer lock. Query threads read
 * only {@link #table} (lock-free, see {@link BlockTable}), {@link #directory} (an immutable snapshot behind a
 * volatile field), {@link #loraIds} (a concurrent map) and the published counters.
 */
final class ContextState {
    final ContextKey key;
    final Object profile;
    final BlockTable table;
    /** The hybrid group layout, or {@code null} for a plain context (one full-attention group). */
    final @Nullable GroupLayout layout;
    /**
     * Groups per LoRA in the table's id space: a block of group {@code g} under LoRA index {@code l} is stored
     * with table id {@code l * groupCount + g}; 1 for a plain context, whose table ids are the LoRA indices.
     */
    final int groupCount;
    volatile boolean alive = true;
    volatile Directory directory;
    volatile long publishedBlocks;
    volatile long publishedPairs;

    final ConcurrentHashMap<String, Integer> loraIds = new ConcurrentHashMap<>();
    private final List<String> loraNames = new ArrayList<>();

    /** Owner numbering: rank owners and pool backends share one dense index space. */
    private @Nullable String[] ownerInstance = new String[8];
    private int[] ownerRank = new int[8];
    private @Nullable String[] ownerBackend = new String[8];
    private int ownerLimit;
    private int[] freeOwners = new int[8];
    private int freeOwnerCount;
    final Map<String, Map<Integer, RankHandle>> ranks = new TreeMap<>();
    final Map<String, Integer> backends = new HashMap<>();
    /** Number of live pool bindings per (hash, lora, backend owner, tier): the pair exists while it is > 0. */
    final Map<PoolRef, int[]> poolRefs = new HashMap<>();
    long accountedBytes;

    ContextState(ContextKey key, Object profile, long seed) {
        this(key, profile, null, seed);
    }

    ContextState(ContextKey key, Object profile, @Nullable GroupLayout layout, long seed) {
        this.key = key;
        this.profile = profile;
        this.layout = layout;
        this.groupCount = layout == null ? 1 : layout.groupCount();
        this.table = new BlockTable(seed);
        loraIds.put("", 0);
        loraNames.add("");
        this.directory = Directory.EMPTY;
    }

    /**
     * Interned table id of {@code name} (its group-0 id in a hybrid context), or -1 when the context has no room
     * for another adapter.
     */
    int internLora(String name) {
        Integer id = loraIds.get(name);
        if (id != null) {
            return id;
        }
        int n = loraNames.size();
        if ((long) (n + 1) * groupCount - 1 > BlockTable.MAX_LORA) {
            return -1;
        }
        loraNames.add(name);
        loraIds.put(name, n * groupCount);
        return n * groupCount;
    }

    List<String> loraNames() {
        return List.copyOf(loraNames);
    }

    int allocOwner(@Nullable String instanceId, int rank, @Nullable String backendId) {
        int o;
        if (freeOwnerCount > 0) {
            o = freeOwners[--freeOwnerCount];
        } else {
            o = ownerLimit++;
            if (o > BlockTable.MAX_OWNER) {
                throw new IllegalStateException("too many owners in context " + key);
            }
            if (o == ownerRank.length) {
                ownerInstance = Arrays.copyOf(ownerInstance, o * 2);
                ownerRank = Arrays.copyOf(ownerRank, o * 2);
                ownerBackend = Arrays.copyOf(ownerBackend, o * 2);
            }
        }
        ownerInstance[o] = instanceId;
        ownerRank[o] = rank;
        ownerBackend[o] = backendId;
        table.reserveOwner(o);
        return o;
    }

    /** Returns an owner index to the free list; the caller has removed all its pairs. */
    void freeOwner(int owner) {
        ownerInstance[owner] = null;
        ownerBackend[owner] = null;
        if (freeOwnerCount == freeOwners.length) {
            freeOwners = Arrays.copyOf(freeOwners, freeOwnerCount * 2);
        }
        freeOwners[freeOwnerCount++] = owner;
    }

    int ownerLimit() {
        return ownerLimit;
    }

    @Nullable String ownerInstance(int owner) {
        return ownerInstance[owner];
    }

    @Nullable String ownerBackend(int owner) {
        return ownerBackend[owner];
    }

    int backendOwner(String backendId) {
        Integer o = backends.get(backendId);
        return o == null ? -1 : o;
    }

    boolean hasRegistrations() {
        return !ranks.isEmpty();
    }

    /** Key of a pool reference count. */
    record PoolRef(long hash, int lora, int backendOwner, int tier) {
    }

    /**
     * What a query needs to know about a context's owners, rebuilt by the writer on every registration change and
     * published whole. Immutable (arrays are never written after construction).
     */
    static final class Directory {
        static final Directory EMPTY = new Directory(new String[0], new int[0][], new int[0][], 1, new int[0],
                new String[0], new long[0][]);

        /** Registered instances, sorted. */
        final String[] instances;
        /** Per instance, its DP ranks ascending. */
        final int[][] ranks;
        /** Per instance and rank, the owner index. */
        final int[][] rankOwners;
        /** Bitmap words covering every owner index. */
        final int words;
        /** Pool backend owner indices. */
        final int[] backendOwners;
        final String[] backendIds;
        /** Per backend, the rank owners whose instance may read that pool. */
        final long[][] backendReaders;

        Directory(String[] instances, int[][] ranks, int[][] rankOwners, int words, int[] backendOwners,
                String[] backendIds, long[][] backendReaders) {
            this.instances = instances;
            this.ranks = ranks;
            this.rankOwners = rankOwners;
            this.words = words;
            this.backendOwners = backendOwners;
            this.backendIds = backendIds;
            this.backendReaders = backendReaders;
        }

        int instanceIndex(String instanceId) {
            return Arrays.binarySearch(instances, instanceId);
        }
    }

    /** Rebuilds and publishes the directory; {@code readers} = instance id to pool backends it may read. */
    void rebuildDirectory(Map<String, ? extends java.util.Set<String>> readers) {
        int n = ranks.size();
        String[] instances = new String[n];
        int[][] rs = new int[n][];
        int[][] ro = new int[n][];
        int i = 0;
        for (Map.Entry<String, Map<Integer, RankHandle>> e : ranks.entrySet()) {
            instances[i] = e.getKey();
            Map<Integer, RankHandle> byRank = new TreeMap<>(e.getValue());
            rs[i] = new int[byRank.size()];
            ro[i] = new int[byRank.size()];
            int k = 0;
            for (RankHandle h : byRank.values()) {
                rs[i][k] = h.dpRank();
                ro[i][k] = h.owner;
                k++;
            }
            i++;
        }
        int words = Math.max(1, (ownerLimit + 63) >>> 6);
        int nb = backends.size();
        int[] bo = new int[nb];
        String[] bid = new String[nb];
        long[][] readersMask = new long[nb][];
        int b = 0;
        for (Map.Entry<String, Integer> e : backends.entrySet()) {
            bo[b] = e.getValue();
            bid[b] = e.getKey();
            long[] mask = new long[words];
            for (int k = 0; k < n; k++) {
                java.util.Set<String> pools = readers.get(instances[k]);
                if (pools != null && (pools.contains(PrefixIndex.ANY_BACKEND) || pools.contains(e.getKey()))) {
                    for (int owner : ro[k]) {
                        mask[owner >>> 6] |= 1L << owner;
                    }
                }
            }
            readersMask[b] = mask;
            b++;
        }
        directory = new Directory(instances, rs, ro, words, bo, bid, readersMask);
    }
}
