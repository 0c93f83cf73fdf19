package io.conductor.events;

/**
 * The state of one subscription's stream, as shown by metrics and {@code /services}.
 *
 * <pre>
 *   CONNECTING --first batch / replay done--> LIVE --gap, reconnect--> SYNCING --healed--> LIVE
 *                                                \                        \--cannot heal--> DEGRADED
 *                                                 \--gap, no replay-------------------------> DEGRADED
 *   DEGRADED --rebuild replay done / engine restart from its first seq / AllBlocksCleared--> LIVE
 *   (resumed from a snapshot) --ring covers the snapshot's position--> LIVE, --it does not--> STALE
 *   STALE --engine restart / AllBlocksCleared--> LIVE
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
    DEGRADED,
    /**
     * The stream resumed from a snapshot whose position the publisher's replay ring no longer covered: batches
     * between the snapshot and the ring's oldest are lost, so what the sink holds may include blocks the engine
     * has since dropped (hits may be over-reported). Live batches apply; the state ends, and the old contents
     * are dropped, at the engine's next restart or {@code AllBlocksCleared}.
     */
    STALE
}
