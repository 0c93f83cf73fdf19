package io.conductor.daemon.api;

import io.conductor.daemon.registry.KvRole;
import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.index.prefix.ContextKey;
import io.javalin.Javalin;
import io.javalin.http.HandlerType;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.eclipse.jetty.servlet.FilterHolder;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Installs the proxy-facing routes on a Javalin app and maps every failure to a response in one place.
 *
 * <p>Request path of a POST route: admin key (register / unregister, when configured) → Content-Type (msgpack or
 * JSON, substring test) → body size (Content-Length, then the bytes read) → one value whose root is a map → the
 * route's reader (exact field order and texts of mooncake-api.md §3) → the domain → a body in the request's
 * format. Typed {@link ApiException}s and the registry's exceptions become structured bodies; anything else is
 * logged and answered {@code 500 {"error": "internal error"}}, which bad input never reaches. The POSTs of the
 * hot routes ({@code /query}, {@code /query_by_hash}, {@code /route}) run the same path from a servlet filter in
 * front of Javalin, without the framework's per-request machinery; the body, token ids and msgpack answer live in
 * the request thread's reused, bounded buffers ({@code RequestScratch}, {@code ResponseWriter.reusable}).
 *
 * <p>Thread-safe: handlers keep per-request state on the request thread and touch shared state only through the
 * thread-safe {@link ConductorService}, {@link RoutePolicy}, {@link RoutingModel} and {@link ApiMetrics}.
 */
public final class ApiRoutes {
    private static final Logger LOG = LoggerFactory.getLogger(ApiRoutes.class);
    /** The request log of the daemon's HTTP server (Javalin's request logger writes to it as well). */
    private static final Logger REQUEST_LOG = LoggerFactory.getLogger("io.conductor.daemon.http");
    private static final HandlerType[] METHODS = {HandlerType.GET, HandlerType.POST, HandlerType.PUT,
        HandlerType.PATCH, HandlerType.DELETE, HandlerType.OPTIONS, HandlerType.TRACE, HandlerType.CONNECT};
    /** Bytes a query's hash chain holds per block: a 64-bit key and a 32-byte digest. */
    static final long CHAIN_BYTES_PER_BLOCK = 40;
    /** The first body buffer, and the most read at once; it grows by doubling, charged before each step. */
    static final int READ_CHUNK = 16 * 1024;

    /**
     * A POST route's work once the body is decoded; what it allocates per request it charges first. The scratch is
     * the request thread's reused buffers (the body the value views, and room for token ids).
     */
    @FunctionalInterface
    private interface BodyHandler {
        Reply handle(Value.MapValue body, WireFormat format, MemoryBudget.Charge charge, RequestScratch scratch)
                throws Exception;
    }

    /** A GET route's work. */
    @FunctionalInterface
    private interface ViewHandler {
        byte[] handle(WireFormat format);
    }

    /** A response: status, body {@code body[0, length)}, and whether to add {@code Retry-After}. */
    private record Reply(int status, byte[] body, int length, boolean retryAfter) {
        static Reply ok(byte[] body) {
            return new Reply(200, body, body.length, false);
        }

        /** A 200 whose body is the writer's bytes (not copied: written out before the writer is used again). */
        static Reply ok(ResponseWriter w) {
            return new Reply(200, w.array(), w.length(), false);
        }
    }

    private final ConductorService service;
    private final ApiLimits limits;
    private final ApiMetrics metrics;
    private final MemoryBudget budget;
    private final EndpointPolicy endpoints;
    private final RoutePolicy routePolicy = new RoutePolicy();
    private final RoutingModel routing;

    private ApiRoutes(ConductorService service, ApiLimits limits, ApiMetrics metrics, MemoryBudget budget,
            EndpointPolicy endpoints, RoutingModel routing) {
        this.service = Objects.requireNonNull(service, "service");
        this.limits = Objects.requireNonNull(limits, "limits");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.budget = Objects.requireNonNull(budget, "budget");
        this.endpoints = Objects.requireNonNull(endpoints, "endpoints");
        this.routing = Objects.requireNonNull(routing, "routing");
    }

    /**
     * Installs {@code /register}, {@code /unregister}, {@code /query}, {@code /query_by_hash}, {@code /route},
     * {@code /cache}, {@code /feedback} (POST) and {@code /global_view}, {@code /services} (GET); any other method
     * on these paths answers 405. Call before the app starts.
     *
     * @param app the app
     * @param service the domain
     * @param limits limits and the optional admin key
     * @param metrics the API meters
     */
    public static void install(Javalin app, ConductorService service, ApiLimits limits, ApiMetrics metrics) {
        install(app, service, limits, metrics, MemoryBudget.forHeap(), EndpointPolicy.defaults());
    }

    /**
     * Installs the routes as {@link #install(Javalin, ConductorService, ApiLimits, ApiMetrics)} does, with the cost
     * policy's state (its settings and meters).
     *
     * @param app the app
     * @param service the domain
     * @param limits limits and the optional admin key
     * @param metrics the API meters
     * @param routing the cost policy's state
     */
    public static void install(Javalin app, ConductorService service, ApiLimits limits, ApiMetrics metrics,
            RoutingModel routing) {
        install(app, service, limits, metrics, MemoryBudget.forHeap(), EndpointPolicy.defaults(), routing);
    }

    /**
     * As {@link #install(Javalin, ConductorService, ApiLimits, ApiMetrics)}, with an explicit request memory budget
     * and endpoint policy, and the default cost-policy settings.
     *
     * @param app the app
     * @param service the domain
     * @param limits limits and the optional admin key
     * @param metrics the API meters
     * @param budget the request memory budget (413 / 503 past it)
     * @param endpoints which endpoints registrations may name
     */
    public static void install(Javalin app, ConductorService service, ApiLimits limits, ApiMetrics metrics,
            MemoryBudget budget, EndpointPolicy endpoints) {
        install(app, service, limits, metrics, budget, endpoints,
                new RoutingModel(RoutingSettings.defaults(), new PrometheusRegistry()));
    }

    /**
     * Installs every route with all of its collaborators explicit.
     *
     * @param app the app
     * @param service the domain
     * @param limits limits and the optional admin key
     * @param metrics the API meters
     * @param budget the request memory budget (413 / 503 past it)
     * @param endpoints which endpoints registrations may name
     * @param routing the cost policy's state
     */
    public static void install(Javalin app, ConductorService service, ApiLimits limits, ApiMetrics metrics,
            MemoryBudget budget, EndpointPolicy endpoints, RoutingModel routing) {
        ApiRoutes routes = new ApiRoutes(service, limits, metrics, budget, endpoints, routing);
        routes.post(app, "/register", true, (b, f, c, s) -> routes.register(b, f));
        routes.post(app, "/unregister", true, (b, f, c, s) -> routes.unregister(b, f));
        BodyHandler query = (b, f, c, s) -> routes.query(b, f, c, s, QueryRequestReader.Kind.QUERY, "query");
        BodyHandler queryByHash = (b, f, c, s) -> routes.query(b, f, c, s, QueryRequestReader.Kind.QUERY_BY_HASH,
                "query_by_hash");
        BodyHandler route = routes::route;
        routes.post(app, "/query", false, query);
        routes.post(app, "/query_by_hash", false, queryByHash);
        routes.post(app, "/route", false, route);
        // The hot routes' POSTs skip Javalin's per-request machinery (see hotRoute); the Javalin handlers above
        // still answer every other method on these paths, and would answer a POST if the filter were absent.
        routes.hotRoute(app, "/query", query);
        routes.hotRoute(app, "/query_by_hash", queryByHash);
        routes.hotRoute(app, "/route", route);
        routes.post(app, "/cache", false, (b, f, c, s) -> routes.cache(b, f, c));
        routes.post(app, "/feedback", false, (b, f, c, s) -> routes.feedback(b, f));
        routes.get(app, "/global_view",
                f -> {
                    Map<ContextKey, Map<String, Long>> counts = service.prefixCounts();
                    return ResponseBodies.globalView(f, service.registry(), c -> counts.getOrDefault(c, Map.of()));
                });
        routes.get(app, "/services", f -> ResponseBodies.services(f, service.registry(), service::streamState,
                service::skippedEvents));
    }

    // ---------------------------------------------------------------- routes

    private Reply register(Value.MapValue body, WireFormat format) throws RegistrationException {
        ServiceRegistration registration = RegisterRequestReader.readRegister(body, limits, endpoints);
        service.register(registration);
        return Reply.ok(ResponseBodies.registered(format, registration.instanceId()));
    }

    private Reply unregister(Value.MapValue body, WireFormat format) throws UnregistrationException {
        ServiceKey key = RegisterRequestReader.readUnregister(body, limits);
        service.unregister(key);
        return Reply.ok(ResponseBodies.unregistered(format, key.toString()));
    }

    private Reply query(Value.MapValue body, WireFormat format, MemoryBudget.Charge charge, RequestScratch scratch,
            QueryRequestReader.Kind kind, String route) {
        long start = System.nanoTime();
        PromptQuery query = QueryRequestReader.readQuery(body, kind, limits, charge, scratch);
        chargeHashing(query, charge);
        QueryResult result = answer(query);
        ResponseWriter encoded = ResponseBodies.query(ResponseWriter.reusable(format), result);
        metrics.query(route, query.context().modelName(), query.promptTokens(), result, System.nanoTime() - start);
        return Reply.ok(encoded);
    }

    /** A token query's chain holds each block's key and digest ({@link #CHAIN_BYTES_PER_BLOCK}) while it runs. */
    private static void chargeHashing(PromptQuery query, MemoryBudget.Charge charge) {
        if (query.tokens() != null) {
            charge.charge(CHAIN_BYTES_PER_BLOCK * query.blockCount());
        }
    }

    private QueryResult answer(PromptQuery query) {
        // Names that are not valid UTF-8 cannot be hashed: the reference answers an empty result (§3.4).
        return query.hashable() ? service.query(query) : QueryResult.EMPTY;
    }

    private Reply route(Value.MapValue body, WireFormat format, MemoryBudget.Charge charge,
            RequestScratch scratch) {
        long start = System.nanoTime();
        QueryRequestReader.RouteRequest request = QueryRequestReader.readRoute(body, limits, charge, scratch);
        chargeHashing(request.query(), charge);
        routing.clock(request.clockMillis());
        String policy = request.policy() != null ? request.policy() : routing.settings().defaultPolicy();
        if (policy.equals(RoutingSettings.POLICY_COST)) {
            return costRoute(request, format, start);
        }
        QueryResult result = answer(request.query());
        List<String> candidates = request.candidates();
        if (candidates == null) {
            candidates = withoutDecodeOnly(result);
        }
        RoutePolicy.Decision decision = routePolicy.choose(result, candidates, request.loads());
        if (decision == null) {
            throw ApiException.plain(404, "no candidate instance for context: " + describe(request.query().context()));
        }
        ResponseWriter encoded = ResponseBodies.route(ResponseWriter.reusable(format), decision);
        metrics.route(decision.reason());
        metrics.query("route", request.query().context().modelName(), request.query().promptTokens(), result,
                System.nanoTime() - start);
        return Reply.ok(encoded);
    }

    /**
     * The default candidates of a {@code /route} without {@code candidates}: every instance of the answer except
     * those registered only as decode instances ({@code kv_role} {@code kv_consumer}), which a proxy never sends a
     * prompt's prefill to. {@code null} (every instance) when no decode-only instance is registered.
     */
    private @Nullable List<String> withoutDecodeOnly(QueryResult result) {
        List<RegistrySnapshot.Service> services = service.registry().services();
        boolean anyConsumer = false;
        for (RegistrySnapshot.Service s : services) {
            anyConsumer |= s.registration().kvRole() == KvRole.CONSUMER;
        }
        if (!anyConsumer) {
            return null; // the common case: nothing to filter, nothing allocated
        }
        Set<String> consumers = new HashSet<>();
        Set<String> others = new HashSet<>();
        for (RegistrySnapshot.Service s : services) {
            (s.registration().kvRole() == KvRole.CONSUMER ? consumers : others).add(s.registration().instanceId());
        }
        List<String> out = new ArrayList<>(result.instances().size());
        for (QueryResult.InstanceMatch m : result.instances()) {
            if (!consumers.contains(m.instanceId()) || others.contains(m.instanceId())) {
                out.add(m.instanceId());
            }
        }
        return out;
    }

    private Reply costRoute(QueryRequestReader.RouteRequest request, WireFormat format, long start) {
        PromptQuery query = request.query();
        ConductorService.RouteLookup lookup = query.hashable() ? service.queryForRoute(query)
                : new ConductorService.RouteLookup(QueryResult.EMPTY, null);
        List<String> candidates = request.candidates();
        if (candidates == null) {
            candidates = withoutDecodeOnly(lookup.result());
        }
        CostRoutePolicy.Decision decision = routing.policy().choose(lookup.result(), candidates,
                request.loads(), request.loadTokens(), query.promptTokens(), query.context().blockSize(),
                lookup.chain());
        if (decision == null) {
            throw ApiException.plain(404, "no candidate instance for context: " + describe(query.context()));
        }
        ResponseWriter encoded = ResponseBodies.costRoute(ResponseWriter.reusable(format), decision);
        metrics.route(decision.reason());
        metrics.query("route", query.context().modelName(), query.promptTokens(), lookup.result(),
                System.nanoTime() - start);
        return Reply.ok(encoded);
    }

    /** Legacy G1–G3 {@code /cache}: percent of the prompt's blocks each candidate holds as a prefix. */
    private Reply cache(Value.MapValue body, WireFormat format, MemoryBudget.Charge charge) {
        long start = System.nanoTime();
        OtherRequestReaders.CacheRequest request = OtherRequestReaders.readCache(body, limits);
        charge.charge(4L * request.tokens().length);
        int chargedBlocks = 0;
        Map<String, Long> percents = new LinkedHashMap<>();
        for (String instance : request.instances()) {
            percents.put(instance, 0L);
        }
        for (RegistrySnapshot.Context context : service.registry().contexts().values()) {
            ContextKey key = context.key();
            if (!key.tenantId().equals(request.tenantId()) || !key.modelName().equals(request.modelName())
                    || (request.blockSize() != 0 && key.blockSize() != request.blockSize())) {
                continue;
            }
            PromptQuery query = new PromptQuery(key, request.loraName(), null, null, request.tokens(), null, true);
            int blocks = query.blockCount();
            if (blocks == 0) {
                continue;
            }
            if (blocks > chargedBlocks) { // one chain serves every context in turn: the longest one counts
                charge.charge(CHAIN_BYTES_PER_BLOCK * (blocks - chargedBlocks));
                chargedBlocks = blocks;
            }
            QueryResult result = service.query(query);
            for (QueryResult.InstanceMatch m : result.instances()) {
                Long previous = percents.get(m.instanceId());
                if (previous != null) {
                    long percent = m.longestMatched() / key.blockSize() * 100 / blocks;
                    percents.put(m.instanceId(), Math.max(previous, percent));
                }
            }
            metrics.query("cache", key.modelName(), request.tokens().length, result, System.nanoTime() - start);
        }
        return Reply.ok(ResponseBodies.cache(format, percents));
    }

    private Reply feedback(Value.MapValue body, WireFormat format) {
        OtherRequestReaders.Feedback f = OtherRequestReaders.readFeedback(body, limits);
        routing.clock(f.clockMillis());
        boolean known = false;
        for (RegistrySnapshot.Service s : service.registry().services()) {
            known |= s.registration().instanceId().equals(f.instanceId());
        }
        metrics.feedback(known ? f.instanceId() : ApiMetrics.UNKNOWN, f.predictedTokens(), f.cachedTokens());
        if (known) {
            routing.feedback(f);
        }
        return Reply.ok(ResponseBodies.status(format, "ok"));
    }

    private static String describe(ContextKey key) {
        return key.tenantId() + "/" + key.modelName() + "/" + key.blockSize();
    }

    // ---------------------------------------------------------------- plumbing

    /**
     * Methods the framework does not know (Javalin's {@code INVALID}, e.g. {@code PROPFIND}) have no handler slot of
     * their own; a before-handler answers them 405 and ends the request.
     */
    private void unknownMethods(Javalin app, String path, String route) {
        app.before(path, ctx -> {
            if (ctx.method() == HandlerType.INVALID) {
                methodNotAllowed(ctx.req(), ctx.res(), route);
                ctx.skipRemainingHandlers();
            }
        });
    }

    private void post(Javalin app, String path, boolean admin, BodyHandler handler) {
        String route = path.substring(1);
        unknownMethods(app, path, route);
        for (HandlerType method : METHODS) {
            if (method == HandlerType.POST) {
                app.addHttpHandler(method, path, ctx -> handlePost(ctx.req(), ctx.res(), route, admin, handler));
            } else {
                app.addHttpHandler(method, path, ctx -> methodNotAllowed(ctx.req(), ctx.res(), route));
            }
        }
    }

    private void get(Javalin app, String path, ViewHandler handler) {
        String route = path.substring(1);
        unknownMethods(app, path, route);
        for (HandlerType method : METHODS) {
            if (method == HandlerType.GET) {
                app.addHttpHandler(method, path, ctx -> {
                    WireFormat format = WireFormat.forResponse(null, ctx.header("Accept"));
                    Reply reply;
                    try {
                        reply = Reply.ok(handler.handle(format));
                    } catch (RuntimeException e) {
                        reply = failure(format, e);
                    }
                    send(ctx.res(), route, format, reply);
                });
            } else {
                app.addHttpHandler(method, path, ctx -> methodNotAllowed(ctx.req(), ctx.res(), route));
            }
        }
    }

    private void methodNotAllowed(HttpServletRequest req, HttpServletResponse res, String route) {
        WireFormat format = WireFormat.forPostResponse(req.getHeader("Content-Type"), req.getHeader("Accept"));
        send(res, route, format, error(format, ApiException.plain(405, "Method not allowed")));
    }

    /**
     * Puts a servlet filter in front of Javalin for {@code POST path}: it runs the same {@link #handlePost} as the
     * Javalin route, without the framework's per-request context, router matching (regular expressions, stream
     * pipelines) and handler-task machinery, which were a third of a query's allocation. Other methods pass
     * through to Javalin (405). The request log line is the one Javalin's request logger writes.
     */
    private void hotRoute(Javalin app, String path, BodyHandler handler) {
        String route = path.substring(1);
        Filter filter = (request, response, chain) -> {
            if (!(request instanceof HttpServletRequest req) || !(response instanceof HttpServletResponse res)
                    || !"POST".equals(req.getMethod())) {
                chain.doFilter(request, response);
                return;
            }
            long start = System.nanoTime();
            handlePost(req, res, route, false, handler);
            if (REQUEST_LOG.isDebugEnabled()) {
                REQUEST_LOG.debug("event=http_request method={} path={} status={} elapsed_ms={}", req.getMethod(),
                        LogText.escape(req.getRequestURI()), res.getStatus(),
                        String.format("%.2f", (System.nanoTime() - start) / 1e6));
            }
        };
        app.unsafeConfig().jetty.modifyServletContextHandler(context -> context.addFilter(new FilterHolder(filter),
                path, EnumSet.of(DispatcherType.REQUEST)));
    }

    private void handlePost(HttpServletRequest req, HttpServletResponse res, String route, boolean admin,
            BodyHandler handler) {
        String contentType = req.getHeader("Content-Type");
        WireFormat responseFormat = WireFormat.forPostResponse(contentType, req.getHeader("Accept"));
        RequestScratch scratch = RequestScratch.forThread();
        try (MemoryBudget.Charge charge = budget.open()) {
            Reply reply;
            try {
                if (admin) {
                    checkAdminKey(req.getHeader("X-API-Key"));
                }
                WireFormat requestFormat = WireFormat.ofContentType(contentType);
                if (requestFormat == null) {
                    throw ApiException.badRequest(Reason.UNSUPPORTED_CONTENT_TYPE, null,
                            "Content-Type must be application/msgpack");
                }
                reply = handler.handle(readAndDecode(req, requestFormat, charge, scratch), responseFormat, charge,
                        scratch);
            } catch (Exception e) {
                reply = failure(responseFormat, e);
            }
            // The charge is given back only after the response is written: until then the body is still live.
            send(res, route, responseFormat, reply);
            ResponseWriter.shrinkThreadWriter();
        }
    }

    private void checkAdminKey(@Nullable String given) {
        String expected = limits.adminApiKey();
        if (expected == null) {
            return;
        }
        if (given == null || !MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                given.getBytes(StandardCharsets.UTF_8))) {
            throw ApiException.withReason(401, Reason.UNAUTHORIZED, "missing or invalid X-API-Key");
        }
    }

    /**
     * Reads the body from the input stream in bounded steps into the thread's reused buffer: at most
     * {@link #READ_CHUNK} bytes first, doubled (never past the declared length) only as bytes arrive, each step
     * charged to the request before it is taken, as if it were allocated. So a connection that declares a large body
     * and sends little costs little, and a chunked body is held to the same limit. A declared or actual size above
     * the limit is a 413 before anything is decoded. Then decodes it; the value may view the buffer.
     */
    private Value.MapValue readAndDecode(HttpServletRequest req, WireFormat format, MemoryBudget.Charge charge,
            RequestScratch scratch) throws IOException {
        long max = limits.maxBodyBytes();
        long declared = req.getContentLengthLong();
        if (declared > max) {
            throw tooLarge(max);
        }
        long ceiling = declared >= 0 ? declared : max + 1;
        try (InputStream in = req.getInputStream()) {
            int capacity = (int) Math.min(ceiling, READ_CHUNK);
            charge.charge(capacity);
            byte[] buffer = scratch.body(capacity, null, 0);
            int n = 0;
            while (true) {
                if (n == capacity) {
                    if (n >= ceiling) {
                        break;
                    }
                    int grown = (int) Math.min(ceiling, 2L * capacity);
                    charge.charge(grown);
                    buffer = scratch.body(grown, buffer, n);
                    capacity = grown;
                    charge.refund(n); // the smaller step is garbage (or reused) now
                }
                int r = in.read(buffer, n, capacity - n);
                if (r < 0) {
                    break; // end of body; a client that sent less than it declared gets what came decoded
                }
                n += r;
            }
            if (n > max) {
                throw tooLarge(max);
            }
            return RequestDecoder.decodeRootMap(format, buffer, n, limits, charge);
        }
    }

    private static ApiException tooLarge(long max) {
        return ApiException.withReason(413, Reason.PAYLOAD_TOO_LARGE, "request body exceeds " + max + " bytes");
    }

    /** The one place where failures become responses. */
    private static Reply failure(WireFormat format, Exception e) {
        return error(format, switch (e) {
            case ApiException api -> api;
            case RegistrationException r -> switch (r.kind()) {
                case INVALID -> ApiException.withReason(400, Reason.INVALID_REGISTRATION,
                        String.valueOf(r.getMessage()));
                case BAD_ENDPOINT -> ApiException.badRequest(Reason.INVALID_VALUE, "endpoint",
                        "Failed to subscribe: " + LogText.escape(r.getMessage()));
                case MEMORY_BUDGET -> ApiException.withReason(503, Reason.INSUFFICIENT_MEMORY,
                        "Failed to subscribe: " + r.getMessage());
                case SUBSCRIBE_FAILED -> ApiException.plain(500, "Failed to subscribe: " + r.getMessage());
            };
            case UnregistrationException u -> u.kind() == UnregistrationException.Kind.CLEANUP_FAILED
                    ? ApiException.plain(500, String.valueOf(u.getMessage()))
                    : ApiException.plain(404, String.valueOf(u.getMessage()));
            case IOException io -> {
                LOG.debug("request body could not be read", io);
                yield ApiException.plain(400, "request body could not be read");
            }
            default -> {
                LOG.error("internal error while handling a request", e);
                yield ApiException.plain(500, "internal error");
            }
        });
    }

    private static Reply error(WireFormat format, ApiException e) {
        byte[] body = ResponseBodies.error(format, e);
        return new Reply(e.status(), body, body.length, e.reason() == Reason.OVERLOADED);
    }

    /**
     * Writes the body straight to the servlet response: the bodies are small and complete, and Javalin's result
     * path would add per-request ETag and compression checks (header scans) that showed in the query profile.
     */
    private void send(HttpServletResponse res, String route, WireFormat format, Reply reply) {
        res.setStatus(reply.status());
        if (reply.retryAfter()) {
            res.setHeader("Retry-After", Integer.toString(MemoryBudget.RETRY_AFTER_SECONDS));
        }
        if (reply.status() == 413 || reply.status() == 503) {
            // The body may be only partly read: close rather than drain megabytes we refused to hold.
            res.setHeader("Connection", "close");
        }
        res.setContentType(format.mediaType());
        res.setContentLength(reply.length());
        try {
            res.getOutputStream().write(reply.body(), 0, reply.length());
            if (reply.status() == 413 || reply.status() == 503) {
                // Send it now: completing the exchange would first wait for the rest of a body we refused.
                res.flushBuffer();
            }
        } catch (IOException e) {
            LOG.debug("client went away before the response was written", e);
        }
        try {
            metrics.request(route, reply.status());
        } catch (RuntimeException e) {
            LOG.debug("metrics recording failed", e);
        }
    }
}
