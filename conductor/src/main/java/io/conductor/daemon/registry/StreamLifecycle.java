package io.conductor.daemon.registry;

/**
 * What the registry needs from the event side: start one subscription, and stop it and remove everything it
 * contributed. Implementations must be thread-safe; {@link ServiceRegistry} calls {@link #start} under its lock
 * (so it must not block for long) and {@link #stopAndPurge} outside it.
 */
public interface StreamLifecycle {
    /**
     * Starts the subscription of {@code registration} (SUB socket; replay socket if a replay endpoint is given).
     *
     * @param registration the accepted registration
     * @throws StreamException if the subscription cannot be started; nothing of it may be left running
     */
    void start(ServiceRegistration registration) throws StreamException;

    /**
     * Stops the subscription, waits until no event of it can reach the index any more, then removes all of its
     * contributions. Idempotent: calling it again after a failure re-runs the cleanup.
     *
     * @param registration the registration being removed
     * @throws StreamException if the cleanup failed; the registry then quarantines the key
     */
    void stopAndPurge(ServiceRegistration registration) throws StreamException;

    /** A failure to start or to clean up a subscription; the message is shown to the client. */
    final class StreamException extends Exception {
        /** Whose fault a failed start is. */
        public enum Fault {
            /** Ours (or the environment's): a 5xx. */
            INTERNAL,
            /** The endpoint the client gave: malformed or its host does not resolve. */
            BAD_ENDPOINT,
            /** The daemon's memory budget for per-stream tables cannot hold another stream. */
            MEMORY_BUDGET
        }

        private final Fault fault;

        /**
         * Creates the exception.
         *
         * @param message what failed, for the client
         */
        public StreamException(String message) {
            super(message);
            this.fault = Fault.INTERNAL;
        }

        /**
         * Creates the exception with a cause.
         *
         * @param message what failed, for the client
         * @param cause the underlying failure
         */
        public StreamException(String message, Throwable cause) {
            this(message, cause, Fault.INTERNAL);
        }

        /**
         * Creates the exception, saying whose fault it is: a bad endpoint is refused as bad input and a full
         * memory budget as a capacity limit, not as our failure.
         *
         * @param message what failed, for the client
         * @param cause the underlying failure, or {@code null}
         * @param fault whose fault it is
         */
        public StreamException(String message, @org.jspecify.annotations.Nullable Throwable cause, Fault fault) {
            super(message, cause);
            this.fault = java.util.Objects.requireNonNull(fault, "fault");
        }

        /**
         * Returns whose fault the failure is.
         *
         * @return the fault
         */
        public Fault fault() {
            return fault;
        }
    }
}
