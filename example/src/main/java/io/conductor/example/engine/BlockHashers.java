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
        if (config.hashAlgorithm().equals("sha256_cbor")) {
            return new InterimCborBlockHasher(config.blockSize(), config.hashSeed());
        }
        throw new IllegalArgumentException("hash algorithm " + config.hashAlgorithm()
            + " is not available in this build; use --prefix-caching-hash-algo sha256_cbor");
    }
}
