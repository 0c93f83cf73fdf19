package io.conductor.daemon.api;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cost policy's meters: how far its predictions were from what {@code /feedback} reported, the prefill speed
 * it has learned per instance, and how reservations ended. Label values are bounded: {@code instance_id} is a
 * registered instance or {@value ApiMetrics#UNKNOWN}, {@code quantity} is {@code ttft} or {@code prefill},
 * {@code reason} one of the ledger's end reasons. An instance's series go when it is unregistered
 * ({@link #retainOnly}). Thread-safe.
 */
final class RoutingMetrics {
    private final Histogram predictionError;
    private final Gauge learnedSpeed;
    /** Instance ids that have per-instance series. */
    private final Set<String> labelled = ConcurrentHashMap.newKeySet();

    RoutingMetrics(PrometheusRegistry registry, LoadLedger ledger) {
        predictionError = Histogram.builder().name("conductor_route_prediction_error_ratio")
                .help("|predicted - observed| / observed of the cost model's TTFT and prefill time, per /feedback")
                .labelNames("instance_id", "quantity").classicOnly()
                .classicUpperBounds(0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5).register(registry);
        learnedSpeed = Gauge.builder().name("conductor_route_prefill_tokens_per_second")
                .help("Prefill throughput the cost model uses for an instance after learning from /feedback")
                .labelNames("instance_id").register(registry);
        CounterWithCallback.builder().name("conductor_route_reservations_started_total")
                .help("Route reservations whose prompt's BlockStored arrived (the prefill began)")
                .callback(cb -> cb.call(ledger.started())).register(registry);
        CounterWithCallback.builder().name("conductor_route_reservations_ended_total")
                .help("Route reservations ended: feedback, ttl, evicted (per-instance or overall cap), unregistered")
                .labelNames("reason")
                .callback(cb -> {
                    for (LoadLedger.End e : LoadLedger.End.values()) {
                        cb.call(ledger.ended(e), e.label());
                    }
                }).register(registry);
        CounterWithCallback.builder().name("conductor_route_reservations_refused_total")
                .help("Route answers that reserved nothing because the instance bound was reached")
                .callback(cb -> cb.call(ledger.noRoom())).register(registry);
    }

    void predictionError(String instanceLabel, String quantity, double predictedSeconds, double observedSeconds) {
        if (observedSeconds > 0) {
            labelled.add(instanceLabel);
            predictionError.labelValues(instanceLabel, quantity)
                    .observe(Math.abs(predictedSeconds - observedSeconds) / observedSeconds);
        }
    }

    void learned(String instanceId, double tokensPerSecond) {
        labelled.add(instanceId);
        learnedSpeed.labelValues(instanceId).set(tokensPerSecond);
    }

    /**
     * Removes the series of every instance not in {@code registered}.
     *
     * @param registered the instance ids registered now
     */
    void retainOnly(Set<String> registered) {
        for (Iterator<String> it = labelled.iterator(); it.hasNext(); ) {
            String id = it.next();
            if (!registered.contains(id)) {
                it.remove();
                predictionError.remove(id, "prefill");
                predictionError.remove(id, "ttft");
                learnedSpeed.remove(id);
            }
        }
    }
}
