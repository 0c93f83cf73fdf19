package io.conductor.events;

/**
 * How one replay exchange ended; counted per stream in {@link StreamStats#replays()}.
 *
 * <p>Immutable; thread-safe.
 */
public enum ReplayResult {
    /** A gap was fully covered by the replayed batches. */
    HEALED,
    /** A replay from seq 0 (bootstrap or rebuild) completed; the ring started at the publisher's first seq. */
    BOOTSTRAPPED,
    /** The ring no longer held the requested start: the stream was reset and rebuilt from what the ring held. */
    TRUNCATED,
    /** No reply (or no end marker) within the replay timeout. */
    TIMEOUT,
    /** Live batches buffered during the replay overflowed the buffer, or a reply was malformed. */
    FAILED
}
