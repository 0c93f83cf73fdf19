package io.conductor.events;

/**
 * Where a block lives, normalized from the wire's medium string (case-insensitive). The raw text stays available
 * as {@link KvEvent#mediumName()}.
 *
 * <p>Immutable; thread-safe.
 */
public enum Medium {
    /** No medium on the wire (nil or absent); vLLM's block pool means GPU then, but the sink decides. */
    ABSENT,
    /** {@code GPU} (vLLM block pool, SGLang). */
    GPU,
    /** {@code CPU} (vLLM offloading connector; Mooncake {@code cpu}). */
    CPU,
    /** SGLang {@code CPU_PINNED}. */
    CPU_PINNED,
    /** Mooncake store {@code disk}, SGLang {@code DISK}. */
    DISK,
    /** vLLM offloading connector file-system tier {@code FS}. */
    FS,
    /** vLLM offloading connector object-store tier {@code OBJ}. */
    OBJ,
    /** SGLang {@code EXTERNAL}. */
    EXTERNAL,
    /** vLLM offloading connector storage tier {@code STORAGE} (vLLM #48123, 2026-07-27, replaced FS and OBJ). */
    STORAGE,
    /**
     * Any other text: a medium this daemon does not know. Its raw text is {@link KvEvent#mediumName()}; the sink
     * must still index it (on the outermost tier), count it by that name and warn once per stream.
     */
    OTHER
}
