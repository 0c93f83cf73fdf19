package io.conductor.index.prefix;

import static io.conductor.index.prefix.OwnerArena.bitmapClass;
import static io.conductor.index.prefix.OwnerArena.classFor;
import static io.conductor.index.prefix.OwnerArena.hBitmap;
import static io.conductor.index.prefix.OwnerArena.hClass;
import static io.conductor.index.prefix.OwnerArena.hCount;
import static io.conductor.index.prefix.OwnerArena.hWords;
import static io.conductor.index.prefix.OwnerArena.header;
import static io.conductor.index.prefix.OwnerArena.listCap;
import static io.conductor.index.prefix.OwnerArena.listPair;
import static io.conductor.index.prefix.SlotDescriptor.ARENA_FORM;
import static io.conductor.index.prefix.SlotDescriptor.PAYLOAD;
import static io.conductor.index.prefix.SlotDescriptor.depthOfMeta;
import static io.conductor.index.prefix.SlotDescriptor.inlineMeta;
import static io.conductor.index.prefix.SlotDescriptor.loraOf;
import static io.conductor.index.prefix.SlotDescriptor.pair;
import static io.conductor.index.prefix.SlotDescriptor.withDepth;

import java.util.Arrays;
import java.util.List;

/**
 * The block residency of one model context: for every (64-bit block hash, LoRA id) the set of owners holding it,
 * each with its tier bits. Owners are context-local small ints (see {@link ContextState}); tiers are
 * {@link #GPU}, {@link #CPU}, {@link #DISK}. This class keeps each entry's owner set (inline pair, list or bitmap
 * in the {@link OwnerArena}) and the per-owner and per-LoRA counters; the slot table and its seqlock live in
 * {@link SeqlockSlots}, the meta word layout in {@link SlotDescriptor}, the eviction scans in
 * {@link DeepestFirstEviction}.
 *
 * <p><b>Ownership and concurrency.</b> Exactly one thread at a time mutates the table: the caller holds
 * {@link PrefixIndex}'s writer lock for every mutating method; those methods read plain fields. {@link #read}
 * may run on any number of threads concurrently with the writer and never blocks (the seqlock protocol of
 * {@link SeqlockSlots}): every change below brackets the slots and arena data it touches with the stripe of the
 * entry's slot, or writes a new arena block first and then switches the meta word, so a reader sees either the
 * old owner set or the new one.
 */
final class BlockTable extends SeqlockSlots {
    /*
     * Owner sets: a block held by one owner keeps its (owner, tiers) pair inline in the meta word. A second owner
     * moves the set into an arena list block; a list that would outgrow its block moves to the next size class, or
     * to three owner bitmaps when those are no larger. Removal goes the other way: a bitmap with few owners left
     * turns back into a list (or inline), so sparse blocks stay small.
     *
     * Copy on change: a change that needs a new arena block fills the new block while the old one is still what
     * the meta word points at, switches the meta word (one stripe write), and only then releases the old block.
     * In-place edits of a block (a tier bit, a list append) are bracketed by the entry's stripe.
     */

    static final int GPU = 1;
    static final int CPU = 2;
    static final int DISK = 4;
    static final int ALL_TIERS = 7;
    /** Depth of a block whose chain position is not known; the deepest possible, so evicted first. */
    static final int UNKNOWN_DEPTH = SlotDescriptor.UNKNOWN_DEPTH;
    static final int MAX_LORA = SlotDescriptor.MAX_LORA;
    static final int MAX_OWNER = SlotDescriptor.MAX_OWNER;

    /** {@link #add} result bits. */
    static final int ENTRY_CREATED = 1;
    static final int PAIR_CREATED = 2;
    static final int TIER_ADDED = 4;
    /** {@link #removeTiers} / entry removal result bits. */
    static final int TIER_REMOVED = 1;
    static final int ENTRY_DELETED = 2;
    static final int PAIR_REMOVED = 4;

    // ---- writer-owned counters (read and written only under the index writer lock) ----
    long pairs;
    int[] ownerPairs = new int[8];
    long[] ownerEvicted = new long[8];
    /** Entries per LoRA id; written by the writer, read racily (whole ints) by views. */
    volatile int[] loraEntries = new int[1];

    BlockTable(long seed) {
        this(seed, MIN_CAPACITY, OwnerArena.MIN_ARENA);
    }

    BlockTable(long seed, int capacity, int arenaLongs) {
        super(seed, capacity, arenaLongs);
    }

    // ------------------------------------------------------------------ writer: counters and bytes

    long pairs() {
        return pairs;
    }

    /** Bytes held by this table's arrays (what the budget counts). */
    long bytes() {
        return 8L * (slots.length + arena.longs.length + stripes.length) + 4L * ownerPairs.length
                + 8L * ownerEvicted.length + 4L * loraEntries.length + 128 + arena.freeListBytes();
    }

    /** Bytes this table would hold after {@link #compact} to {@code capacity} slots. */
    long compactedBytes(int capacity) {
        long arenaLen = arena.packedLength(arena.requiredSlack());
        return bytes() - 8L * (slots.length + arena.longs.length + stripes.length)
                + 8L * (2L * capacity + arenaLen + stripeCount(capacity));
    }

    /**
     * Sizes the per-owner arrays for {@code owner} ahead of its first block, so the arena slack checked before a
     * mutation ({@link #needsArenaGrowth}) already covers a bitmap wide enough for it.
     */
    void reserveOwner(int owner) {
        ensureOwner(owner);
    }

    private void ensureOwner(int owner) {
        if (owner >= ownerPairs.length) {
            int n = Math.max(owner + 1, ownerPairs.length * 2);
            ownerPairs = Arrays.copyOf(ownerPairs, n);
            ownerEvicted = Arrays.copyOf(ownerEvicted, n);
            arena.reserveOwners(n);
        }
    }

    private void countLora(int lora, int delta) {
        int[] counts = loraEntries;
        if (lora >= counts.length) {
            counts = Arrays.copyOf(counts, Math.max(lora + 1, counts.length * 2));
            loraEntries = counts;
        }
        counts[lora] += delta;
    }

    /** Entries stored under LoRA id {@code lora}; a racy read, for views and metrics only. */
    int loraEntries(int lora) {
        int[] counts = loraEntries;
        return lora < counts.length ? counts[lora] : 0;
    }

    int ownerPairs(int owner) {
        return owner < ownerPairs.length ? ownerPairs[owner] : 0;
    }

    /** Returns and resets the eviction count of {@code owner}. */
    long takeEvicted(int owner) {
        if (owner >= ownerEvicted.length) {
            return 0;
        }
        long v = ownerEvicted[owner];
        ownerEvicted[owner] = 0;
        return v;
    }

    // ------------------------------------------------------------------ writer: lookups

    /** Depth of block {@code (key, lora)}, or -1 if absent (writer side). */
    int depthOf(long key, int lora) {
        int i = find(key, lora);
        return i < 0 ? -1 : depthOfMeta(slots[2 * i + 1]);
    }

    /** Tier bits {@code owner} holds on block {@code (key, lora)} (writer side; for tests and checks). */
    int tiersOf(long key, int lora, int owner) {
        int i = find(key, lora);
        if (i < 0) {
            return 0;
        }
        long m = slots[2 * i + 1];
        if ((m & ARENA_FORM) == 0) {
            int p = (int) m;
            return p >>> 3 == owner ? p & 7 : 0;
        }
        final long[] longs = arena.longs;
        int o = (int) (m & PAYLOAD);
        long h = longs[o];
        if (hBitmap(h)) {
            return arena.bitmapTiers(o, hWords(h), owner);
        }
        int k = arena.listIndex(o, hCount(h), owner);
        return k < 0 ? 0 : listPair(longs, o, k) & 7;
    }

    /**
     * Appends every block {@code owner} holds to {@code out}, one scan of the slots (writer side). LoRA indexes in
     * {@code out} are this context's LoRA ids: the caller adds the context's names to {@code out} in id order first.
     */
    void exportOwner(int owner, RankBlocks out) {
        final long[] s = slots;
        final int cap = mask + 1;
        for (int i = 0; i < cap; i++) {
            long m = s[2 * i + 1];
            if (m == 0) {
                continue;
            }
            int tiers = tiersAtSlot(m, owner);
            if (tiers != 0) {
                out.add(loraOf(m), s[2 * i], tiers, depthOfMeta(m));
            }
        }
    }

    /**
     * Like {@link #exportOwner} for several owners of this table in one scan of the slots: {@code outs[k]}
     * receives the blocks of {@code owners[k]}.
     */
    void exportOwners(int[] owners, RankBlocks[] outs) {
        final long[] s = slots;
        final int cap = mask + 1;
        final int n = owners.length;
        for (int i = 0; i < cap; i++) {
            long m = s[2 * i + 1];
            if (m == 0) {
                continue;
            }
            if ((m & ARENA_FORM) == 0) {
                int o = (int) m >>> 3;
                for (int k = 0; k < n; k++) {
                    if (owners[k] == o) {
                        outs[k].add(loraOf(m), s[2 * i], (int) m & 7, depthOfMeta(m));
                    }
                }
                continue;
            }
            for (int k = 0; k < n; k++) {
                int tiers = tiersAtSlot(m, owners[k]);
                if (tiers != 0) {
                    outs[k].add(loraOf(m), s[2 * i], tiers, depthOfMeta(m));
                }
            }
        }
    }

    private int tiersAtSlot(long m, int owner) {
        if ((m & ARENA_FORM) == 0) {
            int p = (int) m;
            return p >>> 3 == owner ? p & 7 : 0;
        }
        final long[] longs = arena.longs;
        int o = (int) (m & PAYLOAD);
        long h = longs[o];
        if (hBitmap(h)) {
            return arena.bitmapTiers(o, hWords(h), owner);
        }
        int k = arena.listIndex(o, hCount(h), owner);
        return k < 0 ? 0 : listPair(longs, o, k) & 7;
    }

    // ------------------------------------------------------------------ writer: add

    /** Buckets of {@link #inSlotOrder}: each covers capacity / ORDER_BUCKETS slots (64 KiB of a 16M-slot table). */
    private static final int ORDER_BUCKETS = 4096;

    /**
     * Returns {@code blocks} reordered by home slot at the current capacity, to the granularity of
     * {@link #ORDER_BUCKETS} buckets (one counting-sort pass): adding them in this order touches the slot array
     * nearly sequentially. Blocks that fit in a few buckets anyway come back as they are.
     */
    RankBlocks inSlotOrder(RankBlocks blocks) {
        int n = blocks.size();
        int cap = mask + 1;
        if (n < 4096 || cap <= ORDER_BUCKETS) {
            return blocks;
        }
        int shift = Integer.numberOfTrailingZeros(cap / ORDER_BUCKETS);
        long[] hs = blocks.hashes;
        int[] ms = blocks.meta;
        int[] next = new int[ORDER_BUCKETS + 1];
        for (int i = 0; i < n; i++) {
            next[((home(hs[i]) & mask) >>> shift) + 1]++;
        }
        for (int b = 0; b < ORDER_BUCKETS; b++) {
            next[b + 1] += next[b];
        }
        long[] oh = new long[n];
        int[] om = new int[n];
        for (int i = 0; i < n; i++) {
            long h = hs[i];
            int p = next[(home(h) & mask) >>> shift]++;
            oh[p] = h;
            om[p] = ms[i];
        }
        return new RankBlocks(blocks, oh, om, n);
    }

    /**
     * Adds {@code tiers} for {@code owner} on block {@code (key, lora)}, creating it at {@code depth} if absent
     * (an existing block keeps the smaller depth). The caller has made room: {@code !needsSlotGrowth() &&
     * !needsArenaGrowth()}.
     *
     * @return {@link #ENTRY_CREATED}, {@link #PAIR_CREATED}, {@link #TIER_ADDED} bits
     */
    int add(long key, int lora, int owner, int tiers, int depth) {
        ensureOwner(owner);
        int i = home(key) & mask;
        while (true) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                break;
            }
            if (slots[2 * i] == key && loraOf(m) == lora) {
                return addToEntry(i, m, owner, tiers, depth);
            }
            i = (i + 1) & mask;
        }
        int st = i >>> STRIPE_SHIFT;
        open(st);
        slots[2 * i] = key;
        slots[2 * i + 1] = inlineMeta(depth, lora, owner, tiers);
        close(st);
        size++;
        countLora(lora, 1);
        pairs++;
        ownerPairs[owner]++;
        return ENTRY_CREATED | PAIR_CREATED | TIER_ADDED;
    }

    private int addToEntry(int i, long m, int owner, int tiers, int depth) {
        int oldDepth = depthOfMeta(m);
        long nm = depth < oldDepth ? withDepth(m, depth) : m;
        if ((m & ARENA_FORM) == 0) {
            int p = (int) m;
            if (p >>> 3 == owner) {
                int nt = (p & 7) | tiers;
                if (nt != (p & 7) || nm != m) {
                    writeMeta(i, SlotDescriptor.withInlinePair(nm, pair(owner, nt)));
                }
                return nt != (p & 7) ? TIER_ADDED : 0;
            }
            int o = arena.alloc(1);
            final long[] longs = arena.longs;
            longs[o] = header(2, 1, false, 0);
            longs[o + 1] = (p & PAYLOAD) | ((long) pair(owner, tiers) << 32);
            writeMeta(i, (nm & ~PAYLOAD) | ARENA_FORM | o);
            pairs++;
            ownerPairs[owner]++;
            return PAIR_CREATED | TIER_ADDED;
        }
        final long[] longs = arena.longs;
        int o = (int) (m & PAYLOAD);
        long h = longs[o];
        int st = i >>> STRIPE_SHIFT;
        if (hBitmap(h)) {
            int w = hWords(h);
            if (owner >= w << 6) {
                int nw = (owner >>> 6) + 1;
                int no = arena.alloc(bitmapClass(nw));
                Arrays.fill(longs, no + 1, no + 1 + 3 * nw, 0L);
                for (int t = 0; t < 3; t++) {
                    System.arraycopy(longs, o + 1 + t * w, longs, no + 1 + t * nw, w);
                }
                arena.setBitmapTiers(no, nw, owner, tiers);
                longs[no] = header(hCount(h) + 1, bitmapClass(nw), true, nw);
                writeMeta(i, (nm & ~PAYLOAD) | ARENA_FORM | no);
                arena.release(o);
                pairs++;
                ownerPairs[owner]++;
                return PAIR_CREATED | TIER_ADDED;
            }
            int cur = arena.bitmapTiers(o, w, owner);
            if ((cur | tiers) == cur) {
                if (nm != m) {
                    writeMeta(i, nm);
                }
                return 0;
            }
            open(st);
            arena.setBitmapTiers(o, w, owner, tiers);
            if (cur == 0) {
                longs[o] = header(hCount(h) + 1, hClass(h), true, w);
            }
            slots[2 * i + 1] = nm;
            close(st);
            if (cur == 0) {
                pairs++;
                ownerPairs[owner]++;
                return PAIR_CREATED | TIER_ADDED;
            }
            return TIER_ADDED;
        }
        int count = hCount(h);
        int k = arena.listIndex(o, count, owner);
        if (k >= 0) {
            int p = listPair(longs, o, k);
            int nt = (p & 7) | tiers;
            if (nt == (p & 7)) {
                if (nm != m) {
                    writeMeta(i, nm);
                }
                return 0;
            }
            open(st);
            arena.setListPair(o, k, pair(owner, nt));
            slots[2 * i + 1] = nm;
            close(st);
            return TIER_ADDED;
        }
        int cls = hClass(h);
        if (count < listCap(cls)) {
            open(st);
            arena.setListPair(o, count, pair(owner, tiers));
            longs[o] = header(count + 1, cls, false, 0);
            slots[2 * i + 1] = nm;
            close(st);
        } else {
            int maxOwner = owner;
            for (int j = 0; j < count; j++) {
                maxOwner = Math.max(maxOwner, listPair(longs, o, j) >>> 3);
            }
            int nw = (maxOwner >>> 6) + 1;
            int no;
            if (bitmapClass(nw) <= cls + 1) {
                int bcls = bitmapClass(nw);
                no = arena.alloc(bcls);
                Arrays.fill(longs, no + 1, no + 1 + 3 * nw, 0L);
                for (int j = 0; j < count; j++) {
                    int p = listPair(longs, o, j);
                    arena.setBitmapTiers(no, nw, p >>> 3, p & 7);
                }
                arena.setBitmapTiers(no, nw, owner, tiers);
                longs[no] = header(count + 1, bcls, true, nw);
            } else {
                no = arena.alloc(cls + 1);
                System.arraycopy(longs, o + 1, longs, no + 1, (1 << cls) - 1);
                arena.setListPair(no, count, pair(owner, tiers));
                longs[no] = header(count + 1, cls + 1, false, 0);
            }
            writeMeta(i, (nm & ~PAYLOAD) | ARENA_FORM | no);
            arena.release(o);
        }
        pairs++;
        ownerPairs[owner]++;
        return PAIR_CREATED | TIER_ADDED;
    }

    // ------------------------------------------------------------------ writer: remove

    /**
     * Removes {@code tiers} of {@code owner} from every block with hash {@code key} and LoRA id {@code lora}
     * ({@code -1}: any LoRA). Idempotent.
     *
     * @return the number of blocks on which the owner held at least one of those tiers (0 = unknown removal)
     */
    int removeTiers(long key, int lora, int owner, int tiers) {
        int hits = 0;
        int i = home(key) & mask;
        while (true) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                return hits;
            }
            if (slots[2 * i] == key && (lora < 0 || loraOf(m) == lora)) {
                int r = removeFromEntry(i, m, owner, tiers);
                if ((r & TIER_REMOVED) != 0) {
                    hits++;
                }
                if ((r & ENTRY_DELETED) != 0) {
                    continue;
                }
            }
            i = (i + 1) & mask;
        }
    }

    /**
     * Removes {@code tiers} of {@code owner} from every block with hash {@code key} whose table id is in group
     * {@code group} of a context with {@code groupCount} groups per LoRA (id {@code % groupCount == group}), under
     * any LoRA. Idempotent.
     *
     * @return the number of blocks on which the owner held at least one of those tiers (0 = unknown removal)
     */
    int removeTiersOfGroup(long key, int groupCount, int group, int owner, int tiers) {
        int hits = 0;
        int i = home(key) & mask;
        while (true) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                return hits;
            }
            if (slots[2 * i] == key && loraOf(m) % groupCount == group) {
                int r = removeFromEntry(i, m, owner, tiers);
                if ((r & TIER_REMOVED) != 0) {
                    hits++;
                }
                if ((r & ENTRY_DELETED) != 0) {
                    continue;
                }
            }
            i = (i + 1) & mask;
        }
    }

    /** Removes tiers of one owner from the entry at slot {@code i}; result bits as {@link #TIER_REMOVED} etc. */
    int removeFromEntry(int i, long m, int owner, int tiers) {
        if ((m & ARENA_FORM) == 0) {
            int p = (int) m;
            if (p >>> 3 != owner || (p & tiers) == 0) {
                return 0;
            }
            int nt = p & 7 & ~tiers;
            if (nt == 0) {
                deleteSlot(i);
                size--;
                countLora(loraOf(m), -1);
                pairs--;
                ownerPairs[owner]--;
                return TIER_REMOVED | ENTRY_DELETED | PAIR_REMOVED;
            }
            writeMeta(i, (m & ~PAYLOAD) | (pair(owner, nt) & PAYLOAD));
            return TIER_REMOVED;
        }
        final long[] longs = arena.longs;
        int o = (int) (m & PAYLOAD);
        long h = longs[o];
        int st = i >>> STRIPE_SHIFT;
        int count = hCount(h);
        if (hBitmap(h)) {
            int w = hWords(h);
            int cur = arena.bitmapTiers(o, w, owner);
            if ((cur & tiers) == 0) {
                return 0;
            }
            int nt = cur & ~tiers;
            if (nt != 0) {
                open(st);
                arena.clearBitmapTiers(o, w, owner, tiers);
                close(st);
                return TIER_REMOVED;
            }
            pairs--;
            ownerPairs[owner]--;
            int remaining = count - 1;
            int cls = hClass(h);
            int ncls = classFor(1 + (remaining + 1) / 2);
            // Stay a bitmap while many owners remain, or when the arena has no room for the smaller list right
            // now (removals never grow the arena; the next store's room check restores the slack).
            if (remaining > listCap(Math.max(1, cls - 1)) / 2 || (remaining > 1 && !arena.canAlloc(ncls))) {
                open(st);
                arena.clearBitmapTiers(o, w, owner, ALL_TIERS);
                longs[o] = header(remaining, cls, true, w);
                close(st);
                return TIER_REMOVED | PAIR_REMOVED;
            }
            // Few owners left: back to a list (or inline) so sparse blocks stay small. The old block stays
            // untouched until the meta word no longer points at it.
            if (remaining == 1) {
                int only = -1;
                for (int wi = 0; wi < w && only < 0; wi++) {
                    long any = longs[o + 1 + wi] | longs[o + 1 + w + wi] | longs[o + 1 + 2 * w + wi];
                    while (any != 0) {
                        int ow = (wi << 6) + Long.numberOfTrailingZeros(any);
                        any &= any - 1;
                        if (ow != owner) {
                            only = ow;
                            break;
                        }
                    }
                }
                writeMeta(i, SlotDescriptor.withInlinePair(m, pair(only, arena.bitmapTiers(o, w, only))));
                arena.release(o);
                return TIER_REMOVED | PAIR_REMOVED;
            }
            int no = arena.alloc(ncls);
            int n = 0;
            for (int wi = 0; wi < w; wi++) {
                long any = longs[o + 1 + wi] | longs[o + 1 + w + wi] | longs[o + 1 + 2 * w + wi];
                while (any != 0) {
                    int ow = (wi << 6) + Long.numberOfTrailingZeros(any);
                    any &= any - 1;
                    if (ow != owner) {
                        arena.setListPair(no, n++, pair(ow, arena.bitmapTiers(o, w, ow)));
                    }
                }
            }
            if ((n & 1) != 0) {
                arena.setListPair(no, n, 0);
            }
            longs[no] = header(n, ncls, false, 0);
            writeMeta(i, (m & ~PAYLOAD) | ARENA_FORM | no);
            arena.release(o);
            return TIER_REMOVED | PAIR_REMOVED;
        }
        int k = arena.listIndex(o, count, owner);
        if (k < 0) {
            return 0;
        }
        int p = listPair(longs, o, k);
        if ((p & tiers) == 0) {
            return 0;
        }
        int nt = p & 7 & ~tiers;
        if (nt != 0) {
            open(st);
            arena.setListPair(o, k, pair(owner, nt));
            close(st);
            return TIER_REMOVED;
        }
        pairs--;
        ownerPairs[owner]--;
        if (count == 2) {
            int other = listPair(longs, o, 1 - k);
            writeMeta(i, (m & ~(PAYLOAD | ARENA_FORM)) | (other & PAYLOAD));
            arena.release(o);
            return TIER_REMOVED | PAIR_REMOVED;
        }
        open(st);
        arena.setListPair(o, k, listPair(longs, o, count - 1));
        arena.setListPair(o, count - 1, 0);
        longs[o] = header(count - 1, hClass(h), false, 0);
        close(st);
        return TIER_REMOVED | PAIR_REMOVED;
    }

    /** Removes the whole entry at slot {@code i}, counting an eviction for each of its owners. */
    int evictEntry(int i, long m) {
        int removed = 0;
        if ((m & ARENA_FORM) == 0) {
            int owner = (int) m >>> 3;
            ownerPairs[owner]--;
            ownerEvicted[owner]++;
            removed = 1;
        } else {
            final long[] longs = arena.longs;
            int o = (int) (m & PAYLOAD);
            long h = longs[o];
            if (hBitmap(h)) {
                int w = hWords(h);
                for (int wi = 0; wi < w; wi++) {
                    long any = longs[o + 1 + wi] | longs[o + 1 + w + wi] | longs[o + 1 + 2 * w + wi];
                    while (any != 0) {
                        int ow = (wi << 6) + Long.numberOfTrailingZeros(any);
                        any &= any - 1;
                        ownerPairs[ow]--;
                        ownerEvicted[ow]++;
                        removed++;
                    }
                }
            } else {
                int count = hCount(h);
                for (int k = 0; k < count; k++) {
                    int ow = listPair(longs, o, k) >>> 3;
                    ownerPairs[ow]--;
                    ownerEvicted[ow]++;
                    removed++;
                }
            }
        }
        deleteSlot(i);
        if ((m & ARENA_FORM) != 0) {
            arena.release((int) (m & PAYLOAD));
        }
        size--;
        countLora(loraOf(m), -1);
        pairs -= removed;
        return removed;
    }

    /**
     * Removes {@code tiers} of {@code owner} from every block.
     *
     * @return pairs removed (the owner lost its last tier there)
     */
    long clearOwner(int owner, int tiers) {
        if (owner >= ownerPairs.length || ownerPairs[owner] == 0) {
            return 0;
        }
        long before = pairs;
        int e = emptySlot();
        int cap = mask + 1;
        for (int k = 1; k <= cap; ) {
            int i = (e + k) & mask;
            long m = slots[2 * i + 1];
            if (m != 0 && (removeFromEntry(i, m, owner, tiers) & ENTRY_DELETED) != 0) {
                continue;
            }
            k++;
        }
        return before - pairs;
    }

    /** Checks every structural invariant; returns the violations found (empty when consistent). */
    List<String> invariantViolations() {
        return BlockTableInvariants.violations(this);
    }
}
