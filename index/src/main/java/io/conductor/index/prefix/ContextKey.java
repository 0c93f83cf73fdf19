package io.conductor.index.prefix;

/**
 * A model context: blocks of one tenant and model hashed with one block size. LoRA adapters live inside a context
 * (see {@link PrefixIndex}), unlike the reference conductor, whose context key includes the LoRA name. Immutable.
 *
 * @param tenantId  tenant, non-empty (the HTTP layer maps {@code ""} to {@code default})
 * @param modelName model name, non-empty
 * @param blockSize tokens per block, {@code > 0}
 */
public record ContextKey(String tenantId, String modelName, long blockSize) {
    /**
     * Validates the components.
     *
     * @throws IllegalArgumentException if a name is empty or the block size is not positive
     */
    public ContextKey {
        if (tenantId.isEmpty()) {
            throw new IllegalArgumentException("tenantId must not be empty");
        }
        if (modelName.isEmpty()) {
            throw new IllegalArgumentException("modelName must not be empty");
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive: " + blockSize);
        }
    }
}
