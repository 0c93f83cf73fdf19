package io.conductor.daemon.api;

import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceRegistry;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The cost policy's state, shared by the {@code /route} and {@code /feedback} handlers and the event side: the
 * settings, the reservations ({@link LoadLedger}), the learned prefill costs ({@link PrefillCosts}) and their
 * meters. The daemon creates one at startup, hands {@link #storedBlocksListener()} to the event streams and lets it
 * {@link #follow} the registry, so an unregistered instance leaves nothing behind here: its reservations, learned
 * cost and per-instance series go. Thread-safe (every part is; {@link #sync} is serialized).
 */
public final class RoutingModel implements AutoCloseable {
    private final RoutingSettings settings;
    private final LoadLedger ledger;
    private final PrefillCosts costs;
    private final CostRoutePolicy policy;
    private final RoutingMetrics metrics;
    private final @Nullable EngineMetricsScraper scraper;
    /** Instance ids registered at the last {@link #sync}; guarded by this object's monitor. */
    private Set<String> registered = Set.of();

    /**
     * Creates the state and registers its meters.
     *
     * @param settings the {@code routing} configuration
     * @param registry where the meters go
     */
    public RoutingModel(RoutingSettings settings, PrometheusRegistry registry) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.ledger = new LoadLedger(settings.reservationTtlMillis() * 1_000_000, settings.requestClock());
        this.costs = new PrefillCosts(settings);
        this.scraper = settings.scrapeEndpoints().isEmpty() ? null
                : new EngineMetricsScraper(settings.scrapeEndpoints(), settings.scrapeIntervalMillis());
        this.policy = new CostRoutePolicy(settings, ledger, costs, scraper);
        this.metrics = new RoutingMetrics(Objects.requireNonNull(registry, "registry"), ledger);
    }

    /**
     * Keeps the per-instance state in step with the registry from now on: an instance's reservations, learned
     * prefill cost and per-instance series are dropped once no registration names it any more. Runs the first sync
     * at once.
     *
     * @param registry the service registry
     */
    public void follow(ServiceRegistry registry) {
        registry.onChange(() -> sync(registry.snapshot()));
        sync(registry.snapshot());
    }

    /**
     * Drops the state of every instance the snapshot no longer names. Reservations on ids that were never
     * registered (a request's candidates may name any id) stay until their TTL.
     *
     * @param snapshot the registry's current view
     */
    synchronized void sync(RegistrySnapshot snapshot) {
        Set<String> now = new HashSet<>();
        for (RegistrySnapshot.Service s : snapshot.services()) {
            now.add(s.registration().instanceId());
        }
        for (String id : registered) {
            if (!now.contains(id)) {
                ledger.forget(id);
            }
        }
        costs.retainOnly(now);
        metrics.retainOnly(now);
        registered = now;
    }

    /** Stops the engine-metrics scraper, if one runs. Idempotent. */
    @Override
    public void close() {
        EngineMetricsScraper s = scraper;
        if (s != null) {
            s.close();
        }
    }

    /**
     * Returns what the event streams call on every stored GPU block, to end the reservations it completes.
     *
     * @return the listener
     */
    public StoredBlocksListener storedBlocksListener() {
        return ledger;
    }

    /**
     * Applies a request's {@code clock_ms}: moves the request clock, or refuses it on the wall clock.
     *
     * @param clockMillis the field's value, or {@code -1} when absent
     */
    void clock(long clockMillis) {
        if (clockMillis < 0) {
            return;
        }
        if (!ledger.requestClock()) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "clock_ms",
                    "clock_ms is only accepted with routing.clock = request");
        }
        ledger.advanceClock(clockMillis * 1_000_000);
    }

    RoutingSettings settings() {
        return settings;
    }

    CostRoutePolicy policy() {
        return policy;
    }

    LoadLedger ledger() {
        return ledger;
    }

    PrefillCosts costs() {
        return costs;
    }

    /**
     * Takes a {@code /feedback} report of a registered instance: ends its reservation (the named one, else the
     * instance's oldest), records the prediction error of a named reservation, and refines the instance's prefill
     * cost from the observed duration (the prefill duration, or the TTFT of a named request that was predicted to
     * wait for nothing).
     */
    void feedback(OtherRequestReaders.Feedback f) {
        long now = ledger.now();
        LoadLedger.Reservation released = ledger.releaseByFeedback(f.instanceId(), f.routeId(), now);
        // Without a route id the oldest reservation ends, but it may be another request's: its predictions and
        // prompt length are not this report's.
        LoadLedger.Reservation r = f.routeId() != 0 ? released : null;
        if (r != null) {
            if (f.prefillMillis() >= 0) {
                metrics.predictionError(f.instanceId(), "prefill", r.predictedPrefillNanos() / 1e9,
                        f.prefillMillis() / 1000);
            }
            if (f.ttftMillis() >= 0) {
                metrics.predictionError(f.instanceId(), "ttft", r.predictedTtftNanos() / 1e9, f.ttftMillis() / 1000);
            }
        }
        if (!settings.learn()) {
            return;
        }
        long prompt = f.promptTokens() >= 0 ? f.promptTokens() : r != null ? r.promptTokens : -1;
        if (prompt < 0) {
            return;
        }
        long uncached = Math.max(0, prompt - f.cachedTokens());
        double seconds;
        if (f.prefillMillis() >= 0) {
            seconds = f.prefillMillis() / 1000;
        } else if (f.ttftMillis() >= 0 && r != null && r.predictedQueueNanos == 0) {
            seconds = f.ttftMillis() / 1000;
        } else {
            return;
        }
        PrefillCosts.Line line = costs.observe(f.instanceId(), uncached, seconds);
        metrics.learned(f.instanceId(), line.tokensPerSecond());
    }
}
