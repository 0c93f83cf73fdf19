package io.conductor.index.prefix;

/**
 * Layout of a {@link BlockTable} slot: the offsets and masks of the meta word that sits next to each block hash, and
 * the static helpers that read and build it. Stateless; safe on any thread.
 */
final class SlotDescriptor {
    /*
     * Layout: a slot is two longs in the slot array, slots[2i] = block hash, slots[2i + 1] = meta (0 = empty slot).
     *
     *    63  62            48 47        36  35  34  32 31                                 0
     *   +---+----------------+------------+---+-------+------------------------------------+
     *   | 1 |  depth (15)    | LoRA (12)  | A | (0)   | payload (32)                       |
     *   +---+----------------+------------+---+-------+------------------------------------+
     *
     *   bit 63    occupied, so a used meta word is never 0 even for depth 0, LoRA 0, owner 0 on no tier.
     *   depth     position in the stored chain (1 = first block); UNKNOWN_DEPTH when no parent was known. Eviction
     *             removes the deepest first (DeepestFirstEviction).
     *   LoRA      the context-local LoRA id; all LoRA variants of one hash share one probe chain.
     *   A         arena form: payload is an offset into the OwnerArena. Otherwise the payload is one inline pair
     *             (owner << 3 | tiers), so the common single-owner block costs no more than its slot.
     */

    /** Depth of a block whose chain position is not known; the deepest possible, so evicted first. */
    static final int UNKNOWN_DEPTH = 0x7FFF;
    static final int MAX_LORA = 0xFFF;
    static final int MAX_OWNER = (1 << 28) - 1;

    static final long OCCUPIED = 1L << 63;
    static final int DEPTH_SHIFT = 48;
    static final int LORA_SHIFT = 36;
    static final long ARENA_FORM = 1L << 35;
    static final long PAYLOAD = 0xFFFF_FFFFL;
    static final long DEPTH_BITS = (long) UNKNOWN_DEPTH << DEPTH_SHIFT;

    private SlotDescriptor() {
    }

    /** A pair: owner index in the high bits, tier bits in the low three. */
    static int pair(int owner, int tiers) {
        return owner << 3 | tiers;
    }

    static int loraOf(long meta) {
        return (int) (meta >>> LORA_SHIFT) & MAX_LORA;
    }

    static int depthOfMeta(long meta) {
        return (int) (meta >>> DEPTH_SHIFT) & UNKNOWN_DEPTH;
    }

    static long withDepth(long meta, int depth) {
        return (meta & ~DEPTH_BITS) | ((long) depth << DEPTH_SHIFT);
    }

    /** A new entry's meta word holding one inline pair. */
    static long inlineMeta(int depth, int lora, int owner, int tiers) {
        return OCCUPIED | ((long) depth << DEPTH_SHIFT) | ((long) lora << LORA_SHIFT) | (pair(owner, tiers) & PAYLOAD);
    }

    /** {@code meta} with its payload replaced by one inline pair. */
    static long withInlinePair(long meta, int pair) {
        return (meta & ~(PAYLOAD | ARENA_FORM)) | (pair & PAYLOAD);
    }

    /** {@code meta} with its payload replaced by arena offset {@code offset}. */
    static long withArenaOffset(long meta, int offset) {
        return (meta & ~PAYLOAD) | ARENA_FORM | offset;
    }

    static boolean isArena(long meta) {
        return (meta & ARENA_FORM) != 0;
    }

    static int arenaOffset(long meta) {
        return (int) (meta & PAYLOAD);
    }
}
