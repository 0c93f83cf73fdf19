package io.conductor.daemon.registry;

/**
 * A registration the registry refused; nothing of it was created. The message is the client-facing text.
 */
public final class RegistrationException extends Exception {
    /** Why a registration failed. */
    public enum Kind {
        /** A rule was broken (key conflict, endpoint reuse, profile mismatch, unregistering, quarantined). */
        INVALID,
        /** The subscription could not be started. */
        SUBSCRIBE_FAILED,
        /** The subscription could not be started because of the endpoint the client gave (bad input). */
        BAD_ENDPOINT,
        /** The daemon's memory budget for per-stream tables cannot hold another stream. */
        MEMORY_BUDGET
    }

    private final Kind kind;

    /**
     * Creates the exception.
     *
     * @param kind why it failed
     * @param message the client-facing text
     */
    public RegistrationException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    /**
     * Returns why the registration failed.
     *
     * @return the kind
     */
    public Kind kind() {
        return kind;
    }
}
