package io.conductor.nativestore;

import java.io.Serial;

/**
 * A {@code native_store} configuration value (or a field of the {@code mooncake.json} it points to) is missing,
 * of the wrong type or out of range. The message starts with the field's path, e.g.
 * {@code native_store.tp_size: must be >= 1, was 0}; {@link #field()} returns that path.
 *
 * <p>Immutable; thread-safe.
 */
public final class NativeStoreConfigException extends IllegalArgumentException {
    @Serial
    private static final long serialVersionUID = 1L;

    private final String field;

    /**
     * Creates the exception.
     *
     * @param field path of the offending field, e.g. {@code native_store.protocol}
     * @param problem what is wrong, quoting the bad value
     */
    public NativeStoreConfigException(String field, String problem) {
        super(field + ": " + problem);
        this.field = field;
    }

    /**
     * Returns the path of the offending field.
     *
     * @return the field path, e.g. {@code native_store.protocol}
     */
    public String field() {
        return field;
    }
}
