package io.conductor.index.prefix;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The block residency of one model context: for every (64-bit block hash, LoRA id) the set of owners holding it,
 * each with its tier bits. Owners are context-local small ints (see {@link ContextState}); tiers are
 * {@link #GPU}, {@link #CPU}, {@link #DISK}.
 *
 * <p><b>Layout.</b> One open-addressing table with linear probing over {@code long[] slots}, key and meta word
 * interleaved ({@code slots[2i]} = block hash, {@code slots[2i+1]} = meta, {@code 0} = empty). The home slot is
 * a seeded 64-bit finalizer of the hash only, so every LoRA variant of a hash lies on one probe chain (a
 * {@code BlockRemoved} carries no LoRA name). Meta: bit 63 occupied, bits 48..62 depth (15 bits, {@link
 * #UNKNOWN_DEPTH} = unknown), bits 36..47 LoRA id, bit 35 arena form, bits 0..31 either one inline pair
 * ({@code owner << 3 | tiers}, the common single-owner block costs no more than its slot) or an offset into
 * {@code long[] arena}. An arena block (power-of-two length, free lists per size class) starts with a header
 * (bits 0..23 count, 24..28 size class, 29 bitmap form, 32..47 bitmap words) followed either by a list of pairs,
 * two per long, or by three owner bitmaps (GPU, CPU, disk) when that is smaller (blocks held by many owners).
 * Removal shifts entries back (no tombstones).
 *
 * <p><b>Ownership and concurrency.</b> Exactly one thread at a time mutates the table: the caller holds
 * {@link PrefixIndex}'s writer lock for every mutating method; those methods read plain fields. {@link #read}
 * may run on any number of threads concurrently with the writer and never blocks: a seqlock per stripe of
 * {@code 2^STRIPE_SHIFT} slots. The writer makes a stripe odd (opaque store, then a store-store fence), changes
 * slots or arena data reachable from slots in that stripe, then makes it even again (release store). A reader
 * reads each stripe's sequence (acquire) before reading any slot of it, copies the entry's owners into its
 * {@link ReadBuffer}, issues a load-load fence and re-reads every stripe it touched; any change, or an odd value,
 * means the copy may be torn and the block is read again. Structural changes (growing the slot table or the arena,
 * compaction) build new arrays and publish a new {@link View} through a volatile field after marking every stripe
 * of the old view odd forever, so a reader still on the old view retries on the new one. Readers bounds-check
 * everything they derive from racy data, so a torn read can cost a retry, never an exception.
 */
final class BlockTable {
    static final int GPU = 1;
    static final int CPU = 2;
    static final int DISK = 4;
    static final int ALL_TIERS = 7;
    /** Depth of a block whose chain position is not known; the deepest possible, so evicted first. */
    static final int UNKNOWN_DEPTH = 0x7FFF;
    static final int MAX_LORA = 0xFFF;
    static final int MAX_OWNER = (1 << 28) - 1;

    /** {@link #add} result bits. */
    static final int ENTRY_CREATED = 1;
    static final int PAIR_CREATED = 2;
    static final int TIER_ADDED = 4;
    /** {@link #removeTiers} / entry removal result bits. */
    static final int TIER_REMOVED = 1;
    static final int ENTRY_DELETED = 2;
    static final int PAIR_REMOVED = 4;

    static final int STRIPE_SHIFT = 9;
    private static final long OCCUPIED = 1L << 63;
    private static final int DEPTH_SHIFT = 48;
    private static final int LORA_SHIFT = 36;
    private static final long ARENA_FORM = 1L << 35;
    private static final long PAYLOAD = 0xFFFF_FFFFL;
    private static final long DEPTH_BITS = (long) UNKNOWN_DEPTH << DEPTH_SHIFT;
    private static final int COUNT_MASK = 0xFF_FFFF;
    private static final int CLASS_SHIFT = 24;
    private static final long BITMAP_FORM = 1L << 29;
    private static final int WORDS_SHIFT = 32;
    private static final int MIN_CAPACITY = 16;
    private static final int MIN_ARENA = 64;
    private static final int MAX_CLASS = 30;
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    /** What readers see: array references that never change; contents guarded by {@link #stripes}. */
    static final class View {
        final long[] slots;
        final int mask;
        final long[] arena;
        final long[] stripes;

        View(long[] slots, long[] arena, long[] stripes) {
            this.slots = slots;
            this.mask = (slots.length >>> 1) - 1;
            this.arena = arena;
            this.stripes = stripes;
        }
    }

    private final long seed;
    private volatile View view;

    // ---- writer-owned state (read and written only under the index writer lock) ----
    private long[] slots;
    private int mask;
    private long[] arena;
    private long[] stripes;
    private int size;
    private long pairs;
    private int top;
    private final int[][] free = new int[MAX_CLASS + 1][];
    private final int[] freeCount = new int[MAX_CLASS + 1];
    private long freeLongs;
    private int maxBlockLongs = 2;
    private int[] ownerPairs = new int[8];
    private long[] ownerEvicted = new long[8];

    BlockTable(long seed) {
        this(seed, MIN_CAPACITY, MIN_ARENA);
    }

    BlockTable(long seed, int capacity, int arenaLongs) {
        this.seed = seed;
        int cap = Math.max(MIN_CAPACITY, Integer.highestOneBit(Math.max(1, capacity - 1)) << 1);
        this.slots = new long[cap * 2];
        this.mask = cap - 1;
        this.arena = new long[Math.max(MIN_ARENA, arenaLongs)];
        this.stripes = new long[stripeCount(cap)];
        this.view = new View(slots, arena, stripes);
    }

    private static int stripeCount(int capacity) {
        return Math.max(1, capacity >>> STRIPE_SHIFT);
    }

    // ------------------------------------------------------------------ meta / pair helpers

    static int pair(int owner, int tiers) {
        return owner << 3 | tiers;
    }

    static int loraOf(long meta) {
        return (int) (meta >>> LORA_SHIFT) & MAX_LORA;
    }

    static int depthOfMeta(long meta) {
        return (int) (meta >>> DEPTH_SHIFT) & UNKNOWN_DEPTH;
    }

    private static long withDepth(long meta, int depth) {
        return (meta & ~DEPTH_BITS) | ((long) depth << DEPTH_SHIFT);
    }

    private static long header(int count, int cls, boolean bitmap, int words) {
        return count | ((long) cls << CLASS_SHIFT) | (bitmap ? BITMAP_FORM : 0L) | ((long) words << WORDS_SHIFT);
    }

    private static int hCount(long h) {
        return (int) h & COUNT_MASK;
    }

    private static int hClass(long h) {
        return (int) (h >>> CLASS_SHIFT) & 31;
    }

    private static boolean hBitmap(long h) {
        return (h & BITMAP_FORM) != 0;
    }

    private static int hWords(long h) {
        return (int) (h >>> WORDS_SHIFT) & 0xFFFF;
    }

    /** Pairs a list block of class {@code cls} holds: two per long after the header. */
    private static int listCap(int cls) {
        return ((1 << cls) - 1) * 2;
    }

    private static int classFor(int longs) {
        return 32 - Integer.numberOfLeadingZeros(Math.max(2, longs) - 1);
    }

    private static int bitmapClass(int words) {
        return classFor(1 + 3 * words);
    }

    private static int listPair(long[] a, int o, int k) {
        return (int) (a[o + 1 + (k >>> 1)] >>> ((k & 1) << 5));
    }

    private void setListPair(int o, int k, int p) {
        int idx = o + 1 + (k >>> 1);
        int shift = (k & 1) << 5;
        arena[idx] = (arena[idx] & ~(PAYLOAD << shift)) | ((p & PAYLOAD) << shift);
    }

    private int home(long key) {
        long h = key ^ seed;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return (int) h;
    }

    // ------------------------------------------------------------------ seqlock (writer side)

    private void open(int stripe) {
        LONGS.setOpaque(stripes, stripe, stripes[stripe] + 1);
        VarHandle.storeStoreFence();
    }

    private void close(int stripe) {
        LONGS.setRelease(stripes, stripe, stripes[stripe] + 1);
    }

    private void writeMeta(int slot, long meta) {
        int st = slot >>> STRIPE_SHIFT;
        open(st);
        slots[2 * slot + 1] = meta;
        close(st);
    }

    /** Publishes new arrays; every stripe of the old view turns odd for good so readers on it retry. */
    private void publish(long[] newSlots, long[] newArena) {
        View old = view;
        for (int s = 0; s < old.stripes.length; s++) {
            long v = old.stripes[s];
            if ((v & 1) == 0) {
                LONGS.setOpaque(old.stripes, s, v + 1);
            }
        }
        VarHandle.storeStoreFence();
        slots = newSlots;
        mask = (newSlots.length >>> 1) - 1;
        arena = newArena;
        stripes = new long[stripeCount(mask + 1)];
        view = new View(slots, arena, stripes);
    }

    // ------------------------------------------------------------------ reader

    /**
     * Reads the owners of block {@code (key, lora)} into {@code buf}'s bitmaps (cleared first; owners at or above
     * {@code 64 * buf.words} are ignored). Lock-free; safe concurrently with the writer.
     *
     * @return whether the block exists
     */
    boolean read(long key, int lora, ReadBuffer buf) {
        int attempt = 0;
        int start = home(key);
        while (true) {
            View v = view;
            long[] sl = v.slots;
            long[] st = v.stripes;
            int m = v.mask;
            int i = start & m;
            int stripe = i >>> STRIPE_SHIFT;
            long seq = (long) LONGS.getAcquire(st, stripe);
            boolean ok = (seq & 1) == 0;
            int n = 0;
            long meta = 0;
            if (ok) {
                buf.recordStripe(n++, stripe, seq);
                for (int steps = 0; steps <= m; steps++) {
                    long mm = sl[2 * i + 1];
                    if (mm == 0) {
                        break;
                    }
                    if (sl[2 * i] == key && loraOf(mm) == lora) {
                        meta = mm;
                        break;
                    }
                    i = (i + 1) & m;
                    int ns = i >>> STRIPE_SHIFT;
                    if (ns != stripe) {
                        stripe = ns;
                        seq = (long) LONGS.getAcquire(st, ns);
                        if ((seq & 1) != 0) {
                            ok = false;
                            break;
                        }
                        buf.recordStripe(n++, stripe, seq);
                    }
                }
                if (ok && meta != 0) {
                    ok = decode(meta, v.arena, buf);
                }
                VarHandle.loadLoadFence();
                for (int k = 0; ok && k < n; k++) {
                    ok = (long) LONGS.getOpaque(st, buf.stripeIndex[k]) == buf.stripeSeq[k];
                }
            }
            if (ok) {
                if (meta == 0) {
                    buf.clearBitmaps();
                }
                return meta != 0;
            }
            buf.retries++;
            if (++attempt > 64) {
                Thread.yield();
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** Copies an entry's owners into the bitmaps; false if what was read cannot be a consistent entry. */
    private static boolean decode(long meta, long[] a, ReadBuffer buf) {
        buf.clearBitmaps();
        int limit = buf.words << 6;
        if ((meta & ARENA_FORM) == 0) {
            setBits(buf, (int) meta, limit);
            return true;
        }
        int o = (int) (meta & PAYLOAD);
        if (o < 0 || o >= a.length) {
            return false;
        }
        long h = a[o];
        int len = 1 << hClass(h);
        if (o + len > a.length || len < 2) {
            return false;
        }
        if (hBitmap(h)) {
            int w = hWords(h);
            if (1 + 3 * w > len) {
                return false;
            }
            int copy = Math.min(w, buf.words);
            System.arraycopy(a, o + 1, buf.gpu, 0, copy);
            System.arraycopy(a, o + 1 + w, buf.cpu, 0, copy);
            System.arraycopy(a, o + 1 + 2 * w, buf.disk, 0, copy);
            return true;
        }
        int count = hCount(h);
        if (count > listCap(hClass(h))) {
            return false;
        }
        for (int k = 0; k < count; k++) {
            setBits(buf, listPair(a, o, k), limit);
        }
        return true;
    }

    private static void setBits(ReadBuffer buf, int p, int limit) {
        int owner = p >>> 3;
        if (owner >= limit) {
            return;
        }
        int w = owner >>> 6;
        long bit = 1L << owner;
        buf.gpu[w] |= bit & -(p & 1);
        buf.cpu[w] |= bit & -((p >>> 1) & 1);
        buf.disk[w] |= bit & -((p >>> 2) & 1);
    }

    // ------------------------------------------------------------------ writer: capacity

    int size() {
        return size;
    }

    long pairs() {
        return pairs;
    }

    int capacity() {
        return mask + 1;
    }

    /** Bytes held by this table's arrays (what the budget counts). */
    long bytes() {
        long b = 8L * (slots.length + arena.length + stripes.length) + 4L * ownerPairs.length
                + 8L * ownerEvicted.length + 128;
        for (int[] f : free) {
            if (f != null) {
                b += 4L * f.length + 16;
            }
        }
        return b;
    }

    boolean needsSlotGrowth() {
        return size + 1 > maxLoad(mask + 1);
    }

    private static int maxLoad(int capacity) {
        return capacity - (capacity >>> 2);
    }

    long slotGrowthBytes() {
        return 16L * (mask + 1) + 8L * stripeCount(mask + 1);
    }

    void growSlots() {
        rehash((mask + 1) * 2, false);
    }

    /** Longs that must stay free at the arena top before a mutation: the largest block one mutation allocates. */
    private int requiredSlack() {
        int words = (ownerPairs.length + 63) >>> 6;
        return Math.max(2 * maxBlockLongs, 1 << bitmapClass(words));
    }

    boolean needsArenaGrowth() {
        return arena.length - top < requiredSlack();
    }

    private int grownArenaLength() {
        long want = Math.max(arena.length + (arena.length >>> 1), (long) top + 2L * requiredSlack());
        return (int) Math.min(Integer.MAX_VALUE - 8, want);
    }

    long arenaGrowthBytes() {
        return 8L * (grownArenaLength() - arena.length);
    }

    void growArena() {
        publish(slots, Arrays.copyOf(arena, grownArenaLength()));
    }

    /** Longs in the arena that sit on free lists (reclaimable by {@link #compact}). */
    long freeArenaLongs() {
        return freeLongs;
    }

    /** Bytes this table would hold after {@link #compact} to {@code capacity} slots. */
    long compactedBytes(int capacity) {
        long live = top - freeLongs;
        long arenaLen = Math.max(MIN_ARENA, live + 2L * requiredSlack());
        return bytes() - 8L * (slots.length + arena.length + stripes.length)
                + 8L * (2L * capacity + arenaLen + stripeCount(capacity));
    }

    /** Smallest power-of-two capacity that keeps {@code entries} under the load limit. */
    static int capacityFor(int entries) {
        int cap = MIN_CAPACITY;
        while (maxLoad(cap) < entries + 1) {
            cap <<= 1;
        }
        return cap;
    }

    /** Rebuilds slots at {@code capacity} and packs the arena (drops free lists). */
    void compact(int capacity) {
        rehash(Math.max(capacity, capacityFor(size)), true);
    }

    private void rehash(int capacity, boolean packArena) {
        long[] ns = new long[capacity * 2];
        int nm = capacity - 1;
        long[] na = arena;
        int ntop = top;
        if (packArena) {
            long live = top - freeLongs;
            na = new long[(int) Math.max(MIN_ARENA, live + 2L * requiredSlack())];
            ntop = 0;
        }
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                continue;
            }
            long key = slots[2 * i];
            if (packArena && (m & ARENA_FORM) != 0) {
                int o = (int) (m & PAYLOAD);
                int len = 1 << hClass(arena[o]);
                System.arraycopy(arena, o, na, ntop, len);
                m = (m & ~PAYLOAD) | ntop;
                ntop += len;
            }
            int j = home(key) & nm;
            while (ns[2 * j + 1] != 0) {
                j = (j + 1) & nm;
            }
            ns[2 * j] = key;
            ns[2 * j + 1] = m;
        }
        if (packArena) {
            top = ntop;
            Arrays.fill(freeCount, 0);
            Arrays.fill(free, null);
            freeLongs = 0;
        }
        publish(ns, na);
    }

    // ------------------------------------------------------------------ writer: arena blocks

    private int alloc(int cls) {
        int n = freeCount[cls];
        int len = 1 << cls;
        if (n > 0) {
            freeCount[cls] = n - 1;
            freeLongs -= len;
            return free[cls][n - 1];
        }
        if (top + len > arena.length) {
            throw new IllegalStateException("arena slack invariant broken: top=" + top + " len=" + len
                    + " arena=" + arena.length);
        }
        int o = top;
        top += len;
        maxBlockLongs = Math.max(maxBlockLongs, len);
        return o;
    }

    private void release(int o) {
        int cls = hClass(arena[o]);
        int[] f = free[cls];
        int n = freeCount[cls];
        if (f == null || n == f.length) {
            f = free[cls] = f == null ? new int[8] : Arrays.copyOf(f, n * 2);
        }
        f[n] = o;
        freeCount[cls] = n + 1;
        freeLongs += 1 << cls;
    }

    private void ensureOwner(int owner) {
        if (owner >= ownerPairs.length) {
            int n = Math.max(owner + 1, ownerPairs.length * 2);
            ownerPairs = Arrays.copyOf(ownerPairs, n);
            ownerEvicted = Arrays.copyOf(ownerEvicted, n);
        }
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

    private int find(long key, int lora) {
        int i = home(key) & mask;
        while (true) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                return -1;
            }
            if (slots[2 * i] == key && loraOf(m) == lora) {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

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
        int o = (int) (m & PAYLOAD);
        long h = arena[o];
        if (hBitmap(h)) {
            return bitmapTiers(o, hWords(h), owner);
        }
        int k = listIndex(o, hCount(h), owner);
        return k < 0 ? 0 : listPair(arena, o, k) & 7;
    }

    private int bitmapTiers(int o, int w, int owner) {
        if (owner >= w << 6) {
            return 0;
        }
        int wi = owner >>> 6;
        long bit = 1L << owner;
        return ((arena[o + 1 + wi] & bit) != 0 ? GPU : 0) | ((arena[o + 1 + w + wi] & bit) != 0 ? CPU : 0)
                | ((arena[o + 1 + 2 * w + wi] & bit) != 0 ? DISK : 0);
    }

    private int listIndex(int o, int count, int owner) {
        for (int k = 0; k < count; k++) {
            if (listPair(arena, o, k) >>> 3 == owner) {
                return k;
            }
        }
        return -1;
    }

    // ------------------------------------------------------------------ writer: add

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
        slots[2 * i + 1] = OCCUPIED | ((long) depth << DEPTH_SHIFT) | ((long) lora << LORA_SHIFT)
                | (pair(owner, tiers) & PAYLOAD);
        close(st);
        size++;
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
                    writeMeta(i, (nm & ~PAYLOAD) | (pair(owner, nt) & PAYLOAD));
                }
                return nt != (p & 7) ? TIER_ADDED : 0;
            }
            int o = alloc(1);
            arena[o] = header(2, 1, false, 0);
            arena[o + 1] = (p & PAYLOAD) | ((long) pair(owner, tiers) << 32);
            writeMeta(i, (nm & ~PAYLOAD) | ARENA_FORM | o);
            pairs++;
            ownerPairs[owner]++;
            return PAIR_CREATED | TIER_ADDED;
        }
        int o = (int) (m & PAYLOAD);
        long h = arena[o];
        int st = i >>> STRIPE_SHIFT;
        if (hBitmap(h)) {
            int w = hWords(h);
            if (owner >= w << 6) {
                int nw = (owner >>> 6) + 1;
                int no = alloc(bitmapClass(nw));
                Arrays.fill(arena, no + 1, no + 1 + 3 * nw, 0L);
                for (int t = 0; t < 3; t++) {
                    System.arraycopy(arena, o + 1 + t * w, arena, no + 1 + t * nw, w);
                }
                setBitmapTiers(no, nw, owner, tiers);
                arena[no] = header(hCount(h) + 1, bitmapClass(nw), true, nw);
                writeMeta(i, (nm & ~PAYLOAD) | ARENA_FORM | no);
                release(o);
                pairs++;
                ownerPairs[owner]++;
                return PAIR_CREATED | TIER_ADDED;
            }
            int cur = bitmapTiers(o, w, owner);
            if ((cur | tiers) == cur) {
                if (nm != m) {
                    writeMeta(i, nm);
                }
                return 0;
            }
            open(st);
            setBitmapTiers(o, w, owner, tiers);
            if (cur == 0) {
                arena[o] = header(hCount(h) + 1, hClass(h), true, w);
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
        int k = listIndex(o, count, owner);
        if (k >= 0) {
            int p = listPair(arena, o, k);
            int nt = (p & 7) | tiers;
            if (nt == (p & 7)) {
                if (nm != m) {
                    writeMeta(i, nm);
                }
                return 0;
            }
            open(st);
            setListPair(o, k, pair(owner, nt));
            slots[2 * i + 1] = nm;
            close(st);
            return TIER_ADDED;
        }
        int cls = hClass(h);
        if (count < listCap(cls)) {
            open(st);
            setListPair(o, count, pair(owner, tiers));
            arena[o] = header(count + 1, cls, false, 0);
            slots[2 * i + 1] = nm;
            close(st);
        } else {
            int maxOwner = owner;
            for (int j = 0; j < count; j++) {
                maxOwner = Math.max(maxOwner, listPair(arena, o, j) >>> 3);
            }
            int nw = (maxOwner >>> 6) + 1;
            int no;
            if (bitmapClass(nw) <= cls + 1) {
                int bcls = bitmapClass(nw);
                no = alloc(bcls);
                Arrays.fill(arena, no + 1, no + 1 + 3 * nw, 0L);
                for (int j = 0; j < count; j++) {
                    int p = listPair(arena, o, j);
                    setBitmapTiers(no, nw, p >>> 3, p & 7);
                }
                setBitmapTiers(no, nw, owner, tiers);
                arena[no] = header(count + 1, bcls, true, nw);
            } else {
                no = alloc(cls + 1);
                System.arraycopy(arena, o + 1, arena, no + 1, (1 << cls) - 1);
                setListPair(no, count, pair(owner, tiers));
                arena[no] = header(count + 1, cls + 1, false, 0);
            }
            writeMeta(i, (nm & ~PAYLOAD) | ARENA_FORM | no);
            release(o);
        }
        pairs++;
        ownerPairs[owner]++;
        return PAIR_CREATED | TIER_ADDED;
    }

    private void setBitmapTiers(int o, int w, int owner, int tiers) {
        int wi = owner >>> 6;
        long bit = 1L << owner;
        if ((tiers & GPU) != 0) {
            arena[o + 1 + wi] |= bit;
        }
        if ((tiers & CPU) != 0) {
            arena[o + 1 + w + wi] |= bit;
        }
        if ((tiers & DISK) != 0) {
            arena[o + 1 + 2 * w + wi] |= bit;
        }
    }

    private void clearBitmapTiers(int o, int w, int owner, int tiers) {
        int wi = owner >>> 6;
        long bit = ~(1L << owner);
        if ((tiers & GPU) != 0) {
            arena[o + 1 + wi] &= bit;
        }
        if ((tiers & CPU) != 0) {
            arena[o + 1 + w + wi] &= bit;
        }
        if ((tiers & DISK) != 0) {
            arena[o + 1 + 2 * w + wi] &= bit;
        }
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

    /** Removes tiers of one owner from the entry at slot {@code i}; result bits as {@link #TIER_REMOVED} etc. */
    private int removeFromEntry(int i, long m, int owner, int tiers) {
        if ((m & ARENA_FORM) == 0) {
            int p = (int) m;
            if (p >>> 3 != owner || (p & tiers) == 0) {
                return 0;
            }
            int nt = p & 7 & ~tiers;
            if (nt == 0) {
                deleteSlot(i);
                size--;
                pairs--;
                ownerPairs[owner]--;
                return TIER_REMOVED | ENTRY_DELETED | PAIR_REMOVED;
            }
            writeMeta(i, (m & ~PAYLOAD) | (pair(owner, nt) & PAYLOAD));
            return TIER_REMOVED;
        }
        int o = (int) (m & PAYLOAD);
        long h = arena[o];
        int st = i >>> STRIPE_SHIFT;
        int count = hCount(h);
        if (hBitmap(h)) {
            int w = hWords(h);
            int cur = bitmapTiers(o, w, owner);
            if ((cur & tiers) == 0) {
                return 0;
            }
            int nt = cur & ~tiers;
            if (nt != 0) {
                open(st);
                clearBitmapTiers(o, w, owner, tiers);
                close(st);
                return TIER_REMOVED;
            }
            pairs--;
            ownerPairs[owner]--;
            int remaining = count - 1;
            int cls = hClass(h);
            if (remaining > listCap(Math.max(1, cls - 1)) / 2) {
                open(st);
                clearBitmapTiers(o, w, owner, ALL_TIERS);
                arena[o] = header(remaining, cls, true, w);
                close(st);
                return TIER_REMOVED | PAIR_REMOVED;
            }
            // Few owners left: back to a list (or inline) so sparse blocks stay small. The old block stays
            // untouched until the meta word no longer points at it.
            if (remaining == 1) {
                int only = -1;
                for (int wi = 0; wi < w && only < 0; wi++) {
                    long any = arena[o + 1 + wi] | arena[o + 1 + w + wi] | arena[o + 1 + 2 * w + wi];
                    while (any != 0) {
                        int ow = (wi << 6) + Long.numberOfTrailingZeros(any);
                        any &= any - 1;
                        if (ow != owner) {
                            only = ow;
                            break;
                        }
                    }
                }
                writeMeta(i, (m & ~(PAYLOAD | ARENA_FORM)) | (pair(only, bitmapTiers(o, w, only)) & PAYLOAD));
                release(o);
                return TIER_REMOVED | PAIR_REMOVED;
            }
            int ncls = classFor(1 + (remaining + 1) / 2);
            int no = alloc(ncls);
            int n = 0;
            for (int wi = 0; wi < w; wi++) {
                long any = arena[o + 1 + wi] | arena[o + 1 + w + wi] | arena[o + 1 + 2 * w + wi];
                while (any != 0) {
                    int ow = (wi << 6) + Long.numberOfTrailingZeros(any);
                    any &= any - 1;
                    if (ow != owner) {
                        setListPair(no, n++, pair(ow, bitmapTiers(o, w, ow)));
                    }
                }
            }
            if ((n & 1) != 0) {
                setListPair(no, n, 0);
            }
            arena[no] = header(n, ncls, false, 0);
            writeMeta(i, (m & ~PAYLOAD) | ARENA_FORM | no);
            release(o);
            return TIER_REMOVED | PAIR_REMOVED;
        }
        int k = listIndex(o, count, owner);
        if (k < 0) {
            return 0;
        }
        int p = listPair(arena, o, k);
        if ((p & tiers) == 0) {
            return 0;
        }
        int nt = p & 7 & ~tiers;
        if (nt != 0) {
            open(st);
            setListPair(o, k, pair(owner, nt));
            close(st);
            return TIER_REMOVED;
        }
        pairs--;
        ownerPairs[owner]--;
        if (count == 2) {
            int other = listPair(arena, o, 1 - k);
            writeMeta(i, (m & ~(PAYLOAD | ARENA_FORM)) | (other & PAYLOAD));
            release(o);
            return TIER_REMOVED | PAIR_REMOVED;
        }
        open(st);
        setListPair(o, k, listPair(arena, o, count - 1));
        setListPair(o, count - 1, 0);
        arena[o] = header(count - 1, hClass(h), false, 0);
        close(st);
        return TIER_REMOVED | PAIR_REMOVED;
    }

    /** Backward-shift deletion of slot {@code i}; all stripes of the shifted run are odd meanwhile. */
    private void deleteSlot(int i) {
        int end = i;
        do {
            end = (end + 1) & mask;
        } while (slots[2 * end + 1] != 0);
        int last = (end - 1) & mask;
        int first = i >>> STRIPE_SHIFT;
        int lastStripe = last >>> STRIPE_SHIFT;
        int nStripes = stripes.length;
        for (int s = first; ; s = (s + 1) % nStripes) {
            LONGS.setOpaque(stripes, s, stripes[s] + 1);
            if (s == lastStripe) {
                break;
            }
        }
        VarHandle.storeStoreFence();
        int hole = i;
        for (int j = (i + 1) & mask; j != end; j = (j + 1) & mask) {
            long key = slots[2 * j];
            int h = home(key) & mask;
            if (((j - h) & mask) >= ((j - hole) & mask)) {
                slots[2 * hole] = key;
                slots[2 * hole + 1] = slots[2 * j + 1];
                hole = j;
            }
        }
        slots[2 * hole] = 0;
        slots[2 * hole + 1] = 0;
        for (int s = first; ; s = (s + 1) % nStripes) {
            close(s);
            if (s == lastStripe) {
                break;
            }
        }
    }

    /** Removes the whole entry at slot {@code i}, counting an eviction for each of its owners. */
    private int evictEntry(int i, long m) {
        int removed = 0;
        if ((m & ARENA_FORM) == 0) {
            int owner = (int) m >>> 3;
            ownerPairs[owner]--;
            ownerEvicted[owner]++;
            removed = 1;
        } else {
            int o = (int) (m & PAYLOAD);
            long h = arena[o];
            if (hBitmap(h)) {
                int w = hWords(h);
                for (int wi = 0; wi < w; wi++) {
                    long any = arena[o + 1 + wi] | arena[o + 1 + w + wi] | arena[o + 1 + 2 * w + wi];
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
                    int ow = listPair(arena, o, k) >>> 3;
                    ownerPairs[ow]--;
                    ownerEvicted[ow]++;
                    removed++;
                }
            }
        }
        deleteSlot(i);
        if ((m & ARENA_FORM) != 0) {
            release((int) (m & PAYLOAD));
        }
        size--;
        pairs -= removed;
        return removed;
    }

    // ------------------------------------------------------------------ writer: scans

    /** A slot that is empty now; scans start after it so no probe run wraps across the start. */
    private int emptySlot() {
        int i = 0;
        while (slots[2 * i + 1] != 0) {
            i++;
        }
        return i;
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

    /**
     * Evicts whole blocks, deepest first, until {@code entries} blocks are gone (or the table is empty). Within
     * one depth the scan order decides. Because a stored chain's depth grows by one per block, a block always goes
     * no later than its ancestors.
     *
     * @param entries blocks to evict
     * @param hist    scratch of {@code UNKNOWN_DEPTH + 1} ints
     * @return pairs removed
     */
    long evictEntries(int entries, int[] hist) {
        if (entries <= 0 || size == 0) {
            return 0;
        }
        Arrays.fill(hist, 0);
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m != 0) {
                hist[depthOfMeta(m)]++;
            }
        }
        int threshold = UNKNOWN_DEPTH;
        long acc = 0;
        while (threshold > 0 && acc + hist[threshold] < entries) {
            acc += hist[threshold--];
        }
        long atThreshold = entries - acc;
        long removedPairs = 0;
        int e = emptySlot();
        int cap = mask + 1;
        for (int k = 1; k <= cap; ) {
            int i = (e + k) & mask;
            long m = slots[2 * i + 1];
            if (m != 0) {
                int d = depthOfMeta(m);
                if (d > threshold || (d == threshold && atThreshold > 0)) {
                    if (d == threshold) {
                        atThreshold--;
                    }
                    removedPairs += evictEntry(i, m);
                    continue;
                }
            }
            k++;
        }
        return removedPairs;
    }

    /**
     * Evicts the pairs of the owners flagged in {@code owners}, deepest blocks first, until at least
     * {@code pairsToFree} of their pairs are gone (a per-instance quota).
     *
     * @param owners      flags by owner index
     * @param pairsToFree pairs to evict
     * @param hist        scratch of {@code UNKNOWN_DEPTH + 1} ints
     * @return pairs removed
     */
    long evictOwnerPairs(boolean[] owners, long pairsToFree, int[] hist) {
        if (pairsToFree <= 0) {
            return 0;
        }
        Arrays.fill(hist, 0);
        int e = emptySlot();
        int cap = mask + 1;
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m != 0) {
                hist[depthOfMeta(m)] += countOwners(m, owners);
            }
        }
        int threshold = UNKNOWN_DEPTH;
        long acc = 0;
        while (threshold > 0 && acc + hist[threshold] < pairsToFree) {
            acc += hist[threshold--];
        }
        long atThreshold = pairsToFree - acc;
        long removed = 0;
        for (int k = 1; k <= cap; ) {
            int i = (e + k) & mask;
            long m = slots[2 * i + 1];
            if (m != 0) {
                int d = depthOfMeta(m);
                if (d > threshold || (d == threshold && atThreshold > 0)) {
                    boolean deleted = false;
                    for (int ow = 0; ow < owners.length && !deleted; ow++) {
                        if (!owners[ow]) {
                            continue;
                        }
                        long cur = slots[2 * i + 1];
                        int r = removeFromEntry(i, cur, ow, ALL_TIERS);
                        if ((r & PAIR_REMOVED) != 0) {
                            ownerEvicted[ow]++;
                            removed++;
                            if (d == threshold) {
                                atThreshold--;
                            }
                        }
                        deleted = (r & ENTRY_DELETED) != 0;
                    }
                    if (deleted) {
                        continue;
                    }
                }
            }
            k++;
        }
        return removed;
    }

    private int countOwners(long m, boolean[] owners) {
        if ((m & ARENA_FORM) == 0) {
            int ow = (int) m >>> 3;
            return ow < owners.length && owners[ow] ? 1 : 0;
        }
        int o = (int) (m & PAYLOAD);
        long h = arena[o];
        int n = 0;
        for (int ow = 0; ow < owners.length; ow++) {
            if (owners[ow]) {
                if (hBitmap(h)) {
                    n += bitmapTiers(o, hWords(h), ow) != 0 ? 1 : 0;
                } else {
                    n += listIndex(o, hCount(h), ow) >= 0 ? 1 : 0;
                }
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ invariants (tests)

    /** Checks every structural invariant; returns the violations found (empty when consistent). */
    List<String> invariantViolations() {
        List<String> bad = new ArrayList<>();
        int count = 0;
        long pairCount = 0;
        int[] perOwner = new int[ownerPairs.length];
        long liveLongs = 0;
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                if (slots[2 * i] != 0) {
                    bad.add("empty slot " + i + " has a key");
                }
                continue;
            }
            count++;
            long key = slots[2 * i];
            if ((m & OCCUPIED) == 0) {
                bad.add("slot " + i + " lacks the occupied bit");
            }
            // reachable from its home: no empty slot between home and i
            for (int j = home(key) & mask; j != i; j = (j + 1) & mask) {
                if (slots[2 * j + 1] == 0) {
                    bad.add("slot " + i + " unreachable from home " + (home(key) & mask));
                    break;
                }
            }
            if ((m & ARENA_FORM) == 0) {
                int p = (int) m;
                if ((p & 7) == 0) {
                    bad.add("inline pair without tiers at slot " + i);
                }
                pairCount++;
                perOwner[p >>> 3]++;
                continue;
            }
            int o = (int) (m & PAYLOAD);
            if (o < 0 || o >= top) {
                bad.add("arena offset out of range at slot " + i);
                continue;
            }
            long h = arena[o];
            liveLongs += 1L << hClass(h);
            if (hBitmap(h)) {
                int w = hWords(h);
                int n = 0;
                for (int wi = 0; wi < w; wi++) {
                    long any = arena[o + 1 + wi] | arena[o + 1 + w + wi] | arena[o + 1 + 2 * w + wi];
                    n += Long.bitCount(any);
                    while (any != 0) {
                        perOwner[(wi << 6) + Long.numberOfTrailingZeros(any)]++;
                        any &= any - 1;
                    }
                }
                if (n != hCount(h) || n < 2) {
                    bad.add("bitmap count " + hCount(h) + " but " + n + " owners at slot " + i);
                }
                pairCount += n;
            } else {
                int n = hCount(h);
                if (n < 2 || n > listCap(hClass(h))) {
                    bad.add("list count " + n + " invalid at slot " + i);
                }
                for (int k = 0; k < n; k++) {
                    int p = listPair(arena, o, k);
                    if ((p & 7) == 0) {
                        bad.add("list pair without tiers at slot " + i);
                    }
                    if (listIndex(o, k, p >>> 3) >= 0) {
                        bad.add("duplicate owner in list at slot " + i);
                    }
                    perOwner[p >>> 3]++;
                }
                pairCount += n;
            }
        }
        if (count != size) {
            bad.add("size " + size + " but " + count + " entries");
        }
        if (pairCount != pairs) {
            bad.add("pairs " + pairs + " but " + pairCount + " counted");
        }
        if (!Arrays.equals(perOwner, ownerPairs)) {
            bad.add("per-owner pair counts disagree");
        }
        if (liveLongs + freeLongs != top) {
            bad.add("arena accounting: live " + liveLongs + " + free " + freeLongs + " != top " + top);
        }
        if (size > maxLoad(mask + 1)) {
            bad.add("load factor exceeded");
        }
        return bad;
    }
}
