package io.conductor.daemon.api;

import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.index.BlockHashSequence;
import io.conductor.index.prefix.ContextKey;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The domain as the HTTP layer sees it: registration, queries and the views. Everything HTTP-specific (formats,
 * validation, error texts, routing policy, metrics of requests) stays in this package; implementations hold the
 * registry, the subscriptions, the hashing and the index. Implementations must be thread-safe: every method is
 * called from many request threads at once.
 */
public interface ConductorService {
    /**
     * Registers a subscription (mooncake-api.md §3.2 steps 1–6).
     *
     * @param registration the validated registration
     * @return whether it was created or already registered identically
     * @throws RegistrationException if refused or the stream failed to start; nothing is left registered
     */
    ServiceRegistry.Outcome register(ServiceRegistration registration) throws RegistrationException;

    /**
     * Unregisters a subscription: stops its stream and removes everything it contributed; no event of it reaches
     * the index afterwards.
     *
     * @param key the service key
     * @throws UnregistrationException if unknown, already being unregistered, or the cleanup failed
     */
    void unregister(ServiceKey key) throws UnregistrationException;

    /**
     * Answers a prefix query with the reference's semantics (§5.3).
     *
     * @param query the validated query
     * @return the matches per instance; {@link QueryResult#EMPTY} when the context is unknown
     */
    QueryResult query(PromptQuery query);

    /**
     * A query's answer together with the prompt's block hashes, for {@code /route}'s reservation.
     *
     * @param result the answer
     * @param chain the prompt's block hashes (lazy; valid on the calling thread until its next query), or
     *     {@code null} when there are none
     */
    record RouteLookup(QueryResult result, @Nullable BlockHashSequence chain) {
    }

    /**
     * Answers a prefix query as {@link #query} does and also hands back the prompt's block hashes.
     *
     * @param query the validated query
     * @return the answer and the hashes
     */
    default RouteLookup queryForRoute(PromptQuery query) {
        return new RouteLookup(query(query), null);
    }

    /**
     * Returns the registry's current view.
     *
     * @return the snapshot
     */
    RegistrySnapshot registry();

    /**
     * Returns, per live index context and LoRA name ({@code ""} = base model), the number of distinct block hashes
     * that still have an owner on any tier.
     *
     * @return prefix counts by context and LoRA; absent entries count 0
     */
    Map<ContextKey, Map<String, Long>> prefixCounts();

    /**
     * Returns the state of a subscription's event stream ({@code connecting}, {@code syncing}, {@code live},
     * {@code degraded}).
     *
     * @param key the service key
     * @return the state, or {@code null} when unknown
     */
    default @Nullable String streamState(ServiceKey key) {
        return null;
    }

    /**
     * Returns the events of a subscription that did not reach the index, by reason ({@code SkippedEvents} in
     * {@code /services}).
     *
     * @param key the service key
     * @return reason to count (non-zero only); empty when none or unknown
     */
    default java.util.Map<String, Long> skippedEvents(ServiceKey key) {
        return java.util.Map.of();
    }
}
