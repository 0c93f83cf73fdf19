package io.conductor.daemon.service;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.index.prefix.IndexStats;
import io.conductor.index.prefix.PrefixIndex;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Exposes the prefix index's published counters ({@link PrefixIndex#stats()}) at scrape time: nothing is
 * recorded on the update path. Label values are registered instance ids (each at zero from its registration on,
 * gone with its last registration) and pool ids, at most {@link ServiceRegistry#MAX_SERVICES} of each. Thread-safe
 * (reads a snapshot per scrape).
 */
public final class IndexMetrics {
    private IndexMetrics() {
    }

    /**
     * Registers the index meters.
     *
     * @param registry the daemon's registry
     * @param index the index
     * @param services the service registry, whose instances have eviction series
     */
    public static void register(PrometheusRegistry registry, PrefixIndex<HashProfileSpec> index,
            ServiceRegistry services) {
        Supplier<IndexStats> stats = index::stats;
        GaugeWithCallback.builder().name("conductor_index_contexts").help("Live index contexts")
                .callback(cb -> cb.call(stats.get().contexts())).register(registry);
        GaugeWithCallback.builder().name("conductor_index_blocks")
                .help("Distinct (block hash, LoRA) entries in the index")
                .callback(cb -> cb.call(stats.get().blocks())).register(registry);
        GaugeWithCallback.builder().name("conductor_index_pairs").help("(block, owner) pairs in the index")
                .callback(cb -> cb.call(stats.get().pairs())).register(registry);
        GaugeWithCallback.builder().name("conductor_index_bytes").help("Accounted bytes of the index")
                .callback(cb -> cb.call(stats.get().bytes())).register(registry);
        GaugeWithCallback.builder().name("conductor_index_max_bytes").help("Byte budget of the index")
                .callback(cb -> cb.call(stats.get().maxBytes())).register(registry);
        CounterWithCallback.builder().name("conductor_index_evicted_pairs_total")
                .help("(block, owner) pairs evicted for the byte budget or a quota, by owner kind and id")
                .labelNames("owner_kind", "owner")
                .callback(cb -> {
                    IndexStats s = stats.get();
                    Set<String> instances = new HashSet<>();
                    for (RegistrySnapshot.Service service : services.snapshot().services()) {
                        if (service.registration().type().isEngine()) {
                            instances.add(service.registration().instanceId());
                        }
                    }
                    for (String id : instances) {
                        cb.call(s.evictionsByInstance().getOrDefault(id, 0L), "instance", id);
                    }
                    int pools = 0;
                    for (Map.Entry<String, Long> e : s.evictionsByBackend().entrySet()) {
                        if (pools++ < ServiceRegistry.MAX_SERVICES) {
                            cb.call(e.getValue(), "pool", e.getKey());
                        }
                    }
                }).register(registry);
        CounterWithCallback.builder().name("conductor_index_unknown_removals_total")
                .help("Removals naming a block the owner did not hold")
                .callback(cb -> cb.call(stats.get().unknownRemovals())).register(registry);
        CounterWithCallback.builder().name("conductor_index_dropped_for_budget_total")
                .help("Block stores dropped because nothing could be evicted to make room")
                .callback(cb -> cb.call(stats.get().droppedForBudget())).register(registry);
        CounterWithCallback.builder().name("conductor_index_dropped_ops_total")
                .help("Index ops skipped (unregistered owner, closed stream, missing context, LoRA limit)")
                .callback(cb -> cb.call(stats.get().droppedEvents())).register(registry);
    }
}
