package io.conductor.events;

/**
 * Which publisher a subscription listens to; it chooses the decoder (never the topic does, events.md 6.6).
 *
 * <p>Immutable; thread-safe.
 */
public enum PublisherType {
    /** vLLM {@code ZmqEventPublisher}: seq from 0, optional replay ROUTER, unsigned hashes (wire hash mode). */
    VLLM(0),
    /** SGLang: like vLLM, but signed first-8-byte hashes and a {@code metadata} map where vLLM has {@code lora_name};
     *  consumers use token-rehash mode. */
    SGLANG(0),
    /** Mooncake store master (RFC #1527 maps): seq from 1, ms timestamps, no replay. */
    MOONCAKE(1);

    private final long firstSeq;

    PublisherType(long firstSeq) {
        this.firstSeq = firstSeq;
    }

    /**
     * The type named by a registration's {@code type} field: {@code vLLM}, {@code SGLang} or {@code Mooncake},
     * case-insensitively.
     *
     * @throws IllegalArgumentException for any other text, quoting it
     */
    public static PublisherType fromRegistration(String type) {
        return switch (type.toLowerCase(java.util.Locale.ROOT)) {
            case "vllm" -> VLLM;
            case "sglang" -> SGLANG;
            case "mooncake" -> MOONCAKE;
            default -> throw new IllegalArgumentException("type must be vLLM, SGLang or Mooncake: " + type);
        };
    }

    /** The sequence number a fresh publisher process sends first. */
    public long firstSeq() {
        return firstSeq;
    }
}
