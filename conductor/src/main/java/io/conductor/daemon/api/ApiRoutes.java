package io.conductor.daemon.api;

import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.index.prefix.ContextKey;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HandlerType;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
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
 * logged and answered {@code 500 {"error": "internal error"}}, which bad input never reaches.
 *
 * <p>Thread-safe: handlers keep per-request state on the request thread and touch shared state only through the
 * thread-safe {@link ConductorService}, {@link RoutePolicy}, {@link RoutingModel} and {@link ApiMetrics}.
 */
public final class ApiRoutes {
    private static final Logger LOG = LoggerFactory.getLogger(ApiRoutes.class);
    private static final HandlerType[] METHODS = {HandlerType.GET, HandlerType.POST, HandlerType.PUT,
        HandlerType.PATCH, HandlerType.DELETE};

    /** A POST route's work once the body is decoded. */
    @FunctionalInterface
    private interface BodyHandler {
        Reply handle(Value.MapValue body, WireFormat format) throws Exception;
    }

    /** A GET route's work. */
    @FunctionalInterface
    private interface ViewHandler {
        byte[] handle(WireFormat format);
    }

    private record Reply(int status, byte[] body) {
        static Reply ok(byte[] body) {
            return new Reply(200, body);
        }
    }

    private final ConductorService service;
    private final ApiLimits limits;
    private final ApiMetrics metrics;
    private final RoutePolicy routePolicy = new RoutePolicy();
    private final RoutingModel routing;

    private ApiRoutes(ConductorService service, ApiLimits limits, ApiMetrics metrics, RoutingModel routing) {
        this.service = Objects.requireNonNull(service, "service");
        this.limits = Objects.requireNonNull(limits, "limits");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
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
        install(app, service, limits, metrics,
                new RoutingModel(RoutingSettings.defaults(), new PrometheusRegistry()));
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
        ApiRoutes routes = new ApiRoutes(service, limits, metrics, routing);
        routes.post(app, "/register", true, routes::register);
        routes.post(app, "/unregister", true, routes::unregister);
        routes.post(app, "/query", false, (b, f) -> routes.query(b, f, QueryRequestReader.Kind.QUERY, "query"));
        routes.post(app, "/query_by_hash", false,
                (b, f) -> routes.query(b, f, QueryRequestReader.Kind.QUERY_BY_HASH, "query_by_hash"));
        routes.post(app, "/route", false, routes::route);
        routes.post(app, "/cache", false, routes::cache);
        routes.post(app, "/feedback", false, routes::feedback);
        routes.get(app, "/global_view",
                f -> {
                    Map<ContextKey, Map<String, Long>> counts = service.prefixCounts();
                    return ResponseBodies.globalView(f, service.registry(), c -> counts.getOrDefault(c, Map.of()));
                });
        routes.get(app, "/services", f -> ResponseBodies.services(f, service.registry(), service::streamState));
    }

    // ---------------------------------------------------------------- routes

    private Reply register(Value.MapValue body, WireFormat format) throws RegistrationException {
        ServiceRegistration registration = RegisterRequestReader.readRegister(body, limits);
        service.register(registration);
        return Reply.ok(ResponseBodies.registered(format, registration.instanceId()));
    }

    private Reply unregister(Value.MapValue body, WireFormat format) throws UnregistrationException {
        ServiceKey key = RegisterRequestReader.readUnregister(body, limits);
        service.unregister(key);
        return Reply.ok(ResponseBodies.unregistered(format, key.toString()));
    }

    private Reply query(Value.MapValue body, WireFormat format, QueryRequestReader.Kind kind, String route) {
        long start = System.nanoTime();
        PromptQuery query = QueryRequestReader.readQuery(body, kind, limits);
        QueryResult result = answer(query);
        byte[] bytes = ResponseBodies.query(format, result);
        metrics.query(route, query.context().modelName(), query.promptTokens(), result, System.nanoTime() - start);
        return Reply.ok(bytes);
    }

    private QueryResult answer(PromptQuery query) {
        // Names that are not valid UTF-8 cannot be hashed: the reference answers an empty result (§3.4).
        return query.hashable() ? service.query(query) : QueryResult.EMPTY;
    }

    private Reply route(Value.MapValue body, WireFormat format) {
        long start = System.nanoTime();
        QueryRequestReader.RouteRequest request = QueryRequestReader.readRoute(body, limits);
        routing.clock(request.clockMillis());
        String policy = request.policy() != null ? request.policy() : routing.settings().defaultPolicy();
        if (policy.equals(RoutingSettings.POLICY_COST)) {
            return costRoute(request, format, start);
        }
        QueryResult result = answer(request.query());
        RoutePolicy.Decision decision = routePolicy.choose(result, request.candidates(), request.loads());
        if (decision == null) {
            throw ApiException.plain(404, "no candidate instance for context: " + describe(request.query().context()));
        }
        byte[] bytes = ResponseBodies.route(format, decision);
        metrics.route(decision.reason());
        metrics.query("route", request.query().context().modelName(), request.query().promptTokens(), result,
                System.nanoTime() - start);
        return Reply.ok(bytes);
    }

    private Reply costRoute(QueryRequestReader.RouteRequest request, WireFormat format, long start) {
        PromptQuery query = request.query();
        ConductorService.RouteLookup lookup = query.hashable() ? service.queryForRoute(query)
                : new ConductorService.RouteLookup(QueryResult.EMPTY, null);
        CostRoutePolicy.Decision decision = routing.policy().choose(lookup.result(), request.candidates(),
                request.loads(), request.loadTokens(), query.promptTokens(), query.context().blockSize(),
                lookup.chain());
        if (decision == null) {
            throw ApiException.plain(404, "no candidate instance for context: " + describe(query.context()));
        }
        byte[] bytes = ResponseBodies.costRoute(format, decision);
        metrics.route(decision.reason());
        metrics.query("route", query.context().modelName(), query.promptTokens(), lookup.result(),
                System.nanoTime() - start);
        return Reply.ok(bytes);
    }

    /** Legacy G1–G3 {@code /cache}: percent of the prompt's blocks each candidate holds as a prefix. */
    private Reply cache(Value.MapValue body, WireFormat format) {
        long start = System.nanoTime();
        OtherRequestReaders.CacheRequest request = OtherRequestReaders.readCache(body, limits);
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

    private void post(Javalin app, String path, boolean admin, BodyHandler handler) {
        String route = path.substring(1);
        for (HandlerType method : METHODS) {
            if (method == HandlerType.POST) {
                app.addHttpHandler(method, path, ctx -> handlePost(ctx, route, admin, handler));
            } else {
                app.addHttpHandler(method, path, ctx -> methodNotAllowed(ctx, route));
            }
        }
    }

    private void get(Javalin app, String path, ViewHandler handler) {
        String route = path.substring(1);
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
                    send(ctx, route, format, reply);
                });
            } else {
                app.addHttpHandler(method, path, ctx -> methodNotAllowed(ctx, route));
            }
        }
    }

    private void methodNotAllowed(Context ctx, String route) {
        WireFormat format = WireFormat.forResponse(ctx.header("Content-Type"), ctx.header("Accept"));
        send(ctx, route, format, error(format, ApiException.plain(405, "Method not allowed")));
    }

    private void handlePost(Context ctx, String route, boolean admin, BodyHandler handler) {
        String contentType = ctx.header("Content-Type");
        WireFormat responseFormat = WireFormat.forResponse(contentType, ctx.header("Accept"));
        Reply reply;
        try {
            if (admin) {
                checkAdminKey(ctx.header("X-API-Key"));
            }
            WireFormat requestFormat = WireFormat.ofContentType(contentType);
            if (requestFormat == null) {
                throw ApiException.badRequest(Reason.UNSUPPORTED_CONTENT_TYPE, null,
                        "Content-Type must be application/msgpack");
            }
            byte[] body = readBody(ctx);
            reply = handler.handle(RequestDecoder.decodeRootMap(requestFormat, body), responseFormat);
        } catch (Exception e) {
            reply = failure(responseFormat, e);
        }
        send(ctx, route, responseFormat, reply);
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

    /** Reads at most the limit; a declared or actual size above it is a 413, before anything is decoded. */
    private byte[] readBody(Context ctx) throws IOException {
        long max = limits.maxBodyBytes();
        long declared = ctx.req().getContentLengthLong();
        if (declared > max) {
            throw tooLarge(max);
        }
        int cap = (int) Math.min(max + 1, Integer.MAX_VALUE - 16);
        try (InputStream in = ctx.req().getInputStream()) {
            if (declared >= 0) {
                return readDeclared(in, (int) declared);
            }
            byte[] body = in.readNBytes(cap);
            if (body.length > max) {
                throw tooLarge(max);
            }
            return body;
        }
    }

    /**
     * Reads a body of known length into one array of that size. {@code readNBytes(n)} would read into 8 KiB
     * chunks and copy them into a second array; the server delivers no more than the declared length.
     */
    private static byte[] readDeclared(InputStream in, int declared) throws IOException {
        byte[] body = new byte[declared];
        int n = 0;
        while (n < declared) {
            int r = in.read(body, n, declared - n);
            if (r < 0) {
                return Arrays.copyOf(body, n); // the client sent less than it declared: decode what came
            }
            n += r;
        }
        return body;
    }

    private static ApiException tooLarge(long max) {
        return ApiException.withReason(413, Reason.PAYLOAD_TOO_LARGE, "request body exceeds " + max + " bytes");
    }

    /** The one place where failures become responses. */
    private static Reply failure(WireFormat format, Exception e) {
        return error(format, switch (e) {
            case ApiException api -> api;
            case RegistrationException r -> r.kind() == RegistrationException.Kind.INVALID
                    ? ApiException.withReason(400, Reason.INVALID_REGISTRATION, r.getMessage())
                    : ApiException.plain(500, "Failed to subscribe: " + r.getMessage());
            case UnregistrationException u -> u.kind() == UnregistrationException.Kind.CLEANUP_FAILED
                    ? ApiException.plain(500, u.getMessage())
                    : ApiException.plain(404, u.getMessage());
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
        return new Reply(e.status(), ResponseBodies.error(format, e));
    }

    /**
     * Writes the body straight to the servlet response: the bodies are small and complete, and Javalin's result
     * path would add per-request ETag and compression checks (header scans) that showed in the query profile.
     */
    private void send(Context ctx, String route, WireFormat format, Reply reply) {
        HttpServletResponse res = ctx.res();
        res.setStatus(reply.status());
        res.setContentType(format.mediaType());
        res.setContentLength(reply.body().length);
        try {
            res.getOutputStream().write(reply.body());
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
