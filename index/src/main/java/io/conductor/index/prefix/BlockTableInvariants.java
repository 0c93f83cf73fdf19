package io.conductor.index.prefix;

import static io.conductor.index.prefix.OwnerArena.hBitmap;
import static io.conductor.index.prefix.OwnerArena.hClass;
import static io.conductor.index.prefix.OwnerArena.hCount;
import static io.conductor.index.prefix.OwnerArena.hWords;
import static io.conductor.index.prefix.OwnerArena.listCap;
import static io.conductor.index.prefix.OwnerArena.listPair;
import static io.conductor.index.prefix.SlotDescriptor.ARENA_FORM;
import static io.conductor.index.prefix.SlotDescriptor.OCCUPIED;
import static io.conductor.index.prefix.SlotDescriptor.PAYLOAD;
import static io.conductor.index.prefix.SlotDescriptor.loraOf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The structural invariants of a {@link BlockTable}, checked by tests after every change: every key reachable from
 * its home slot, sizes, per-owner and per-LoRA counts, list and bitmap forms, arena accounting, load factor.
 * Stateless; the caller must be the table's writer (or hold {@link PrefixIndex}'s writer lock). Allocates: tests
 * only.
 */
final class BlockTableInvariants {
    private BlockTableInvariants() {
    }

    /** Checks every structural invariant; returns the violations found (empty when consistent). */
    static List<String> violations(BlockTable t) {
        final long[] slots = t.slots;
        final int mask = t.mask;
        final long[] longs = t.arena.longs;
        final OwnerArena arena = t.arena;
        List<String> bad = new ArrayList<>();
        int count = 0;
        long pairCount = 0;
        int[] perOwner = new int[t.ownerPairs.length];
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
            for (int j = t.home(key) & mask; j != i; j = (j + 1) & mask) {
                if (slots[2 * j + 1] == 0) {
                    bad.add("slot " + i + " unreachable from home " + (t.home(key) & mask));
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
            if (o < 0 || o >= arena.top) {
                bad.add("arena offset out of range at slot " + i);
                continue;
            }
            long h = longs[o];
            liveLongs += 1L << hClass(h);
            if (hBitmap(h)) {
                int w = hWords(h);
                int n = 0;
                for (int wi = 0; wi < w; wi++) {
                    long any = longs[o + 1 + wi] | longs[o + 1 + w + wi] | longs[o + 1 + 2 * w + wi];
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
                    int p = listPair(longs, o, k);
                    if ((p & 7) == 0) {
                        bad.add("list pair without tiers at slot " + i);
                    }
                    if (arena.listIndex(o, k, p >>> 3) >= 0) {
                        bad.add("duplicate owner in list at slot " + i);
                    }
                    perOwner[p >>> 3]++;
                }
                pairCount += n;
            }
        }
        if (count != t.size) {
            bad.add("size " + t.size + " but " + count + " entries");
        }
        int[] perLora = new int[t.loraEntries.length];
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m != 0) {
                if (loraOf(m) >= perLora.length) {
                    bad.add("lora id beyond the per-LoRA counters at slot " + i);
                } else {
                    perLora[loraOf(m)]++;
                }
            }
        }
        if (!Arrays.equals(perLora, t.loraEntries)) {
            bad.add("per-LoRA entry counts disagree");
        }
        if (pairCount != t.pairs) {
            bad.add("pairs " + t.pairs + " but " + pairCount + " counted");
        }
        if (!Arrays.equals(perOwner, t.ownerPairs)) {
            bad.add("per-owner pair counts disagree");
        }
        if (liveLongs + arena.freeLongs != arena.top) {
            bad.add("arena accounting: live " + liveLongs + " + free " + arena.freeLongs + " != top " + arena.top);
        }
        if (t.size > SeqlockSlots.maxLoad(mask + 1)) {
            bad.add("load factor exceeded");
        }
        return bad;
    }
}
