package io.conductor.daemon.registry;

import org.jspecify.annotations.Nullable;

/** The kind of publisher behind a subscription; decides the decoder and which tiers it feeds. */
public enum ServiceType {
    /** A vLLM engine DP rank: GPU (and instance-local offload) residency. */
    VLLM("vLLM"),
    /** A Mooncake store master: shared CPU / disk pool residency. */
    MOONCAKE("Mooncake"),
    /** An SGLang engine DP rank: GPU residency, always in token-rehash mode (its hashes are not vLLM's). */
    SGLANG("SGLang");

    private final String wireName;

    ServiceType(String wireName) {
        this.wireName = wireName;
    }

    /**
     * Returns the exact wire spelling ({@code vLLM}, {@code Mooncake}).
     *
     * @return the wire name
     */
    public String wireName() {
        return wireName;
    }

    /**
     * Tells whether the publisher is an engine whose (instance, rank) owns GPU blocks (vLLM, SGLang), as opposed
     * to a shared pool (Mooncake).
     *
     * @return {@code true} for engines
     */
    public boolean isEngine() {
        return this != MOONCAKE;
    }

    /**
     * Looks a type up by its exact, case-sensitive wire name.
     *
     * @param wireName the name as sent
     * @return the type, or {@code null} if the name is not exactly one of the wire names
     */
    public static @Nullable ServiceType fromWireName(String wireName) {
        for (ServiceType type : values()) {
            if (type.wireName.equals(wireName)) {
                return type;
            }
        }
        return null;
    }
}
