package io.conductor.daemon.service;

import io.conductor.daemon.api.QueryResult;
import io.conductor.daemon.registry.ContextKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.index.BlockHashSequence;
import java.util.SortedMap;
import org.jspecify.annotations.Nullable;

/**
 * What the conductor needs from the prefix index: the reference's query (mooncake-api.md §5.3), the prefix count
 * of a context, and removal of everything a subscription contributed. Implementations must be thread-safe
 * (queries from many request threads while streams write).
 */
public interface PrefixIndexPort {
    /**
     * Walks each instance's ranks over the chain: GPU phase, then CPU, then disk from where the previous stopped.
     *
     * @param context the context
     * @param instanceRanks the context's instances (sorted) and their ranks (ascending)
     * @param chain the prompt's lazy hash chain
     * @return the matches per instance, every listed instance and rank included
     */
    QueryResult query(ContextKey context, SortedMap<String, int[]> instanceRanks, BlockHashSequence chain);

    /**
     * Returns the number of distinct hashes with at least one owner on any tier.
     *
     * @param context the context
     * @return the count, {@code 0} for an unknown context
     */
    long prefixCount(ContextKey context);

    /**
     * Removes every record the subscription contributed (vLLM: that owner's blocks; Mooncake: its backend's).
     *
     * @param registration the subscription being removed
     */
    void purge(ServiceRegistration registration);

    /**
     * Returns the instances of a query, restricted to the filter if one is given.
     *
     * @param all the context's instances
     * @param filter the filter, or {@code null}
     * @return the instances to answer for
     */
    static SortedMap<String, int[]> restrict(SortedMap<String, int[]> all, @Nullable String filter) {
        if (filter == null) {
            return all;
        }
        int[] ranks = all.get(filter);
        return ranks == null ? java.util.Collections.emptySortedMap()
                : new java.util.TreeMap<>(java.util.Map.of(filter, ranks));
    }
}
