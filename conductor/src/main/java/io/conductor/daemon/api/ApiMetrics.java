package io.conductor.daemon.api;

import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceRegistry;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The API's Prometheus meters, registered once at startup. Label values are bounded: routes are the fixed route
 * names, status is the status class, models and instances are only ever those the registry knows (a query for an
 * unregistered model counts under {@value #UNKNOWN}), tiers are {@code gpu}, {@code cpu}, {@code disk}. Every
 * family has its series from the start at zero (fixed label values at construction, a registered model's and
 * instance's series when {@link #follow} sees it registered), and a model's or instance's series are removed when
 * its last registration is gone; at most {@link #MAX_LABEL_VALUES} models and as many instances have series (the
 * registry's own cap), further ones count under {@value #UNKNOWN}. Label names follow Prometheus conventions
 * ({@code instance_id}, {@code model_name}: never {@code instance} or {@code job}, which the server rewrites).
 * Recording never throws into a request. Thread-safe.
 */
public final class ApiMetrics {
    /** Label value for a model or instance the registry does not know (or beyond the cap). */
    public static final String UNKNOWN = "_unknown";
    /** Most distinct model and instance label values, each: the registry's cap on registrations. */
    public static final int MAX_LABEL_VALUES = ServiceRegistry.MAX_SERVICES;
    /** Route names of the API, whose series exist from the start. */
    static final List<String> ROUTES = List.of("register", "unregister", "query", "query_by_hash", "route", "cache",
            "feedback", "global_view", "services");
    private static final List<String> QUERY_ROUTES = List.of("query", "query_by_hash", "route", "cache");
    private static final List<String> ROUTE_REASONS = List.of(RoutePolicy.LONGEST_PREFIX, RoutePolicy.TIE_ROTATED,
            RoutePolicy.ROUND_ROBIN, RoutePolicy.LOAD_BALANCE);
    private static final String[] TIERS = {"gpu", "cpu", "disk"};
    private static final String[] STATUS_CLASSES = {"2xx", "4xx", "5xx"};
    private static final String MODEL = "model_name";
    private static final String INSTANCE = "instance_id";

    private final Counter requests;
    private final Counter queries;
    private final Counter routes;
    private final Counter queryTokens;
    private final Counter matchedTokens;
    private final Histogram hitRatio;
    private final Counter instanceQueryTokens;
    private final Counter instanceMatchedTokens;
    private final Histogram latency;
    private final Counter feedbackReports;
    private final Counter feedbackPredicted;
    private final Counter feedbackCached;
    private final Counter feedbackAbsoluteError;
    /** Per-instance data points, looked up once per instance and query instead of four label lookups. */
    private final ConcurrentHashMap<String, InstanceMeters> instanceMeters = new ConcurrentHashMap<>();
    /** Per-route requests by status class (no label lookup per request). */
    private final ConcurrentHashMap<String, CounterDataPoint[]> requestMeters = new ConcurrentHashMap<>();
    /** Per query route: queries and latency. */
    private final ConcurrentHashMap<String, QueryRouteMeters> queryMeters = new ConcurrentHashMap<>();
    /** Per-model data points of a query with an answer. */
    private final ConcurrentHashMap<String, ModelMeters> modelMeters = new ConcurrentHashMap<>();
    private final ModelMeters unknownModel;
    private final InstanceMeters unknownInstance;

    private record InstanceMeters(CounterDataPoint queryTokens, CounterDataPoint gpu, CounterDataPoint cpu,
            CounterDataPoint disk, CounterDataPoint reports, CounterDataPoint predicted, CounterDataPoint cached,
            CounterDataPoint absoluteError) {
    }

    /** One query route's data points, bound at construction. */
    private record QueryRouteMeters(CounterDataPoint queries, DistributionDataPoint latency) {
    }

    private record ModelMeters(String model, CounterDataPoint queryTokens, CounterDataPoint gpu, CounterDataPoint cpu,
            CounterDataPoint disk, DistributionDataPoint hitRatio) {
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
                .help("Prompt tokens queried, by model").labelNames(MODEL).register(registry);
        matchedTokens = Counter.builder().name("conductor_query_matched_tokens_total")
                .help("Tokens matched by the best instance of each query, by model and tier (cumulative cursor: "
                        + "gpu <= cpu <= disk <= store; longest_matched = store while the store probe answers, else disk)")
                .labelNames(MODEL, "tier").register(registry);
        hitRatio = Histogram.builder().name("conductor_query_hit_ratio")
                .help("Per query: tokens matched by the best instance (longest_matched) / prompt tokens, by model")
                .labelNames(MODEL).classicOnly()
                .classicUpperBounds(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1)
                .register(registry);
        instanceQueryTokens = Counter.builder().name("conductor_instance_query_tokens_total")
                .help("Prompt tokens queried against each instance").labelNames(INSTANCE).register(registry);
        instanceMatchedTokens = Counter.builder().name("conductor_instance_matched_tokens_total")
                .help("Tokens matched on each instance, by tier (cumulative cursor)")
                .labelNames(INSTANCE, "tier").register(registry);
        latency = Histogram.builder().name("conductor_query_duration_seconds")
                .help("Time to decode, answer and encode a query, by route").labelNames("route")
                .classicOnly()
                .classicUpperBounds(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1)
                .register(registry);
        feedbackReports = Counter.builder().name("conductor_feedback_reports_total")
                .help("/feedback reports by instance").labelNames(INSTANCE).register(registry);
        feedbackPredicted = Counter.builder().name("conductor_feedback_predicted_tokens_total")
                .help("Cached tokens we predicted, as reported back by /feedback").labelNames(INSTANCE)
                .register(registry);
        feedbackCached = Counter.builder().name("conductor_feedback_cached_tokens_total")
                .help("Cached tokens the engine reported, via /feedback").labelNames(INSTANCE).register(registry);
        feedbackAbsoluteError = Counter.builder().name("conductor_feedback_absolute_error_tokens_total")
                .help("Sum of |predicted - cached| tokens over /feedback reports").labelNames(INSTANCE)
                .register(registry);
        for (String route : ROUTES) {
            requestMeters.put(route, newRequestMeters(route));
        }
        for (String route : QUERY_ROUTES) {
            queryMeters.put(route, newQueryRouteMeters(route));
        }
        for (String reason : ROUTE_REASONS) {
            routes.labelValues(reason);
        }
        unknownModel = newModelMeters(UNKNOWN);
        unknownInstance = newInstanceMeters(UNKNOWN);
    }

    private CounterDataPoint[] newRequestMeters(String route) {
        CounterDataPoint[] byClass = new CounterDataPoint[STATUS_CLASSES.length];
        for (int i = 0; i < byClass.length; i++) {
            byClass[i] = requests.labelValues(route, STATUS_CLASSES[i]);
        }
        return byClass;
    }

    private QueryRouteMeters newQueryRouteMeters(String route) {
        return new QueryRouteMeters(queries.labelValues(route), latency.labelValues(route));
    }

    private ModelMeters newModelMeters(String model) {
        return new ModelMeters(model, queryTokens.labelValues(model), matchedTokens.labelValues(model, TIERS[0]),
                matchedTokens.labelValues(model, TIERS[1]), matchedTokens.labelValues(model, TIERS[2]),
                hitRatio.labelValues(model));
    }

    private InstanceMeters newInstanceMeters(String id) {
        return new InstanceMeters(instanceQueryTokens.labelValues(id), instanceMatchedTokens.labelValues(id, TIERS[0]),
                instanceMatchedTokens.labelValues(id, TIERS[1]), instanceMatchedTokens.labelValues(id, TIERS[2]),
                feedbackReports.labelValues(id), feedbackPredicted.labelValues(id), feedbackCached.labelValues(id),
                feedbackAbsoluteError.labelValues(id));
    }

    /**
     * Keeps the per-model and per-instance series in step with the registry from now on: creates a registered
     * model's or instance's series at zero, removes them once no registration names it any more. Runs the first
     * sync at once.
     *
     * @param registry the service registry
     */
    public void follow(ServiceRegistry registry) {
        registry.onChange(() -> sync(registry.snapshot()));
        sync(registry.snapshot());
    }

    /**
     * Creates the series of every model and instance of the snapshot and removes those of any other. Serialized,
     * so two changes never interleave; callers pass the latest snapshot.
     *
     * @param snapshot the registry's current view
     */
    synchronized void sync(RegistrySnapshot snapshot) {
        Set<String> models = new HashSet<>();
        Set<String> instances = new HashSet<>();
        for (RegistrySnapshot.Service s : snapshot.services()) {
            models.add(s.registration().modelName());
            instances.add(s.registration().instanceId());
        }
        for (Iterator<Map.Entry<String, ModelMeters>> it = modelMeters.entrySet().iterator(); it.hasNext();) {
            String model = it.next().getKey();
            if (!models.contains(model)) {
                it.remove();
                queryTokens.remove(model);
                hitRatio.remove(model);
                for (String tier : TIERS) {
                    matchedTokens.remove(model, tier);
                }
                matchedTokens.remove(model, "store");
            }
        }
        for (Iterator<String> it = instanceMeters.keySet().iterator(); it.hasNext();) {
            String id = it.next();
            if (!instances.contains(id)) {
                it.remove();
                instanceQueryTokens.remove(id);
                for (String tier : TIERS) {
                    instanceMatchedTokens.remove(id, tier);
                }
                feedbackReports.remove(id);
                feedbackPredicted.remove(id);
                feedbackCached.remove(id);
                feedbackAbsoluteError.remove(id);
            }
        }
        for (String model : models) {
            modelMeters(model);
        }
        for (String id : instances) {
            instanceMeters(id);
        }
    }

    /** A model's meters, created on first use while under the cap; else the {@value #UNKNOWN} ones. */
    private ModelMeters modelMeters(String model) {
        ModelMeters meters = modelMeters.get(model);
        if (meters != null) {
            return meters;
        }
        if (UNKNOWN.equals(model) || modelMeters.size() >= MAX_LABEL_VALUES) {
            return unknownModel;
        }
        return modelMeters.computeIfAbsent(model, this::newModelMeters);
    }

    /** An instance's meters, created on first use while under the cap; else the {@value #UNKNOWN} ones. */
    private InstanceMeters instanceMeters(String id) {
        InstanceMeters meters = instanceMeters.get(id);
        if (meters != null) {
            return meters;
        }
        if (UNKNOWN.equals(id) || instanceMeters.size() >= MAX_LABEL_VALUES) {
            return unknownInstance;
        }
        return instanceMeters.computeIfAbsent(id, this::newInstanceMeters);
    }

    /** Number of distinct models and instances with series (for tests of the cap). */
    int labelValueCount() {
        return modelMeters.size() + instanceMeters.size();
    }

    void request(String route, int status) {
        CounterDataPoint[] byClass = requestMeters.get(route);
        if (byClass == null) { // route names are fixed in code, so this stays bounded
            byClass = requestMeters.computeIfAbsent(route, this::newRequestMeters);
        }
        byClass[status < 300 ? 0 : status < 500 ? 1 : 2].inc();
    }

    void route(String reason) {
        routes.labelValues(reason).inc();
    }

    /** Counts one answered query: tokens, the best instance's matches per model, every instance's matches. */
    void query(String routeName, String model, long promptTokens, QueryResult result, long nanos) {
        QueryRouteMeters route = queryMeters.get(routeName);
        if (route == null) {
            route = queryMeters.computeIfAbsent(routeName, this::newQueryRouteMeters);
        }
        route.queries().inc();
        route.latency().observe(nanos / 1e9);
        if (result.instances().isEmpty()) {
            unknownModel.queryTokens().inc(promptTokens);
            if (promptTokens > 0) {
                unknownModel.hitRatio().observe(0);
            }
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
            InstanceMeters meters = instanceMeters(m.instanceId());
            meters.queryTokens().inc(promptTokens);
            meters.gpu().inc(m.gpu());
            meters.cpu().inc(m.cpu());
            meters.disk().inc(m.disk());
        }
        ModelMeters byModel = modelMeters(model);
        byModel.queryTokens().inc(promptTokens);
        byModel.gpu().inc(gpu);
        byModel.cpu().inc(cpu);
        byModel.disk().inc(disk);
        if (store != QueryResult.InstanceMatch.NO_STORE) {
            matchedTokens.labelValues(byModel.model(), "store").inc(store); // only while the store probe answers
        }
        if (promptTokens > 0) {
            byModel.hitRatio().observe(Math.min(1.0, Math.max(disk, store) / (double) promptTokens));
        }
    }

    void feedback(String instanceLabel, long predicted, long cached) {
        InstanceMeters meters = instanceMeters(instanceLabel);
        meters.reports().inc();
        meters.predicted().inc(predicted);
        meters.cached().inc(cached);
        meters.absoluteError().inc(Math.abs(predicted - cached));
    }
}
