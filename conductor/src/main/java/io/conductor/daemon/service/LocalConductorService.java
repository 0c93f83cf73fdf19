package io.conductor.daemon.service;

import io.conductor.daemon.api.ConductorService;
import io.conductor.daemon.api.PromptQuery;
import io.conductor.daemon.api.QueryResult;
import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.daemon.store.StoreTier;
import io.conductor.index.BlockHashSequence;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.ContextView;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixMatch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The conductor domain: the {@link ServiceRegistry}, the {@link PrefixIndex} and the query hashing. A query finds
 * its context's profile in the registry snapshot (lock-free), builds the lazy chain with it, and asks the index,
 * which never blocks on writers; then the {@link StoreTier} may extend each instance's answer with Mooncake Store
 * hits (a no-op unless the store probe is on). Thread-safe: the registry serializes mutations, the snapshot is immutable, the
 * index is safe for concurrent readers, and the per-thread {@link PrefixMatch} and chain stay on their thread.
 */
public final class LocalConductorService implements ConductorService {
    private static final RouteLookup NO_ANSWER = new RouteLookup(QueryResult.EMPTY, null);

    private final ServiceRegistry registry;
    private final PrefixIndex<HashProfileSpec> index;
    private final QueryHashing hashing;
    private final @Nullable EventStreams events;
    private final StoreTier store;
    private final ThreadLocal<PrefixMatch> matches = ThreadLocal.withInitial(PrefixMatch::new);

    /**
     * Wires the parts.
     *
     * @param registry the service registry (whose streams feed {@code index})
     * @param index the prefix index
     * @param hashing the query hashing
     */
    public LocalConductorService(ServiceRegistry registry, PrefixIndex<HashProfileSpec> index, QueryHashing hashing) {
        this(registry, index, hashing, null);
    }

    /**
     * Wires the parts, with the event streams for stream states in {@code /services}.
     *
     * @param registry the service registry (whose streams feed {@code index})
     * @param index the prefix index
     * @param hashing the query hashing
     * @param events the event streams, or {@code null}
     */
    public LocalConductorService(ServiceRegistry registry, PrefixIndex<HashProfileSpec> index, QueryHashing hashing,
            @Nullable EventStreams events) {
        this(registry, index, hashing, events, new StoreTier());
    }

    /**
     * Wires the parts, with the Mooncake Store tier that extends answers with store hits.
     *
     * @param registry the service registry (whose streams feed {@code index})
     * @param index the prefix index
     * @param hashing the query hashing
     * @param events the event streams, or {@code null}
     * @param store the store tier (a no-op without an attached probe)
     */
    public LocalConductorService(ServiceRegistry registry, PrefixIndex<HashProfileSpec> index, QueryHashing hashing,
            @Nullable EventStreams events, StoreTier store) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.index = Objects.requireNonNull(index, "index");
        this.hashing = Objects.requireNonNull(hashing, "hashing");
        this.events = events;
        this.store = Objects.requireNonNull(store, "store");
    }

    @Override
    public @Nullable String streamState(ServiceKey key) {
        EventStreams e = events;
        return e == null ? null : e.streamState(key);
    }

    @Override
    public Map<String, Long> skippedEvents(ServiceKey key) {
        EventStreams e = events;
        return e == null ? Map.of() : e.skippedEvents(key);
    }

    @Override
    public ServiceRegistry.Outcome register(ServiceRegistration registration) throws RegistrationException {
        return registry.register(registration);
    }

    @Override
    public void unregister(ServiceKey key) throws UnregistrationException {
        registry.unregister(key);
    }

    @Override
    public QueryResult query(PromptQuery query) {
        return queryForRoute(query).result();
    }

    @Override
    public RouteLookup queryForRoute(PromptQuery query) {
        RegistrySnapshot.Context context = registry.snapshot().contexts().get(query.context());
        if (context == null) {
            return NO_ANSWER;
        }
        long[] hashes = query.hashes();
        int[] tokens = query.tokens();
        BlockHashSequence chain;
        try {
            if (hashes != null) {
                chain = new PrecomputedHashes(hashes);
            } else if (tokens != null) {
                chain = hashing.chain(context.profile(), query.context().blockSize(), tokens, query.tokenCount(),
                        query.loraName(), query.cacheSalt());
            } else {
                return NO_ANSWER;
            }
        } catch (IllegalArgumentException e) {
            // A name the hash cannot encode: the reference answers an empty result (§5.3 step 5).
            return NO_ANSWER;
        }
        PrefixMatch match = matches.get();
        if (!index.query(query.context(), chain, query.loraName(), query.instanceFilter(), match)) {
            return NO_ANSWER;
        }
        return new RouteLookup(toResult(match, store.storeEnds(context, chain, match)), chain);
    }

    /** Copies the reusable match into the HTTP layer's value (a few small objects per instance). */
    static QueryResult toResult(PrefixMatch m) {
        return toResult(m, null);
    }

    /** As {@link #toResult(PrefixMatch)}, with store cursors per instance ({@code null}: store not consulted). */
    static QueryResult toResult(PrefixMatch m, long @Nullable [] storeEnds) {
        List<QueryResult.InstanceMatch> instances = new ArrayList<>(m.instanceCount());
        for (int i = 0; i < m.instanceCount(); i++) {
            int ranks = m.rankCount(i);
            List<QueryResult.RankMatch> rankMatches = new ArrayList<>(ranks);
            for (int k = 0; k < ranks; k++) {
                rankMatches.add(new QueryResult.RankMatch(m.rank(i, k), m.rankGpuTokens(i, k), m.rankCpuTokens(i, k),
                        m.rankDiskTokens(i, k)));
            }
            long storeEnd = storeEnds == null ? QueryResult.InstanceMatch.NO_STORE : storeEnds[i];
            instances.add(new QueryResult.InstanceMatch(m.instanceId(i),
                    storeEnds == null ? m.longestMatchedTokens(i) : storeEnd, m.gpuTokens(i), m.cpuTokens(i),
                    m.diskTokens(i), storeEnd, rankMatches));
        }
        return new QueryResult(instances);
    }

    @Override
    public RegistrySnapshot registry() {
        return registry.snapshot();
    }

    @Override
    public Map<ContextKey, Map<String, Long>> prefixCounts() {
        Map<ContextKey, Map<String, Long>> counts = new HashMap<>();
        for (ContextView<HashProfileSpec> view : index.contexts()) {
            counts.put(view.key(), view.prefixCountByLora());
        }
        return counts;
    }
}
