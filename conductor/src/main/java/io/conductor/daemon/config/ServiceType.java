package io.conductor.daemon.config;

import org.jspecify.annotations.Nullable;

/**
 * The kind of KV-event publisher an entry subscribes to; chooses the decoder (never the ZMQ topic). Immutable and
 * thread-safe.
 */
public enum ServiceType {
    /** A vLLM engine (one data-parallel rank per entry). */
    VLLM("vLLM"),
    /** A Mooncake store master publishing store-level events. */
    MOONCAKE("Mooncake"),
    /** An SGLang engine; always indexed in token-rehash mode (its hashes are not vLLM's). */
    SGLANG("SGLang");

    /** The expected-form text used in error messages. */
    static final String EXPECTED = "one of \"vLLM\", \"Mooncake\", \"SGLang\" (case-sensitive)";

    private final String configName;

    ServiceType(String configName) {
        this.configName = configName;
    }

    /**
     * Returns the spelling used in the config file and in the reference's API.
     *
     * @return {@code vLLM}, {@code Mooncake} or {@code SGLang}
     */
    public String configName() {
        return configName;
    }

    /**
     * Looks a type up by its exact config spelling.
     *
     * @param text the value of a {@code type} field
     * @return the type, or {@code null} when the text is not an exact, case-sensitive match
     */
    public static @Nullable ServiceType fromConfigName(String text) {
        for (ServiceType type : values()) {
            if (type.configName.equals(text)) {
                return type;
            }
        }
        return null;
    }
}
