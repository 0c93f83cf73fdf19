package io.conductor.daemon.registry;

/** An unregistration that did not complete. The message is the client-facing text. */
public final class UnregistrationException extends Exception {
    /** Why an unregistration failed. */
    public enum Kind {
        /** No such service key. */
        NOT_FOUND,
        /** Another unregistration of the same key is in progress. */
        ALREADY_UNREGISTERING,
        /** The cleanup failed; the key is quarantined and a retry re-runs the cleanup. */
        CLEANUP_FAILED
    }

    private final Kind kind;

    /**
     * Creates the exception.
     *
     * @param kind why it failed
     * @param message the client-facing text
     */
    public UnregistrationException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    /**
     * Returns why the unregistration failed.
     *
     * @return the kind
     */
    public Kind kind() {
        return kind;
    }
}
