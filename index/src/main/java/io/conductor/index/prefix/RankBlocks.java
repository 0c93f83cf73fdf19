package io.conductor.index.prefix;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The blocks one registered rank holds, as primitive columns: for each block its 64-bit hash, its LoRA (an index
 * into {@link #loraNames()}), the tier bits the rank holds it on ({@link #GPU_BIT}, {@link #CPU_BIT},
 * {@link #DISK_BIT}) and its chain depth. Filled by {@link PrefixIndex#exportRank} or by a snapshot decoder, and
 * applied by {@link PrefixIndex#restoreRank}; the snapshot codec reads and writes it through the accessors, so a
 * field added here is the only change the codec needs to follow.
 *
 * <p>Not thread-safe: one thread fills it, then hands it over (a snapshot writer, a loader).
 */
public final class RankBlocks {
    /** Tier bit of {@link Tier#GPU}. */
    public static final int GPU_BIT = BlockTable.GPU;
    /** Tier bit of {@link Tier#CPU}. */
    public static final int CPU_BIT = BlockTable.CPU;
    /** Tier bit of {@link Tier#DISK}. */
    public static final int DISK_BIT = BlockTable.DISK;
    /** Every tier bit. */
    public static final int ALL_TIERS = BlockTable.ALL_TIERS;
    /** Largest depth; also the depth of a block whose chain position is unknown. */
    public static final int MAX_DEPTH = BlockTable.UNKNOWN_DEPTH;
    /** Largest LoRA index (the index keeps at most this many adapters per context, plus the base model). */
    public static final int MAX_LORA = BlockTable.MAX_LORA;

    private static final int TIER_SHIFT = 0;
    private static final int DEPTH_SHIFT = 3;
    private static final int LORA_SHIFT = 18;

    private final List<String> loraNames = new ArrayList<>();
    private final int groupCount;
    private final Map<String, Integer> loraIndex = new HashMap<>();
    /** Hashes, {@link #size} used; read directly by {@link PrefixIndex#restoreRank}. */
    long[] hashes;
    /** Meta words ({@link #loraOfMeta}, {@link #tierBitsOfMeta}, {@link #depthOfMeta}), parallel to hashes. */
    int[] meta;
    private int size;

    /**
     * Creates empty columns with room for {@code expected} blocks (they grow as needed).
     *
     * @param expected initial capacity
     */
    public RankBlocks(int expected) {
        this(expected, 1);
    }

    /**
     * Creates empty columns for a hybrid context's rank: a block's LoRA field holds {@code lora * groupCount +
     * group} (its table id), so {@link #loraOf} ranges over {@code loraNames().size() * groupCount} values.
     *
     * @param expected   initial capacity
     * @param groupCount KV-cache groups per LoRA, 1..{@link GroupLayout#MAX_GROUPS} (1: a plain context)
     * @throws IllegalArgumentException for a group count out of range
     */
    public RankBlocks(int expected, int groupCount) {
        if (groupCount < 1 || groupCount > GroupLayout.MAX_GROUPS) {
            throw new IllegalArgumentException("group count out of range: " + groupCount);
        }
        this.groupCount = groupCount;
        int cap = Math.max(16, expected);
        hashes = new long[cap];
        meta = new int[cap];
        lora("");
    }

    /**
     * Returns the index of a LoRA name, adding it if new. Index 0 is always the base model {@code ""}.
     *
     * @param name the adapter name
     * @return its index
     * @throws IllegalArgumentException when more than {@link #MAX_LORA} + 1 names would be held
     */
    public int lora(String name) {
        Objects.requireNonNull(name, "name");
        Integer i = loraIndex.get(name);
        if (i != null) {
            return i;
        }
        if (loraNames.size() > MAX_LORA) {
            throw new IllegalArgumentException("more than " + (MAX_LORA + 1) + " LoRA names");
        }
        int n = loraNames.size();
        loraNames.add(name);
        loraIndex.put(name, n);
        return n;
    }

    /**
     * Returns the LoRA names, index 0 first.
     *
     * @return an unmodifiable copy
     */
    public List<String> loraNames() {
        return List.copyOf(loraNames);
    }

    /**
     * Returns the KV-cache groups per LoRA of the context these blocks come from (1: a plain context).
     *
     * @return the group count
     */
    public int groupCount() {
        return groupCount;
    }

    /**
     * Appends one block.
     *
     * @param lora     a LoRA index returned by {@link #lora}; in a hybrid context's columns, {@code lora *
     *                 groupCount() + group}
     * @param hash     the block hash
     * @param tierBits non-zero tier bits, at most {@link #ALL_TIERS}
     * @param depth    chain depth, 0..{@link #MAX_DEPTH}
     * @throws IllegalArgumentException for an out-of-range value (nothing is appended)
     */
    public void add(int lora, long hash, int tierBits, int depth) {
        if (lora < 0 || lora >= loraNames.size() * groupCount) {
            throw new IllegalArgumentException("unknown LoRA index " + lora);
        }
        if (tierBits <= 0 || tierBits > ALL_TIERS) {
            throw new IllegalArgumentException("tier bits out of range: " + tierBits);
        }
        if (depth < 0 || depth > MAX_DEPTH) {
            throw new IllegalArgumentException("depth out of range: " + depth);
        }
        if (size == hashes.length) {
            int cap = (int) Math.min(Integer.MAX_VALUE - 8, 2L * size);
            if (cap <= size) {
                throw new IllegalStateException("too many blocks");
            }
            hashes = Arrays.copyOf(hashes, cap);
            meta = Arrays.copyOf(meta, cap);
        }
        hashes[size] = hash;
        meta[size] = lora << LORA_SHIFT | depth << DEPTH_SHIFT | tierBits << TIER_SHIFT;
        size++;
    }

    /**
     * Wraps columns that hold valid meta words already (a reordering of another instance's columns).
     */
    RankBlocks(RankBlocks namesOf, long[] hashes, int[] meta, int size) {
        this.groupCount = namesOf.groupCount;
        this.hashes = hashes;
        this.meta = meta;
        this.size = size;
        for (String name : namesOf.loraNames) {
            lora(name);
        }
    }

    static int loraOfMeta(int m) {
        return m >>> LORA_SHIFT;
    }

    static int tierBitsOfMeta(int m) {
        return m & ALL_TIERS;
    }

    static int depthOfMeta(int m) {
        return (m >>> DEPTH_SHIFT) & MAX_DEPTH;
    }

    /**
     * Returns the number of blocks.
     *
     * @return the count
     */
    public int size() {
        return size;
    }

    /**
     * Returns a block's hash.
     *
     * @param i block index
     * @return the hash
     */
    public long hash(int i) {
        Objects.checkIndex(i, size);
        return hashes[i];
    }

    /**
     * Returns a block's LoRA index.
     *
     * @param i block index
     * @return index into {@link #loraNames()} (times {@link #groupCount()}, plus the group, in a hybrid context)
     */
    public int loraOf(int i) {
        Objects.checkIndex(i, size);
        return meta[i] >>> LORA_SHIFT;
    }

    /**
     * Returns a block's tier bits.
     *
     * @param i block index
     * @return the bits
     */
    public int tierBits(int i) {
        Objects.checkIndex(i, size);
        return meta[i] & ALL_TIERS;
    }

    /**
     * Returns a block's chain depth.
     *
     * @param i block index
     * @return the depth
     */
    public int depth(int i) {
        Objects.checkIndex(i, size);
        return (meta[i] >>> DEPTH_SHIFT) & MAX_DEPTH;
    }
}
