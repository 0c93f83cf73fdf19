package io.conductor.daemon.snapshot;

/**
 * A snapshot that cannot be used: wrong magic or version, a checksum mismatch, a truncated file, or a value out
 * of range. The message says which and where; nothing of such a snapshot is applied.
 */
public final class SnapshotFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what is wrong
     */
    public SnapshotFormatException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what is wrong
     * @param cause   the underlying error
     */
    public SnapshotFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
