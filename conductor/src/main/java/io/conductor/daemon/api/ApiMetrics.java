package io.conductor.daemon.api;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

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
    private static final String[] STATUS_CLASSES = {"2xx", "4xx", "5xx"};
    private static final VarHandle REQUEST_CLASS = MethodHandles.arrayElementVarHandle(CounterDataPoint[].class);

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

    /** Per-route data points: requests by status class, queries, latency (no label lookup per request). */
    private final ConcurrentHashMap<String, RouteMeters> routeMeters = new ConcurrentHashMap<>();
    /** Per-model data points of a query with an answer. */
    private final ConcurrentHashMap<String, ModelMeters> modelMeters = new ConcurrentHashMap<>();
    /** Bound on first use, so {@code /metrics} shows no series before it counts something (as before). */
    private volatile @Nullable CounterDataPoint unknownQueryTokens;

    private record InstanceMeters(CounterDataPoint queryTokens, CounterDataPoint gpu, CounterDataPoint cpu,
            CounterDataPoint disk) {
    }

    /**
     * One route's data points, each bound on first use (a series appears only once it counts, as with a label
     * lookup per call). Volatile: a point bound on one thread is used on others; binding twice is harmless (the
     * metric returns the same child).
     */
    private final class RouteMeters {
        private final String route;
        private final @Nullable CounterDataPoint[] requestsByClass = new CounterDataPoint[3];
        private volatile @Nullable CounterDataPoint queries;
        private volatile @Nullable DistributionDataPoint latency;

        RouteMeters(String route) {
            this.route = route;
        }

        CounterDataPoint requests(int statusClass) {
            CounterDataPoint p = (CounterDataPoint) REQUEST_CLASS.getVolatile(requestsByClass, statusClass);
            if (p == null) {
                p = requests.labelValues(route, STATUS_CLASSES[statusClass]);
                REQUEST_CLASS.setVolatile(requestsByClass, statusClass, p);
            }
            return p;
        }

        CounterDataPoint queries() {
            CounterDataPoint p = queries;
            if (p == null) {
                p = ApiMetrics.this.queries.labelValues(route);
                queries = p;
            }
            return p;
        }

        DistributionDataPoint latency() {
            DistributionDataPoint p = latency;
            if (p == null) {
                p = ApiMetrics.this.latency.labelValues(route);
                latency = p;
            }
            return p;
        }
    }

    private record ModelMeters(CounterDataPoint queryTokens, CounterDataPoint gpu, CounterDataPoint cpu,
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

    private RouteMeters routeMeters(String route) {
        RouteMeters meters = routeMeters.get(route);
        if (meters == null) {
            meters = routeMeters.computeIfAbsent(route, RouteMeters::new);
        }
        return meters;
    }

    void request(String route, int status) {
        routeMeters(route).requests(status < 300 ? 0 : status < 500 ? 1 : 2).inc();
    }

    void route(String reason) {
        routes.labelValues(reason).inc();
    }

    /** Counts one answered query: tokens, the best instance's matches per model, every instance's matches. */
    void query(String routeName, String model, long promptTokens, QueryResult result, long nanos) {
        RouteMeters route = routeMeters(routeName);
        route.queries().inc();
        route.latency().observe(nanos / 1e9);
        if (result.instances().isEmpty()) {
            CounterDataPoint unknown = unknownQueryTokens;
            if (unknown == null) {
                unknown = queryTokens.labelValues(UNKNOWN);
                unknownQueryTokens = unknown;
            }
            unknown.inc(promptTokens);
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
        ModelMeters byModel = modelMeters.get(model);
        if (byModel == null) {
            byModel = modelMeters.computeIfAbsent(model, id -> new ModelMeters(queryTokens.labelValues(id),
                    matchedTokens.labelValues(id, TIERS[0]), matchedTokens.labelValues(id, TIERS[1]),
                    matchedTokens.labelValues(id, TIERS[2])));
        }
        byModel.queryTokens().inc(promptTokens);
        byModel.gpu().inc(gpu);
        byModel.cpu().inc(cpu);
        byModel.disk().inc(disk);
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
