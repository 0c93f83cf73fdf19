package io.conductor.index.prefix;

import static io.conductor.index.prefix.OwnerArena.hBitmap;
import static io.conductor.index.prefix.OwnerArena.hCount;
import static io.conductor.index.prefix.OwnerArena.hWords;
import static io.conductor.index.prefix.SlotDescriptor.ARENA_FORM;
import static io.conductor.index.prefix.SlotDescriptor.PAYLOAD;
import static io.conductor.index.prefix.SlotDescriptor.depthOfMeta;

import java.util.Arrays;

/**
 * The eviction scans of a {@link BlockTable}: whole blocks deepest first (the budget), or the pairs of a set of
 * owners deepest first (a per-instance quota). Stateless; the caller holds {@link PrefixIndex}'s writer lock, and
 * the removals go through the table, so readers stay consistent by the table's seqlock.
 */
final class DeepestFirstEviction {
    /*
     * Eviction order: every stored block carries its depth in its chain (1 for a run starting at block 0, parent's
     * depth + 1 when the parent is known, consecutive within a run). Evicting the deepest first means a block goes
     * no later than its ancestors, so the prefixes left stay walkable. Blocks of unknown depth (orphan runs no query
     * can reach, pool blocks whose events carry no position) sort as deepest and go first.
     *
     * Selection: one pass builds a histogram of depths (the caller's scratch, no allocation), which fixes the depth
     * threshold and how many blocks to take at exactly that depth; a second pass, starting after an empty slot so
     * no probe run wraps across the start, removes them. A removal shifts entries back into the current slot, so
     * the scan re-examines the slot instead of advancing.
     */

    private DeepestFirstEviction() {
    }

    /**
     * Evicts whole blocks, deepest first, until {@code entries} blocks are gone (or the table is empty). Within
     * one depth the scan order decides. Because a stored chain's depth grows by one per block, a block always goes
     * no later than its ancestors.
     *
     * @param t       the table
     * @param entries blocks to evict
     * @param hist    scratch of {@code UNKNOWN_DEPTH + 1} ints
     * @return pairs removed
     */
    static long evictEntries(BlockTable t, int entries, int[] hist) {
        if (entries <= 0 || t.size == 0) {
            return 0;
        }
        final long[] slots = t.slots;
        final int mask = t.mask;
        Arrays.fill(hist, 0);
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m != 0) {
                hist[depthOfMeta(m)]++;
            }
        }
        int threshold = SlotDescriptor.UNKNOWN_DEPTH;
        long acc = 0;
        while (threshold > 0 && acc + hist[threshold] < entries) {
            acc += hist[threshold--];
        }
        long atThreshold = entries - acc;
        long removedPairs = 0;
        int e = t.emptySlot();
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
                    removedPairs += t.evictEntry(i, m);
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
     * @param t           the table
     * @param owners      flags by owner index
     * @param pairsToFree pairs to evict
     * @param hist        scratch of {@code UNKNOWN_DEPTH + 1} ints
     * @return pairs removed
     */
    static long evictOwnerPairs(BlockTable t, boolean[] owners, long pairsToFree, int[] hist) {
        if (pairsToFree <= 0) {
            return 0;
        }
        final long[] slots = t.slots;
        final int mask = t.mask;
        Arrays.fill(hist, 0);
        int e = t.emptySlot();
        int cap = mask + 1;
        for (int i = 0; i <= mask; i++) {
            long m = slots[2 * i + 1];
            if (m != 0) {
                hist[depthOfMeta(m)] += countOwners(t.arena, m, owners);
            }
        }
        int threshold = SlotDescriptor.UNKNOWN_DEPTH;
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
                        int r = t.removeFromEntry(i, cur, ow, BlockTable.ALL_TIERS);
                        if ((r & BlockTable.PAIR_REMOVED) != 0) {
                            t.ownerEvicted[ow]++;
                            removed++;
                            if (d == threshold) {
                                atThreshold--;
                            }
                        }
                        deleted = (r & BlockTable.ENTRY_DELETED) != 0;
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

    private static int countOwners(OwnerArena arena, long m, boolean[] owners) {
        if ((m & ARENA_FORM) == 0) {
            int ow = (int) m >>> 3;
            return ow < owners.length && owners[ow] ? 1 : 0;
        }
        int o = (int) (m & PAYLOAD);
        long h = arena.longs[o];
        int n = 0;
        for (int ow = 0; ow < owners.length; ow++) {
            if (owners[ow]) {
                if (hBitmap(h)) {
                    n += arena.bitmapTiers(o, hWords(h), ow) != 0 ? 1 : 0;
                } else {
                    n += arena.listIndex(o, hCount(h), ow) >= 0 ? 1 : 0;
                }
            }
        }
        return n;
    }

}
