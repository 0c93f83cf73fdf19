package io.conductor.daemon.service;

import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.StreamLifecycle.StreamException;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.RankHandle;
import org.jspecify.annotations.Nullable;

/**
 * The ZMQ side of a subscription: open the sockets and feed the index through the given owner handle, and stop
 * so that no event of it is applied afterwards. Implementations must be thread-safe.
 */
public interface EventStreams {
    /**
     * Starts receiving a subscription's events.
     *
     * @param registration the registration
     * @param index the index its events update
     * @param rank the vLLM rank handle its events are applied to, or {@code null} for Mooncake
     * @param pool the Mooncake pool stream, or {@code null} for vLLM
     * @throws StreamException if the subscription cannot start; nothing of it is left running
     */
    void start(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool) throws StreamException;

    /**
     * Starts receiving a subscription's events for a rank whose blocks were restored from a snapshot: the stream
     * resumes by replay after {@code resume}'s seq instead of rebuilding. Implementations without replay ignore
     * the position.
     *
     * @param registration the registration
     * @param index the index its events update
     * @param rank the vLLM rank handle its events are applied to, or {@code null} for Mooncake
     * @param pool the Mooncake pool stream, or {@code null} for vLLM
     * @param resume where to resume, or {@code null} to bootstrap as usual
     * @throws StreamException if the subscription cannot start; nothing of it is left running
     */
    default void start(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool, @Nullable ResumePoint resume) throws StreamException {
        start(registration, index, rank, pool);
    }

    /**
     * Stops a subscription and waits until none of its events can be applied any more. Idempotent.
     *
     * @param registration the registration
     * @throws StreamException if it could not be stopped
     */
    void stop(ServiceRegistration registration) throws StreamException;

    /**
     * Returns the state of a subscription's stream ({@code connecting}, {@code syncing}, {@code live},
     * {@code degraded}), for {@code /services}.
     *
     * @param key the service key
     * @return the state, or {@code null} when unknown (not subscribed, or no real stream behind it)
     */
    default @Nullable String streamState(io.conductor.daemon.registry.ServiceKey key) {
        return null;
    }

    /**
     * Returns the events of a subscription that did not reach the index, by {@link SkipReason} label (non-zero
     * counts only), for {@code /services}.
     *
     * @param key the service key
     * @return label to count; empty when none or unknown
     */
    default java.util.Map<String, Long> skippedEvents(io.conductor.daemon.registry.ServiceKey key) {
        return java.util.Map.of();
    }
}
