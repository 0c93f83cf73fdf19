package io.conductor.daemon.config;

/**
 * Which of the reference's three entry formats an entry was written in. Informational only: every format maps to
 * the same {@link SubscriptionConfig}. Immutable and thread-safe.
 */
public enum ConfigFormat {
    /** Format A (Go G1–G3): {@code ip} + {@code port}; the replay endpoint is {@code port + 1}. */
    LEGACY,
    /** Format B (Go G4–G8, C++ C0): {@code endpoint} + {@code replay_endpoint}, no {@code hash_profile}. */
    ENDPOINT,
    /** Format C (C++ C1+): the endpoint form plus {@code hash_profile} and/or {@code cache_group}. */
    CURRENT
}
