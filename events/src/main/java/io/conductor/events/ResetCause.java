package io.conductor.events;

/**
 * Why {@link KvEventSink#onStreamReset} asks the sink to forget everything a stream contributed.
 *
 * <p>Immutable; thread-safe.
 */
public enum ResetCause {
    /** The sequence number went back: the engine (publisher process) restarted and holds nothing. */
    ENGINE_RESTART,
    /** Batches were lost and no replay covered them: what we hold may be stale. */
    UNRECOVERABLE_GAP,
    /** A rebuild from a full replay starts (after a reconnect, a truncated replay or a degraded period). */
    REBUILD
}
