package io.conductor.nativestore;

import java.io.Serial;

/**
 * Loading the Mooncake Store library or setting up its client failed; the message names the library path and the
 * failing call (library load, symbol lookup, {@code mooncake_store_create}, {@code mooncake_store_setup}).
 *
 * <p>Immutable; thread-safe.
 */
final class StoreSetupException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    StoreSetupException(String message) {
        super(message);
    }

    StoreSetupException(String message, Throwable cause) {
        super(message, cause);
    }
}
