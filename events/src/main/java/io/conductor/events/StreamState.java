package io.conductor.events;

/**
 * The state of one subscription's stream, as shown by metrics and {@code /services}.
 *
 * <pre>
 *   CONNECTING --first batch / replay done--> LIVE --gap, reconnect--> SYNCING --healed--> LIVE
 *                                                \                        \--cannot heal--> DEGRADED
 *                                                 \--gap, no replay-------------------------> DEGRADED
 *   DEGRADED --rebuild replay done / engine restart from its first seq / AllBlocksCleared--> LIVE
 * </pre>
 *
 * <p>Immutable; thread-safe.
 */
public enum StreamState {
    /** Subscribed; nothing received or replayed yet. */
    CONNECTING,
    /** A replay (bootstrap, gap heal, rebuild) is running; live batches are buffered meanwhile. */
    SYNCING,
    /** Applying live batches; what the sink holds for this stream matches what the engine announced. */
    LIVE,
    /**
     * Batches were lost and could not be replayed: the stream's contributions were cleared
     * ({@link ResetCause#UNRECOVERABLE_GAP}) and live batches apply again, so the sink holds a subset of the
     * engine's blocks (hits may be under-reported, never stale).
     */
    DEGRADED
}
