package io.conductor.events;

/**
 * vLLM's {@code kv_cache_spec_kind}: the attention type of the KV-cache group an event belongs to.
 *
 * <p>Immutable; thread-safe.
 */
public enum SpecKind {
    /** Not on the wire (older releases, or the map form's omitted default): full attention. */
    ABSENT,
    FULL_ATTENTION,
    MLA_ATTENTION,
    SLIDING_WINDOW,
    SLIDING_WINDOW_MLA,
    MAMBA,
    CHUNKED_LOCAL_ATTENTION,
    SINK_FULL_ATTENTION,
    ENCODER_ONLY_ATTENTION,
    CROSS_ATTENTION,
    /** {@code unknown}, or any text this version does not know. */
    UNKNOWN;

    /** True for the kinds whose hashes chain over the whole prefix, so prefix matching applies. */
    public boolean isFullPrefix() {
        return this == ABSENT || this == FULL_ATTENTION || this == MLA_ATTENTION || this == SINK_FULL_ATTENTION;
    }
}
