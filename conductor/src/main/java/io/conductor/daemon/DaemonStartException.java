package io.conductor.daemon;

import java.io.Serial;

/**
 * The daemon could not start: the HTTP port could not be bound, or an extension failed to install. The message is
 * one line fit for the user (it names the host and port for a bind failure). Immutable and thread-safe.
 */
public final class DaemonStartException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message one line for the user
     * @param cause   the underlying failure
     */
    public DaemonStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
