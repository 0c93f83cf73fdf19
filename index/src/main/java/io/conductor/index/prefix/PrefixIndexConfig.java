package io.conductor.index.prefix;

import java.security.SecureRandom;

/**
 * Settings of a {@link PrefixIndex}. Immutable.
 *
 * @param maxBytes            byte budget of the index's tables ({@code index.max_bytes}); never exceeded by the
 *                            accounted structure (see {@code docs/index.md})
 * @param maxPairsPerInstance optional quota: (block, owner) pairs one instance (all its ranks) may hold in one
 *                            context; {@code 0} = no quota
 * @param seed                seed of the slot hash; a per-process random value keeps hash flooding out
 */
public record PrefixIndexConfig(long maxBytes, long maxPairsPerInstance, long seed) {
    /** Share of the maximum heap used as the default budget. */
    public static final double DEFAULT_HEAP_FRACTION = 0.5;

    /**
     * Validates the settings.
     *
     * @throws IllegalArgumentException if {@code maxBytes <= 0} or the quota is negative
     */
    public PrefixIndexConfig {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
        }
        if (maxPairsPerInstance < 0) {
            throw new IllegalArgumentException("maxPairsPerInstance must be >= 0: " + maxPairsPerInstance);
        }
    }

    /**
     * Returns the defaults: half the maximum heap, no quota, a random seed.
     *
     * @return the default configuration
     */
    public static PrefixIndexConfig defaults() {
        return withMaxBytes((long) (Runtime.getRuntime().maxMemory() * DEFAULT_HEAP_FRACTION));
    }

    /**
     * Returns a configuration with the given budget, no quota and a random seed.
     *
     * @param maxBytes the byte budget
     * @return the configuration
     */
    public static PrefixIndexConfig withMaxBytes(long maxBytes) {
        return new PrefixIndexConfig(maxBytes, 0, new SecureRandom().nextLong());
    }
}
