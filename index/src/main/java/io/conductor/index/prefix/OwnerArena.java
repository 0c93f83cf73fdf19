package io.conductor.index.prefix;

import java.util.Arrays;

/**
 * The owner arena of one {@link BlockTable}: a {@code long[]} of power-of-two blocks, each holding the owners of a
 * block that has more than one, as a list of pairs or as three owner bitmaps; free lists per size class; and the
 * static decoder readers use to copy a block's owners.
 *
 * <p><b>Threading.</b> One writer, many readers. Every instance method runs on the writer (under
 * {@link PrefixIndex}'s writer lock) and reads plain fields. Readers never touch this object: they reach the array
 * through the table's published {@link SeqlockSlots.View} and decode it with {@link #decode}, which bounds-checks
 * everything it derives from racy data; the table's seqlock tells them whether the copy was consistent.
 */
final class OwnerArena {
    /*
     * Blocks: a block has length 2^cls (cls = size class, 1..MAX_CLASS). Its first long is the header:
     *
     *    63        48 47        32 31 30 29 28      24 23                      0
     *   +------------+------------+-----+--+----------+-------------------------+
     *   |  (0)       | words (16) | (0) |B | cls (5)  | count (24)              |
     *   +------------+------------+-----+--+----------+-------------------------+
     *
     *   count   owners held; words: bitmap words per tier (bitmap form only); B: bitmap form.
     *   List form: (2^cls - 1) * 2 pairs follow, two per long (pair k in the low half of long 1 + k/2 when k is
     *   even). Bitmap form: three bitmaps of `words` longs each follow (GPU, CPU, disk), chosen when that is
     *   smaller than the list (blocks held by many owners): a block held by 128 ranks costs 56 bytes.
     *
     * Reuse: a released block goes on the free list of its class and is handed out again before the top grows, so
     * a reader holding a stale offset may see the block reused for another entry; the seqlock stripe of the slot
     * that pointed at it, re-read after the copy, is what catches that.
     *
     * Slack: the array never grows inside a mutation (alloc throws rather than reallocate). Before each mutation
     * the table checks that the largest block one mutation can allocate still fits above the top
     * (BlockTable.needsArenaGrowth); growth and packing are structural changes that publish a new view.
     */

    static final int MIN_ARENA = 64;
    private static final int MAX_CLASS = 30;
    private static final int COUNT_MASK = 0xFF_FFFF;
    private static final int CLASS_SHIFT = 24;
    private static final long BITMAP_FORM = 1L << 29;
    private static final int WORDS_SHIFT = 32;

    /** The blocks; replaced (never resized in place) by {@link #replace} when the table publishes a new view. */
    long[] longs;
    /** First long never handed out. */
    int top;
    private final int[][] free = new int[MAX_CLASS + 1][];
    private final int[] freeCount = new int[MAX_CLASS + 1];
    /** Longs on the free lists. */
    long freeLongs;
    /** Longest block handed out so far. */
    int maxBlockLongs = 2;
    /** Bitmap words per tier that the owners reserved so far need ({@link #reserveOwners}). */
    private int ownerWords = 1;

    OwnerArena(int longs) {
        this.longs = new long[Math.max(MIN_ARENA, longs)];
    }

    // ------------------------------------------------------------------ header and size classes

    static long header(int count, int cls, boolean bitmap, int words) {
        return count | ((long) cls << CLASS_SHIFT) | (bitmap ? BITMAP_FORM : 0L) | ((long) words << WORDS_SHIFT);
    }

    static int hCount(long h) {
        return (int) h & COUNT_MASK;
    }

    static int hClass(long h) {
        return (int) (h >>> CLASS_SHIFT) & 31;
    }

    static boolean hBitmap(long h) {
        return (h & BITMAP_FORM) != 0;
    }

    static int hWords(long h) {
        return (int) (h >>> WORDS_SHIFT) & 0xFFFF;
    }

    /** Pairs a list block of class {@code cls} holds: two per long after the header. */
    static int listCap(int cls) {
        return ((1 << cls) - 1) * 2;
    }

    static int classFor(int longs) {
        return 32 - Integer.numberOfLeadingZeros(Math.max(2, longs) - 1);
    }

    static int bitmapClass(int words) {
        return classFor(1 + 3 * words);
    }

    // ------------------------------------------------------------------ block contents (writer)

    static int listPair(long[] a, int o, int k) {
        return (int) (a[o + 1 + (k >>> 1)] >>> ((k & 1) << 5));
    }

    void setListPair(int o, int k, int p) {
        final long[] a = longs;
        int idx = o + 1 + (k >>> 1);
        int shift = (k & 1) << 5;
        a[idx] = (a[idx] & ~(SlotDescriptor.PAYLOAD << shift)) | ((p & SlotDescriptor.PAYLOAD) << shift);
    }

    int listIndex(int o, int count, int owner) {
        final long[] a = longs;
        for (int k = 0; k < count; k++) {
            if (listPair(a, o, k) >>> 3 == owner) {
                return k;
            }
        }
        return -1;
    }

    int bitmapTiers(int o, int w, int owner) {
        if (owner >= w << 6) {
            return 0;
        }
        final long[] a = longs;
        int wi = owner >>> 6;
        long bit = 1L << owner;
        return ((a[o + 1 + wi] & bit) != 0 ? BlockTable.GPU : 0) | ((a[o + 1 + w + wi] & bit) != 0 ? BlockTable.CPU : 0)
                | ((a[o + 1 + 2 * w + wi] & bit) != 0 ? BlockTable.DISK : 0);
    }

    void setBitmapTiers(int o, int w, int owner, int tiers) {
        final long[] a = longs;
        int wi = owner >>> 6;
        long bit = 1L << owner;
        if ((tiers & BlockTable.GPU) != 0) {
            a[o + 1 + wi] |= bit;
        }
        if ((tiers & BlockTable.CPU) != 0) {
            a[o + 1 + w + wi] |= bit;
        }
        if ((tiers & BlockTable.DISK) != 0) {
            a[o + 1 + 2 * w + wi] |= bit;
        }
    }

    void clearBitmapTiers(int o, int w, int owner, int tiers) {
        final long[] a = longs;
        int wi = owner >>> 6;
        long bit = ~(1L << owner);
        if ((tiers & BlockTable.GPU) != 0) {
            a[o + 1 + wi] &= bit;
        }
        if ((tiers & BlockTable.CPU) != 0) {
            a[o + 1 + w + wi] &= bit;
        }
        if ((tiers & BlockTable.DISK) != 0) {
            a[o + 1 + 2 * w + wi] &= bit;
        }
    }

    // ------------------------------------------------------------------ allocation (writer)

    int alloc(int cls) {
        int n = freeCount[cls];
        int len = 1 << cls;
        if (n > 0) {
            freeCount[cls] = n - 1;
            freeLongs -= len;
            return free[cls][n - 1];
        }
        if (top + len > longs.length) {
            throw new IllegalStateException("arena slack invariant broken: top=" + top + " len=" + len
                    + " arena=" + longs.length);
        }
        int o = top;
        top += len;
        maxBlockLongs = Math.max(maxBlockLongs, len);
        return o;
    }

    void release(int o) {
        int cls = hClass(longs[o]);
        int[] f = free[cls];
        int n = freeCount[cls];
        if (f == null || n == f.length) {
            f = free[cls] = f == null ? new int[8] : Arrays.copyOf(f, n * 2);
        }
        f[n] = o;
        freeCount[cls] = n + 1;
        freeLongs += 1 << cls;
    }

    boolean canAlloc(int cls) {
        return freeCount[cls] > 0 || top + (1 << cls) <= longs.length;
    }

    /** Bytes of the free lists (the array itself is counted with the table's arrays). */
    long freeListBytes() {
        long b = 0;
        for (int[] f : free) {
            if (f != null) {
                b += 4L * f.length + 16;
            }
        }
        return b;
    }

    // ------------------------------------------------------------------ growth and packing (writer)

    /** Declares that owner indices below {@code owners} may appear, so {@link #requiredSlack} covers their bitmap. */
    void reserveOwners(int owners) {
        ownerWords = (owners + 63) >>> 6;
    }

    /** Longs that must stay free at the top before a mutation: the largest block one mutation allocates. */
    int requiredSlack() {
        return Math.max(2 * maxBlockLongs, 1 << bitmapClass(ownerWords));
    }

    /** Length after a growth that leaves {@code slack} longs free twice over. */
    int grownLength(int slack) {
        long want = Math.max(longs.length + (longs.length >>> 1), (long) top + 2L * slack);
        return (int) Math.min(Integer.MAX_VALUE - 8, want);
    }

    /** Length of a packed copy (live blocks only) with {@code slack} longs free twice over. */
    long packedLength(int slack) {
        return Math.max(MIN_ARENA, top - freeLongs + 2L * slack);
    }

    /** Installs a new array; the caller publishes it to readers. */
    void replace(long[] newLongs) {
        longs = newLongs;
    }

    /** Installs a packed array whose live blocks end at {@code newTop}; free lists are dropped. */
    void replacePacked(long[] newLongs, int newTop) {
        longs = newLongs;
        top = newTop;
        Arrays.fill(freeCount, 0);
        Arrays.fill(free, null);
        freeLongs = 0;
    }

    // ------------------------------------------------------------------ reader

    /**
     * Copies an entry's owners into {@code buf}'s bitmaps (cleared first); owners at or above {@code 64 *
     * buf.words} are ignored. Runs on reader threads against racy data.
     *
     * @return false if what was read cannot be a consistent entry (the caller retries)
     */
    static boolean decode(long meta, long[] a, ReadBuffer buf) {
        buf.clearBitmaps();
        int limit = buf.words << 6;
        if ((meta & SlotDescriptor.ARENA_FORM) == 0) {
            setBits(buf, (int) meta, limit);
            return true;
        }
        int o = (int) (meta & SlotDescriptor.PAYLOAD);
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
}
