package io.conductor.daemon.cluster;

/** etcd did not answer in time or failed a call; the message says which call. */
public final class ClusterUnavailableException extends Exception {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed
     * @param cause   the underlying error
     */
    public ClusterUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
