package io.conductor.index.prefix;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The slot table of a {@link BlockTable} and its striped seqlock: open addressing with linear probing over
 * {@code long[] slots} (hash and meta word side by side, see {@link SlotDescriptor}), backward-shift removal, the
 * lock-free reader protocol ({@link #read}) and the publication of new arrays when the table grows or is compacted.
 * It is the base class of {@link BlockTable} (its only subclass) so that the probe loops read the slot fields of
 * one object, with no extra indirection per block.
 *
 * <p><b>Threading.</b> One writer, many readers. Every method except {@link #read} runs on the writer (the caller
 * holds {@link PrefixIndex}'s writer lock) and reads plain fields. {@link #read} may run on any number of threads
 * concurrently with the writer and never blocks; it only reads the volatile {@link #view}.
 */
abstract sealed class SeqlockSlots permits BlockTable {
    /*
     * Probe sequence: the home slot is a seeded 64-bit finalizer of the hash only (not the LoRA id), so every LoRA
     * variant of a hash lies on one probe chain and a BlockRemoved, which names no LoRA, finds them all. The seed is
     * random per process: block hashes come from the network and a peer choosing them could otherwise flood one
     * chain. Capacity is a power of two, the load factor at most 0.75.
     *
     * Removal: backward shift (no tombstones). The entries after the hole move back when their home allows it, so
     * every entry stays reachable from its home without an empty slot in between.
     *
     * Concurrency (seqlock per stripe of 2^STRIPE_SHIFT slots):
     *  1. The writer makes a stripe odd (opaque store, then a store-store fence), changes slots or arena data
     *     reachable from slots in that stripe, then makes it even again (release store). A backward shift marks
     *     every stripe of the shifted run.
     *  2. A reader reads each stripe's sequence (acquire) before reading any slot of it, copies the entry's owners
     *     into its ReadBuffer, issues a load-load fence and re-reads every stripe it touched; any change, or an odd
     *     value, means the copy may be torn and that block is read again. A reader never waits for more than one
     *     write.
     *  3. Structural changes (growing the slot table or the arena, compaction) build new arrays and publish a new
     *     View through a volatile field after marking every stripe of the old view odd forever, so a reader still on
     *     the old view retries on the new one.
     *  4. Readers bounds-check everything they derive from racy data, so a torn read can cost a retry, never an
     *     exception or a wrong answer.
     * Proof: SeqlockInterleavingTest (writes injected through readHook) and ConcurrentStressTest.
     */

    static final int STRIPE_SHIFT = 9;
    static final int MIN_CAPACITY = 16;
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

    /**
     * Test seam: run by {@link #read} between finding a block's meta word and copying its owners, so a test can
     * inject writes at the worst moment. Always null in production (one static load per block read).
     */
    static @Nullable Runnable readHook;

    private final long seed;
    private volatile View view;

    // ---- writer-owned state (read and written only under the index writer lock) ----
    long[] slots;
    int mask;
    long[] stripes;
    /** Entries in the slots. */
    int size;
    /** The owner blocks of entries held by more than one owner. */
    final OwnerArena arena;

    SeqlockSlots(long seed, int capacity, int arenaLongs) {
        this.seed = seed;
        int cap = Math.max(MIN_CAPACITY, Integer.highestOneBit(Math.max(1, capacity - 1)) << 1);
        this.slots = new long[cap * 2];
        this.mask = cap - 1;
        this.arena = new OwnerArena(arenaLongs);
        this.stripes = new long[stripeCount(cap)];
        this.view = new View(slots, arena.longs, stripes);
    }

    static int stripeCount(int capacity) {
        return Math.max(1, capacity >>> STRIPE_SHIFT);
    }

    static int maxLoad(int capacity) {
        return capacity - (capacity >>> 2);
    }

    /** Smallest power-of-two capacity that keeps {@code entries} under the load limit. */
    static int capacityFor(int entries) {
        int cap = MIN_CAPACITY;
        while (maxLoad(cap) < entries + 1) {
            cap <<= 1;
        }
        return cap;
    }

    final int home(long key) {
        long h = key ^ seed;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return (int) h;
    }

    // ------------------------------------------------------------------ seqlock (writer side)

    final void open(int stripe) {
        LONGS.setOpaque(stripes, stripe, stripes[stripe] + 1);
        VarHandle.storeStoreFence();
    }

    final void close(int stripe) {
        LONGS.setRelease(stripes, stripe, stripes[stripe] + 1);
    }

    final void writeMeta(int slot, long meta) {
        int st = slot >>> STRIPE_SHIFT;
        open(st);
        slots[2 * slot + 1] = meta;
        close(st);
    }

    /** Publishes new arrays; every stripe of the old view turns odd for good so readers on it retry. */
    final void publish(long[] newSlots, long[] newArena) {
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
        arena.replace(newArena);
        stripes = new long[stripeCount(mask + 1)];
        view = new View(slots, newArena, stripes);
    }

    // ------------------------------------------------------------------ reader

    /**
     * Reads the owners of block {@code (key, lora)} into {@code buf}'s bitmaps (cleared first; owners at or above
     * {@code 64 * buf.words} are ignored). Lock-free; safe concurrently with the writer.
     *
     * @return whether the block exists
     */
    @SuppressWarnings("ThreadPriorityCheck") // yield only after 64 spins, to let a preempted writer finish
    final boolean read(long key, int lora, ReadBuffer buf) {
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
                    if (sl[2 * i] == key && SlotDescriptor.loraOf(mm) == lora) {
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
                Runnable hook = readHook;
                if (hook != null) {
                    hook.run();
                }
                if (ok && meta != 0) {
                    ok = OwnerArena.decode(meta, v.arena, buf);
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

    // ------------------------------------------------------------------ writer: probes and removal

    /** Slot of block {@code (key, lora)}, or -1 if absent (writer side). */
    final int find(long key, int lora) {
        int i = home(key) & mask;
        while (true) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                return -1;
            }
            if (slots[2 * i] == key && SlotDescriptor.loraOf(m) == lora) {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /** A slot that is empty now; scans start after it so no probe run wraps across the start. */
    final int emptySlot() {
        int i = 0;
        while (slots[2 * i + 1] != 0) {
            i++;
        }
        return i;
    }

    /** Backward-shift deletion of slot {@code i}; all stripes of the shifted run are odd meanwhile. */
    final void deleteSlot(int i) {
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

    // ------------------------------------------------------------------ writer: capacity and growth

    int size() {
        return size;
    }

    int capacity() {
        return mask + 1;
    }

    boolean needsSlotGrowth() {
        return size + 1 > maxLoad(mask + 1);
    }

    long slotGrowthBytes() {
        return 16L * (mask + 1) + 8L * stripeCount(mask + 1);
    }

    void growSlots() {
        rehash((mask + 1) * 2, false);
    }

    /** Capacity that holds {@code entries} under the load limit, when larger than now; else the current one. */
    int capacityToHold(int entries) {
        return Math.max(mask + 1, capacityFor(entries));
    }

    /** Bytes the slots and stripes would grow by at {@code capacity}. */
    long growthBytesTo(int capacity) {
        return 16L * (capacity - (mask + 1)) + 8L * (stripeCount(capacity) - stripeCount(mask + 1));
    }

    /** Grows the slots to {@code capacity} in one rehash (a bulk restore knows its size up front). */
    void growSlotsTo(int capacity) {
        if (capacity > mask + 1) {
            rehash(capacity, false);
        }
    }

    boolean needsArenaGrowth() {
        return arena.longs.length - arena.top < arena.requiredSlack();
    }

    long arenaGrowthBytes() {
        return 8L * (arena.grownLength(arena.requiredSlack()) - arena.longs.length);
    }

    void growArena() {
        publish(slots, Arrays.copyOf(arena.longs, arena.grownLength(arena.requiredSlack())));
    }

    /** Longs in the arena that sit on free lists (reclaimable by {@link #compact}). */
    long freeArenaLongs() {
        return arena.freeLongs;
    }

    /** Rebuilds slots at {@code capacity} and packs the arena (drops free lists). */
    void compact(int capacity) {
        rehash(Math.max(capacity, capacityFor(size)), true);
    }

    /**
     * Rebuilds the slots at {@code capacity} and publishes them. With {@code packArena}, live arena blocks are also
     * copied, in slot order, into a new array leaving the arena's slack free twice over, and the free lists go.
     */
    private void rehash(int capacity, boolean packArena) {
        long[] ns = new long[capacity * 2];
        int nm = capacity - 1;
        final long[] oldArena = arena.longs;
        long[] na = oldArena;
        int ntop = arena.top;
        if (packArena) {
            na = new long[(int) arena.packedLength(arena.requiredSlack())];
            ntop = 0;
        }
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m == 0) {
                continue;
            }
            long key = slots[2 * i];
            if (packArena && SlotDescriptor.isArena(m)) {
                int o = SlotDescriptor.arenaOffset(m);
                int len = 1 << OwnerArena.hClass(oldArena[o]);
                System.arraycopy(oldArena, o, na, ntop, len);
                m = (m & ~SlotDescriptor.PAYLOAD) | ntop;
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
            arena.replacePacked(na, ntop);
        }
        publish(ns, na);
    }
}
