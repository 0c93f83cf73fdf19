package io.conductor.daemon.registry;

import org.jspecify.annotations.Nullable;

/**
 * An engine's role in prefill/decode disaggregation, named as vLLM's {@code --kv-transfer-config} {@code kv_role}:
 * a producer (prefill) computes KV, a consumer (decode) only receives it. {@code /route} without candidates picks
 * among instances that can take a prompt's prefill, never a consumer. Immutable.
 */
public enum KvRole {
    /** A prefill instance ({@code kv_producer}). */
    PRODUCER("kv_producer"),
    /** A decode instance ({@code kv_consumer}): indexed and queryable, never a default route target. */
    CONSUMER("kv_consumer"),
    /** Both, or not disaggregated ({@code kv_both}): the default. */
    BOTH("kv_both");

    private final String wireName;

    KvRole(String wireName) {
        this.wireName = wireName;
    }

    /**
     * Returns the name used in requests and {@code /services}.
     *
     * @return {@code kv_producer}, {@code kv_consumer} or {@code kv_both}
     */
    public String wireName() {
        return wireName;
    }

    /**
     * Parses a wire name.
     *
     * @param name the name
     * @return the role, or {@code null} if the name is none of the three
     */
    public static @Nullable KvRole fromWireName(String name) {
        for (KvRole r : values()) {
            if (r.wireName.equals(name)) {
                return r;
            }
        }
        return null;
    }
}
