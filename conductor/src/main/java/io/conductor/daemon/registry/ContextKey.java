package io.conductor.daemon.registry;

/**
 * An index context: {@code (tenant, model, block size)}. A context hashes one way, so it is bound to exactly one
 * hash profile (or token-rehash mode) by its first registration; LoRA adapters live inside it. Immutable and
 * thread-safe.
 *
 * @param tenantId normalized tenant id
 * @param modelName model name
 * @param blockSize hash block size in tokens
 */
public record ContextKey(String tenantId, String modelName, long blockSize) {
}
