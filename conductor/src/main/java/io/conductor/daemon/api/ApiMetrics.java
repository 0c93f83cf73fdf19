package io.conductor.daemon.api;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The API's Prometheus meters, registered once at startup. Label values are bounded: routes are the fixed route
 * names, status is the status class, models and instances are only ever those the registry knows (a query for an
 * unregistered model counts under {@value #UNKNOWN}), tiers are {@code gpu}, {@code cpu}, {@code disk}. Recording
 * never throws into a request. Thread-safe.
 */
public final class ApiMetrics {
    /** Label value for a model or instance the registry does not know. */
    public static final String UNKNOWN = "_unknown";
    private static final String[] TIERS = {"gpu", "cpu", "disk"};

    private final Counter requests;
    private final Counter queries;
    private final Counter routes;
    private final Counter queryTokens;
    private final Counter matchedTokens;
    private final Counter instanceQueryTokens;
    private final Counter instanceMatchedTokens;
    private final Histogram latency;
    private final Counter feedbackReports;
    private final Counter feedbackPredicted;
    private final Counter feedbackCached;
    private final Counter feedbackAbsoluteError;
    /** Per-instance data points, looked up once per instance and query instead of four label lookups. */
    private final ConcurrentHashMap<String, InstanceMeters> instanceMeters = new ConcurrentHashMap<>();

    private record InstanceMeters(CounterDataPoint queryTokens, CounterDataPoint gpu, CounterDataPoint cpu,
            CounterDataPoint disk) {
    }

    /**
     * Registers the meters.
     *
     * @param registry where to register (the daemon's {@code /metrics} registry)
     * @throws IllegalArgumentException if meters of these names are already registered there
     */
    public ApiMetrics(PrometheusRegistry registry) {
        requests = Counter.builder().name("conductor_http_requests_total")
                .help("HTTP API requests by route and status class").labelNames("route", "status").register(registry);
        queries = Counter.builder().name("conductor_queries_total")
                .help("Prefix queries answered, by route (query, query_by_hash, route, cache)")
                .labelNames("route").register(registry);
        routes = Counter.builder().name("conductor_route_decisions_total")
                .help("/route decisions by reason").labelNames("reason").register(registry);
        queryTokens = Counter.builder().name("conductor_query_tokens_total")
                .help("Prompt tokens queried, by model").labelNames("model").register(registry);
        matchedTokens = Counter.builder().name("conductor_query_matched_tokens_total")
                .help("Tokens matched by the best instance of each query, by model and tier (cumulative cursor: "
                        + "gpu <= cpu <= disk <= store; longest_matched = store while the store probe answers, else disk)")
                .labelNames("model", "tier").register(registry);
        instanceQueryTokens = Counter.builder().name("conductor_instance_query_tokens_total")
                .help("Prompt tokens queried against each instance").labelNames("instance").register(registry);
        instanceMatchedTokens = Counter.builder().name("conductor_instance_matched_tokens_total")
                .help("Tokens matched on each instance, by tier (cumulative cursor)")
                .labelNames("instance", "tier").register(registry);
        latency = Histogram.builder().name("conductor_query_duration_seconds")
                .help("Time to decode, answer and encode a query, by route").labelNames("route")
                .classicOnly()
                .classicUpperBounds(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1)
                .register(registry);
        feedbackReports = Counter.builder().name("conductor_feedback_reports_total")
                .help("/feedback reports by instance").labelNames("instance").register(registry);
        feedbackPredicted = Counter.builder().name("conductor_feedback_predicted_tokens_total")
                .help("Cached tokens we predicted, as reported back by /feedback").labelNames("instance")
                .register(registry);
        feedbackCached = Counter.builder().name("conductor_feedback_cached_tokens_total")
                .help("Cached tokens the engine reported, via /feedback").labelNames("instance").register(registry);
        feedbackAbsoluteError = Counter.builder().name("conductor_feedback_absolute_error_tokens_total")
                .help("Sum of |predicted - cached| tokens over /feedback reports").labelNames("instance")
                .register(registry);
    }

    void request(String route, int status) {
        requests.labelValues(route, status < 300 ? "2xx" : status < 500 ? "4xx" : "5xx").inc();
    }

    void route(String reason) {
        routes.labelValues(reason).inc();
    }

    /** Counts one answered query: tokens, the best instance's matches per model, every instance's matches. */
    void query(String route, String model, long promptTokens, QueryResult result, long nanos) {
        queries.labelValues(route).inc();
        latency.labelValues(route).observe(nanos / 1e9);
        if (result.instances().isEmpty()) {
            queryTokens.labelValues(UNKNOWN).inc(promptTokens);
            return;
        }
        long gpu = 0;
        long cpu = 0;
        long disk = 0;
        long store = QueryResult.InstanceMatch.NO_STORE;
        for (QueryResult.InstanceMatch m : result.instances()) {
            gpu = Math.max(gpu, m.gpu());
            cpu = Math.max(cpu, m.cpu());
            disk = Math.max(disk, m.disk());
            store = Math.max(store, m.store());
            InstanceMeters meters = instanceMeters.get(m.instanceId());
            if (meters == null) {
                meters = instanceMeters.computeIfAbsent(m.instanceId(), id -> new InstanceMeters(
                        instanceQueryTokens.labelValues(id), instanceMatchedTokens.labelValues(id, TIERS[0]),
                        instanceMatchedTokens.labelValues(id, TIERS[1]),
                        instanceMatchedTokens.labelValues(id, TIERS[2])));
            }
            meters.queryTokens().inc(promptTokens);
            meters.gpu().inc(m.gpu());
            meters.cpu().inc(m.cpu());
            meters.disk().inc(m.disk());
        }
        queryTokens.labelValues(model).inc(promptTokens);
        matchedTokens.labelValues(model, TIERS[0]).inc(gpu);
        matchedTokens.labelValues(model, TIERS[1]).inc(cpu);
        matchedTokens.labelValues(model, TIERS[2]).inc(disk);
        if (store != QueryResult.InstanceMatch.NO_STORE) {
            matchedTokens.labelValues(model, "store").inc(store); // only while the store probe answers
        }
    }

    void feedback(String instanceLabel, long predicted, long cached) {
        feedbackReports.labelValues(instanceLabel).inc();
        feedbackPredicted.labelValues(instanceLabel).inc(predicted);
        feedbackCached.labelValues(instanceLabel).inc(cached);
        feedbackAbsoluteError.labelValues(instanceLabel).inc(Math.abs(predicted - cached));
    }
}
