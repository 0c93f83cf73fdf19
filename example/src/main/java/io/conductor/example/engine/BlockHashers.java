package io.conductor.example.engine;

/**
 * Chooses the {@link BlockHasher} for an engine configuration. Stateless and thread-safe.
 */
public final class BlockHashers {
    private BlockHashers() {
    }

    /**
     * Returns the hasher for the configured algorithm, seed and block size.
     *
     * @param config engine settings
     * @return the hasher
     * @throws IllegalArgumentException if the algorithm is not available
     */
    public static BlockHasher forConfig(EngineConfig config) {
        return new VllmBlockHasher(config.hashAlgorithm(), config.hashSeed(), config.blockSize());
    }
}
