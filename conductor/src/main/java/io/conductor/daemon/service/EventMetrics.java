package io.conductor.daemon.service;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.events.DropReason;
import io.conductor.events.EventKind;
import io.conductor.events.Medium;
import io.conductor.events.ReplayResult;
import io.conductor.events.StreamState;
import io.conductor.events.StreamStats;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Exposes the event subscriptions' counters at scrape time (nothing is recorded on the event path beyond the
 * sinks' own counters). A stream is named by three labels, {@code instance_id}, {@code tenant} and {@code dp_rank}
 * (its service key), so the series are bounded by the registry's cap; a removed stream's series disappear with it.
 * Every registered stream has each family's series from its registration on, at zero. Thread-safe.
 */
public final class EventMetrics {
    private static final String INSTANCE = "instance_id";
    private static final String TENANT = "tenant";
    private static final String DP_RANK = "dp_rank";

    private EventMetrics() {
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /**
     * Registers the event meters.
     *
     * @param registry the daemon's registry
     * @param streams the event streams
     */
    public static void register(PrometheusRegistry registry, ZmqEventStreams streams) {
        CounterWithCallback.builder().name("conductor_events_total")
                .help("KV events applied, by stream, type and medium")
                .labelNames(INSTANCE, TENANT, DP_RANK, "type", "medium")
                .callback(cb -> {
                    for (Map.Entry<ServiceKey, IndexingSink> e : streams.sinks().entrySet()) {
                        for (EventKind kind : EventKind.values()) {
                            for (Medium medium : Medium.values()) {
                                long n = e.getValue().eventCount(kind, medium);
                                // a new stream shows its first family member at zero; others appear once counted
                                if (n > 0 || (kind == EventKind.BLOCKS_STORED && medium == Medium.GPU)) {
                                    ServiceKey k = e.getKey();
                                    cb.call(n, k.instanceId(), k.tenantId(), Integer.toString(k.dpRank()),
                                            lower(kind), lower(medium));
                                }
                            }
                        }
                    }
                }).register(registry);
        CounterWithCallback.builder().name("conductor_events_skipped_total")
                .help("Well-formed events that did not (or not yet) reach the index, by stream and reason "
                        + "(docs/metrics.md lists the reasons); malformed input is in "
                        + "conductor_event_decode_errors_total")
                .labelNames("instance_id", "tenant", "dp_rank", "reason")
                .callback(cb -> {
                    for (Map.Entry<ServiceKey, IndexingSink> e : streams.sinks().entrySet()) {
                        ServiceKey k = e.getKey();
                        for (SkipReason reason : SkipReason.values()) {
                            cb.call(e.getValue().skipped(reason), k.instanceId(), k.tenantId(),
                                    Integer.toString(k.dpRank()), reason.label());
                        }
                    }
                }).register(registry);
        CounterWithCallback.builder().name("conductor_events_unknown_medium_total")
                .help("Events whose medium the daemon does not know, by stream and raw medium name (lower case; at "
                        + "most 16 names per stream, the rest as other); they are indexed on the outermost tier")
                .labelNames("instance_id", "tenant", "dp_rank", "medium")
                .callback(cb -> {
                    for (Map.Entry<ServiceKey, IndexingSink> e : streams.sinks().entrySet()) {
                        ServiceKey k = e.getKey();
                        Map<String, Long> media = e.getValue().unknownMedia();
                        for (Map.Entry<String, Long> m : media.entrySet()) {
                            cb.call(m.getValue(), k.instanceId(), k.tenantId(), Integer.toString(k.dpRank()),
                                    m.getKey());
                        }
                        if (!media.containsKey("other")) {
                            // Every stream shows the family from its registration on, at zero, under the
                            // overflow name; raw names appear as they are seen.
                            cb.call(0, k.instanceId(), k.tenantId(), Integer.toString(k.dpRank()), "other");
                        }
                    }
                }).register(registry);
        CounterWithCallback.builder().name("conductor_event_batches_total")
                .help("Event batches applied, by stream")
                .labelNames(INSTANCE, TENANT, DP_RANK)
                .callback(cb -> each(streams, s -> cb.call(s.batchesApplied(), id(s), tenant(s), rank(s))))
                .register(registry);
        CounterWithCallback.builder().name("conductor_event_decode_errors_total")
                .help("Dropped frames, batches and events, by stream and reason")
                .labelNames(INSTANCE, TENANT, DP_RANK, "reason")
                .callback(cb -> each(streams, s -> {
                    for (Map.Entry<DropReason, Long> d : s.drops().entrySet()) {
                        cb.call(d.getValue(), id(s), tenant(s), rank(s), lower(d.getKey()));
                    }
                    if (!s.drops().containsKey(DropReason.TRUNCATED)) {
                        // one series at zero from the start, without a zero per reason for every stream
                        cb.call(0, id(s), tenant(s), rank(s), lower(DropReason.TRUNCATED));
                    }
                })).register(registry);
        CounterWithCallback.builder().name("conductor_event_gaps_total")
                .help("Sequence gaps detected, by stream")
                .labelNames(INSTANCE, TENANT, DP_RANK)
                .callback(cb -> each(streams, s -> cb.call(s.gaps(), id(s), tenant(s), rank(s))))
                .register(registry);
        CounterWithCallback.builder().name("conductor_event_replays_total")
                .help("Replay exchanges, by stream and result")
                .labelNames(INSTANCE, TENANT, DP_RANK, "result")
                .callback(cb -> each(streams, s -> {
                    for (ReplayResult r : ReplayResult.values()) {
                        cb.call(s.replays(r), id(s), tenant(s), rank(s), lower(r));
                    }
                })).register(registry);
        CounterWithCallback.builder().name("conductor_event_failures_total")
                .help("Stream processing failures, by stream and kind (sink_error: an exception thrown by the "
                        + "index sink, the batch went on; failure: an Error or bug escaped, the stream was cleared "
                        + "and went degraded)")
                .labelNames(INSTANCE, TENANT, DP_RANK, "kind")
                .callback(cb -> each(streams, s -> {
                    cb.call(s.sinkErrors(), id(s), tenant(s), rank(s), "sink_error");
                    cb.call(s.failures(), id(s), tenant(s), rank(s), "failure");
                })).register(registry);
        CounterWithCallback.builder().name("conductor_event_epochs_total")
                .help("Stream resets (engine restart, unrecoverable gap), by stream")
                .labelNames(INSTANCE, TENANT, DP_RANK)
                .callback(cb -> each(streams, s -> cb.call(s.epoch(), id(s), tenant(s), rank(s))))
                .register(registry);
        GaugeWithCallback.builder().name("conductor_event_streams")
                .help("Subscriptions by state (degraded = lost batches that could not be replayed)")
                .labelNames("state")
                .callback(cb -> {
                    long[] counts = new long[StreamState.values().length];
                    for (StreamStats s : streams.stats()) {
                        counts[s.state().ordinal()]++;
                    }
                    for (StreamState state : StreamState.values()) {
                        cb.call(counts[state.ordinal()], lower(state));
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("conductor_event_lag_batches")
                .help("Batches received but not yet applied, by stream")
                .labelNames(INSTANCE, TENANT, DP_RANK)
                .callback(cb -> each(streams,
                        s -> cb.call(Math.max(0, s.batchesBehind()), id(s), tenant(s), rank(s))))
                .register(registry);
        GaugeWithCallback.builder().name("conductor_event_last_batch_age_seconds")
                .help("Age of the last applied batch's publisher timestamp, by stream (absent before the first)")
                .labelNames(INSTANCE, TENANT, DP_RANK)
                .callback(cb -> each(streams, s -> {
                    if (s.lastBatchAgeMillis() >= 0) {
                        cb.call(s.lastBatchAgeMillis() / 1000.0, id(s), tenant(s), rank(s));
                    }
                })).register(registry);
    }

    private static String id(StreamStats s) {
        return s.key().instanceId();
    }

    private static String tenant(StreamStats s) {
        return s.key().tenantId();
    }

    private static String rank(StreamStats s) {
        return Integer.toString(s.key().dpRank());
    }

    private static void each(ZmqEventStreams streams, java.util.function.Consumer<StreamStats> action) {
        List<StreamStats> all = streams.stats();
        for (StreamStats s : all) {
            action.accept(s);
        }
    }
}
