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
        private final boolean badEndpoint;

        /**
         * Creates the exception.
         *
         * @param message what failed, for the client
         */
        public StreamException(String message) {
            super(message);
            this.badEndpoint = false;
        }

        /**
         * Creates the exception with a cause.
         *
         * @param message what failed, for the client
         * @param cause the underlying failure
         */
        public StreamException(String message, Throwable cause) {
            this(message, cause, false);
        }

        /**
         * Creates the exception, saying whether the client's endpoint is at fault (malformed, unresolvable host):
         * then the registration is refused as bad input, not as our failure.
         *
         * @param message what failed, for the client
         * @param cause the underlying failure, or {@code null}
         * @param badEndpoint whether the endpoint the client gave is at fault
         */
        public StreamException(String message, @org.jspecify.annotations.Nullable Throwable cause,
                boolean badEndpoint) {
            super(message, cause);
            this.badEndpoint = badEndpoint;
        }

        /**
         * Returns whether the client's endpoint is at fault.
         *
         * @return true for a malformed or unresolvable endpoint
         */
        public boolean badEndpoint() {
            return badEndpoint;
        }
    }
}
