package io.conductor.index.hash;

import java.io.Serial;

/**
 * A hash profile field was rejected. The message is the reference conductor's error text (e.g.
 * {@code unsupported hash algorithm: md5}); {@link #field()} names the offending profile key so the HTTP layer can
 * report {@code field}. Immutable and thread-safe.
 */
public final class HashProfileException extends IllegalArgumentException {
    @Serial
    private static final long serialVersionUID = 1L;

    /** Field name of the strategy. */
    public static final String STRATEGY = "strategy";
    /** Field name of the algorithm. */
    public static final String ALGORITHM = "algorithm";
    /** Field name of the seed text. */
    public static final String PYTHON_HASH_SEED = "python_hash_seed";
    /** Field name of the projection. */
    public static final String INDEX_PROJECTION = "index_projection";

    private final String field;

    /**
     * Creates the exception.
     *
     * @param field   the offending profile key, one of the constants of this class
     * @param message the error text
     */
    public HashProfileException(String field, String message) {
        super(message);
        this.field = field;
    }

    /**
     * Returns the offending profile key: {@code strategy}, {@code algorithm}, {@code python_hash_seed} or
     * {@code index_projection}.
     *
     * @return the field name
     */
    public String field() {
        return field;
    }
}
