package io.conductor.daemon.service;

import io.conductor.daemon.api.ConductorService;
import io.conductor.daemon.api.PromptQuery;
import io.conductor.daemon.api.QueryResult;
import io.conductor.daemon.registry.ContextKey;
import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.index.BlockHashSequence;
import java.util.Objects;
import java.util.SortedMap;

/**
 * The conductor domain: the real {@link ServiceRegistry}, a {@link PrefixIndexPort} and a {@link PromptHashing}.
 * A query resolves its context in the registry snapshot (lock-free), builds the lazy chain with the context's
 * profile and asks the index. Thread-safe: the registry serializes mutations, the snapshot is immutable, the
 * index and hashing are thread-safe and each query's chain is its own.
 */
public final class LocalConductorService implements ConductorService {
    private final ServiceRegistry registry;
    private final PrefixIndexPort index;
    private final PromptHashing hashing;

    /**
     * Wires the parts.
     *
     * @param registry the service registry
     * @param index the prefix index
     * @param hashing the prompt hashing
     */
    public LocalConductorService(ServiceRegistry registry, PrefixIndexPort index, PromptHashing hashing) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.index = Objects.requireNonNull(index, "index");
        this.hashing = Objects.requireNonNull(hashing, "hashing");
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
        RegistrySnapshot.Context context = registry.snapshot().contexts().get(query.context());
        if (context == null) {
            return QueryResult.EMPTY;
        }
        SortedMap<String, int[]> instances = PrefixIndexPort.restrict(context.instanceRanks(), query.instanceFilter());
        if (instances.isEmpty()) {
            return QueryResult.EMPTY;
        }
        long[] hashes = query.hashes();
        int[] tokens = query.tokens();
        BlockHashSequence chain;
        if (hashes != null) {
            chain = new PrecomputedHashes(hashes);
        } else if (tokens != null) {
            chain = hashing.chain(context.profile(), query.context().blockSize(), tokens, query.loraName(),
                    query.cacheSalt());
        } else {
            return QueryResult.EMPTY;
        }
        try {
            return index.query(query.context(), instances, chain);
        } catch (IllegalArgumentException e) {
            // Hashing failed (e.g. a name the algorithm cannot encode): the reference answers empty (§5.3 step 5).
            return QueryResult.EMPTY;
        }
    }

    @Override
    public RegistrySnapshot registry() {
        return registry.snapshot();
    }

    @Override
    public long prefixCount(ContextKey context) {
        return index.prefixCount(context);
    }
}
