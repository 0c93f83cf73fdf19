package io.conductor.nativestore;

/**
 * Where the store probe stands, for {@code /ready} and metrics: its state, why, since when, and how many setup
 * attempts it has made.
 *
 * <p>Immutable; thread-safe.
 *
 * @param state the state
 * @param reason human-readable cause: the failing call and library path when down, empty when up
 * @param sinceEpochMillis when the probe entered this state (wall clock, milliseconds)
 * @param setupAttempts setup attempts since start (successful or not)
 * @param library the library name or path the probe loads
 */
public record ProbeStatus(State state, String reason, long sinceEpochMillis, long setupAttempts, String library) {

    /** The probe's life cycle. */
    public enum State {
        /** {@code native_store.enabled} is false; the probe never loads the library. */
        DISABLED,
        /** Started, first setup not finished yet. */
        CONNECTING,
        /** Connected and healthy: queries are probed. */
        UP,
        /** Library missing, setup failed or the store is unhealthy: queries get {@code UNAVAILABLE}; retrying. */
        DOWN,
        /** Closed for good. */
        CLOSED
    }

    /**
     * Returns whether queries are probed now.
     *
     * @return {@code true} when {@link State#UP}
     */
    public boolean up() {
        return state == State.UP;
    }
}
