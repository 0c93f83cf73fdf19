package io.conductor.events;

import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What to subscribe to: the stream's identity, its publisher type and its ZMQ endpoints.
 *
 * <p>The live SUB socket connects to {@code endpoint}, except when the endpoint's host is {@code *}
 * ({@code tcp://*:port}): then the SUB binds and the engine connects to it (vLLM publishers configured with a
 * non-wildcard endpoint connect). The replay DEALER always connects. Endpoints are given with the DP port offset
 * already applied (events.md 1.4). Validated on construction; immutable; thread-safe.
 *
 * @param key (instance, tenant, DP rank); batches carrying another DP rank are dropped
 * @param publisher decoder choice
 * @param endpoint live PUB endpoint, e.g. {@code tcp://10.0.0.5:5557}, {@code tcp://[::1]:5557}, {@code tcp://*:5557}
 * @param replayEndpoint replay ROUTER endpoint, or {@code null} for none (always none for Mooncake)
 * @param topic topic prefix to subscribe to; {@code ""} receives everything
 */
public record SubscriptionSpec(StreamKey key, PublisherType publisher, String endpoint,
                               @Nullable String replayEndpoint, String topic) {

    public SubscriptionSpec {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(publisher, "publisher");
        Objects.requireNonNull(topic, "topic");
        requireEndpoint(endpoint, "endpoint");
        if (replayEndpoint != null && replayEndpoint.isEmpty()) {
            replayEndpoint = null;
        }
        if (replayEndpoint != null) {
            requireEndpoint(replayEndpoint, "replayEndpoint");
            if (isBindEndpoint(replayEndpoint)) {
                throw new IllegalArgumentException("replayEndpoint must name the publisher's host, not *: "
                        + replayEndpoint);
            }
        }
    }

    /** A subscription to every topic. */
    public static SubscriptionSpec of(StreamKey key, PublisherType publisher, String endpoint,
                                      @Nullable String replayEndpoint) {
        return new SubscriptionSpec(key, publisher, endpoint, replayEndpoint, "");
    }

    /** True when the live SUB binds {@link #endpoint()} instead of connecting. */
    public boolean bindsLive() {
        return isBindEndpoint(endpoint);
    }

    /** True when a replay endpoint is known, so gaps can heal and bootstrap replays run. */
    public boolean hasReplay() {
        return replayEndpoint != null;
    }

    private static boolean isBindEndpoint(String endpoint) {
        return endpoint.startsWith("tcp://*:");
    }

    private static void requireEndpoint(@Nullable String endpoint, String what) {
        if (endpoint == null || endpoint.isBlank()) {
            throw new IllegalArgumentException(what + " must be a non-empty ZMQ endpoint");
        }
        final int scheme = endpoint.indexOf("://");
        if (scheme <= 0 || scheme + 3 >= endpoint.length()) {
            throw new IllegalArgumentException(what + " is not a ZMQ endpoint (scheme://address): " + endpoint);
        }
        final String transport = endpoint.substring(0, scheme);
        if (!transport.equals("tcp") && !transport.equals("ipc") && !transport.equals("inproc")) {
            throw new IllegalArgumentException(what + " uses an unsupported transport '" + transport + "': "
                    + endpoint);
        }
        if (transport.equals("tcp") && endpoint.lastIndexOf(':') <= scheme) {
            throw new IllegalArgumentException(what + " has no port: " + endpoint);
        }
    }
}
