package io.conductor.example.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A cache-aware prefill/decode proxy with an OpenAI-compatible front ({@code POST /v1/completions}, {@code POST
 * /v1/chat/completions}, {@code GET /healthcheck}, {@code GET /v1/models}). Per request it
 * <ol>
 *   <li>tokenizes the prompt through a prefill instance's {@code /tokenize},</li>
 *   <li>asks the conductor's {@code /route} which prefill instance holds the longest prefix (and, for an instance
 *       with several DP ranks, {@code /query} which rank), within {@link ProxyConfig#conductorTimeout()},</li>
 *   <li>sends the prefill ({@code max_tokens} 1, {@code kv_transfer_params.do_remote_decode}),</li>
 *   <li>passes the returned {@code kv_transfer_params} to a decode instance (round robin) and streams its answer
 *       back unchanged,</li>
 *   <li>reports the prefill's {@code usage.prompt_tokens_details.cached_tokens} to the conductor's
 *       {@code /feedback}.</li>
 * </ol>
 * When the conductor is missing, slow, down or answers nonsense, the proxy routes by round robin and logs why
 * (once per change of reason); a request never fails because of the conductor. Response headers
 * {@code X-Conductor-Prefill-Instance}, {@code X-Conductor-Route-Reason}, {@code X-Conductor-Predicted-Tokens} and
 * {@code X-Conductor-Cached-Tokens} (plus {@code X-Conductor-Prompt-Tokens}, {@code X-Conductor-Prefill-Rank},
 * {@code X-Conductor-Decode-Instance}) say what happened. The header {@code X-Routing-Policy: round_robin|cache_aware}
 * overrides the configured policy for one request.
 *
 * <p>Thread-safe: handlers run concurrently on virtual threads; shared state is atomic counters and a concurrent
 * map.
 */
public final class PdProxy implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PdProxy.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ProxyConfig config;
    private final HttpClient http;
    private final @Nullable ConductorClient conductor;
    private final AtomicInteger prefillTurn = new AtomicInteger();
    private final AtomicInteger decodeTurn = new AtomicInteger();
    private final AtomicInteger tokenizeTurn = new AtomicInteger();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong routedByConductor = new AtomicLong();
    private final Map<String, AtomicLong> fallbacks = new ConcurrentHashMap<>();
    /** Estimated uncached prompt tokens of prefills in flight, per instance and DP rank. */
    private final Map<String, AtomicLong[]> inflight = new ConcurrentHashMap<>();
    private volatile String lastFallbackReason = "";
    private final Javalin server;

    /** Where a request's prefill goes and why; {@code work} = estimated uncached tokens it adds there. */
    private record Choice(ProxyConfig.Instance instance, int rank, String reason, long predicted,
                          boolean fromConductor, long work) {
    }

    /**
     * Starts the proxy.
     *
     * @param config settings
     */
    public PdProxy(ProxyConfig config) {
        this.config = config;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).executor(Executors.newVirtualThreadPerTaskExecutor()).build();
        this.conductor = config.conductorUrl() == null ? null
            : new ConductorClient(config.conductorUrl(), config.conductorTimeout(), http);
        this.server = Javalin.create(c -> {
            c.useVirtualThreads = true;
            c.showJavalinBanner = false;
            c.http.disableCompression();
        });
        server.post("/v1/completions", ctx -> handle(ctx, false));
        server.post("/v1/chat/completions", ctx -> handle(ctx, true));
        server.get("/healthcheck", this::healthcheck);
        server.get("/v1/models", ctx -> passthroughGet(ctx, "/v1/models"));
        server.exception(com.fasterxml.jackson.core.JsonProcessingException.class,
            (e, ctx) -> error(ctx, 400, "invalid JSON body: " + e.getOriginalMessage()));
        server.start(config.host(), config.port());
    }

    /**
     * Returns the bound port.
     *
     * @return the port
     */
    public int port() {
        return server.port();
    }

    /**
     * Returns how many requests fell back to round robin, by reason.
     *
     * @return reason to count (a snapshot)
     */
    public Map<String, Long> fallbacks() {
        Map<String, Long> out = new java.util.TreeMap<>();
        fallbacks.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    private void healthcheck(Context ctx) {
        ObjectNode n = JSON.createObjectNode();
        n.put("status", "ok");
        n.put("prefill_instances", config.prefill().size());
        n.put("decode_instances", config.decode().size());
        n.put("policy", config.policy().name().toLowerCase(java.util.Locale.ROOT));
        n.put("conductor", config.conductorUrl() == null ? null : config.conductorUrl().toString());
        n.put("requests", requests.get());
        n.put("routed_by_conductor", routedByConductor.get());
        ObjectNode fb = n.putObject("fallbacks");
        fallbacks().forEach(fb::put);
        ctx.contentType("application/json").result(n.toString());
    }

    private void handle(Context ctx, boolean chat) throws IOException, InterruptedException {
        requests.incrementAndGet();
        JsonNode parsed = JSON.readTree(ctx.body());
        if (parsed == null || !parsed.isObject()) {
            error(ctx, 400, "request body must be a JSON object");
            return;
        }
        ObjectNode request = (ObjectNode) parsed;
        String path = ctx.path();
        String requestId = "pd-" + UUID.randomUUID();
        Choice choice = choosePrefill(request, chat, ctx.header("X-Routing-Policy"));

        ObjectNode prefillBody = request.deepCopy();
        prefillBody.put("stream", false);
        prefillBody.remove("stream_options");
        prefillBody.put("max_tokens", 1);
        if (prefillBody.has("max_completion_tokens")) {
            prefillBody.put("max_completion_tokens", 1);
        }
        ObjectNode kv = prefillBody.putObject("kv_transfer_params");
        kv.put("do_remote_decode", true);
        kv.put("do_remote_prefill", false);
        kv.putNull("remote_engine_id");
        kv.putNull("remote_block_ids");
        kv.putNull("remote_host");
        kv.putNull("remote_port");
        HttpRequest.Builder pre = HttpRequest.newBuilder(choice.instance().url().resolve(path))
            .header("Content-Type", "application/json").header("X-Request-Id", requestId)
            .POST(HttpRequest.BodyPublishers.ofString(prefillBody.toString()));
        if (choice.rank() >= 0) {
            pre.header("X-data-parallel-rank", Integer.toString(choice.rank()));
        }
        HttpResponse<String> prefill;
        AtomicLong load = load(choice.instance(), choice.rank());
        load.addAndGet(choice.work());
        try {
            prefill = http.send(pre.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            error(ctx, 502, "prefill instance " + choice.instance().instanceId() + " failed: " + e.getMessage());
            return;
        } finally {
            load.addAndGet(-choice.work());
        }
        if (prefill.statusCode() != 200) {
            ctx.status(prefill.statusCode()).contentType("application/json").result(prefill.body());
            return;
        }
        JsonNode prefillAnswer = JSON.readTree(prefill.body());
        long cached = prefillAnswer.at("/usage/prompt_tokens_details/cached_tokens").asLong(0);
        long promptTokens = prefillAnswer.at("/usage/prompt_tokens").asLong(0);
        if (choice.fromConductor() && conductor != null) {
            conductor.feedback(choice.instance().instanceId(), choice.predicted(), cached);
        }

        ObjectNode decodeBody = request.deepCopy();
        JsonNode kvOut = prefillAnswer.get("kv_transfer_params");
        if (kvOut != null && !kvOut.isNull()) {
            decodeBody.set("kv_transfer_params", kvOut);
        }
        List<ProxyConfig.Instance> decoders = config.decode();
        ProxyConfig.Instance decoder = decoders.get(Math.floorMod(decodeTurn.getAndIncrement(), decoders.size()));
        ctx.header("X-Conductor-Prefill-Instance", choice.instance().instanceId());
        ctx.header("X-Conductor-Prefill-Rank", Integer.toString(choice.rank()));
        ctx.header("X-Conductor-Route-Reason", choice.reason());
        ctx.header("X-Conductor-Predicted-Tokens", Long.toString(choice.predicted()));
        ctx.header("X-Conductor-Cached-Tokens", Long.toString(cached));
        ctx.header("X-Conductor-Prompt-Tokens", Long.toString(promptTokens));
        ctx.header("X-Conductor-Decode-Instance", decoder.instanceId());
        HttpRequest dec = HttpRequest.newBuilder(decoder.url().resolve(path))
            .header("Content-Type", "application/json").header("X-Request-Id", requestId)
            .POST(HttpRequest.BodyPublishers.ofString(decodeBody.toString())).build();
        HttpResponse<InputStream> decoded;
        try {
            decoded = http.send(dec, HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            error(ctx, 502, "decode instance " + decoder.instanceId() + " failed: " + e.getMessage());
            return;
        }
        ctx.res().setStatus(decoded.statusCode());
        ctx.res().setContentType(decoded.headers().firstValue("Content-Type").orElse("application/json"));
        try (InputStream in = decoded.body()) {
            OutputStream out = ctx.res().getOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
                out.flush();
            }
        }
    }

    @SuppressWarnings("ReferenceEquality") // identity on purpose: did the balancer keep the conductor's own pick?
    private Choice choosePrefill(ObjectNode request, boolean chat, @Nullable String policyHeader) {
        ProxyConfig.RoutingPolicy policy = config.policy();
        if (policyHeader != null && !policyHeader.isBlank()) {
            try {
                policy = ProxyConfig.RoutingPolicy.parse(policyHeader);
            } catch (IllegalArgumentException e) {
                LOG.debug("ignoring X-Routing-Policy: {}", e.getMessage());
            }
        }
        if (policy == ProxyConfig.RoutingPolicy.ROUND_ROBIN) {
            return roundRobin("round_robin");
        }
        ConductorClient c = conductor;
        if (c == null) {
            return fallback("no_conductor", "no --conductor-address configured");
        }
        int[] tokens = tokenize(request, chat);
        if (tokens == null) {
            return fallback("tokenize_failed", "no prefill instance could tokenize the prompt");
        }
        String model = config.model() != null ? config.model() : request.path("model").asText("");
        String salt = request.hasNonNull("cache_salt") ? request.get("cache_salt").asText() : null;
        List<String> ids = new ArrayList<>(config.prefill().size());
        for (ProxyConfig.Instance i : config.prefill()) {
            ids.add(i.instanceId());
        }
        ConductorClient.Outcome outcome = c.route(model, config.blockSize(), config.tenantId(), tokens, ids, null,
            salt);
        if (outcome instanceof ConductorClient.Unavailable u) {
            return fallback(u.reason(), u.detail());
        }
        ConductorClient.Routed routed = (ConductorClient.Routed) outcome;
        ProxyConfig.Instance conductorsChoice = null;
        for (ProxyConfig.Instance i : config.prefill()) {
            if (i.instanceId().equals(routed.instanceId())) {
                conductorsChoice = i;
            }
        }
        if (conductorsChoice == null) {
            return fallback("unknown_instance", "conductor chose " + routed.instanceId()
                + ", which is not a configured prefill instance");
        }
        // The conductor weighs cached prefix against the work it routed itself (its reservations); the proxy also
        // knows each rank's exact queue. Estimate each candidate's time to finish this prefill, in tokens: what it
        // must compute for this prompt plus what is already queued per rank, and take the cheapest. With equal load this is the conductor's choice; a hot instance loses to a cold one only when
        // its queue costs more than the prefix saves.
        ProxyConfig.Instance target = conductorsChoice;
        long targetMatched = routed.longestMatched();
        long best = cost(conductorsChoice, tokens.length, targetMatched);
        for (ProxyConfig.Instance i : config.prefill()) {
            long matched = routed.candidateMatches().getOrDefault(i.instanceId(), 0L);
            long estimate = cost(i, tokens.length, matched);
            if (estimate < best) {
                best = estimate;
                target = i;
                targetMatched = matched;
            }
        }
        int rank = -1;
        if (target.dpSize() > 1) {
            if (targetMatched > 0) {
                rank = c.bestRank(model, config.blockSize(), config.tenantId(), tokens, target.instanceId(), null,
                    salt);
            }
            if (rank < 0) {
                rank = leastLoadedRank(target);
            }
        }
        recovered();
        routedByConductor.incrementAndGet();
        String reason = target == conductorsChoice
            ? (routed.reason().isEmpty() ? "conductor" : routed.reason()) : "load_balanced";
        return new Choice(target, rank, reason, targetMatched, true,
            Math.max(0, tokens.length - targetMatched));
    }

    /** Estimated tokens until a prefill of {@code promptTokens} with {@code matched} cached would finish there. */
    private long cost(ProxyConfig.Instance instance, int promptTokens, long matched) {
        AtomicLong[] ranks = loads(instance);
        long queued = 0;
        for (AtomicLong r : ranks) {
            queued += r.get();
        }
        return Math.max(0, promptTokens - matched) + queued / ranks.length;
    }

    private int leastLoadedRank(ProxyConfig.Instance instance) {
        AtomicLong[] ranks = loads(instance);
        int best = 0;
        for (int r = 1; r < ranks.length; r++) {
            if (ranks[r].get() < ranks[best].get()) {
                best = r;
            }
        }
        return best;
    }

    private AtomicLong[] loads(ProxyConfig.Instance instance) {
        return inflight.computeIfAbsent(instance.instanceId(), k -> {
            AtomicLong[] a = new AtomicLong[Math.max(1, instance.dpSize())];
            for (int r = 0; r < a.length; r++) {
                a[r] = new AtomicLong();
            }
            return a;
        });
    }

    private AtomicLong load(ProxyConfig.Instance instance, int rank) {
        AtomicLong[] ranks = loads(instance);
        return ranks[rank >= 0 && rank < ranks.length ? rank : 0];
    }

    private int @Nullable [] tokenize(ObjectNode request, boolean chat) {
        JsonNode prompt = request.get("prompt");
        if (!chat && prompt != null && prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isInt()) {
            int[] ids = new int[prompt.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = prompt.get(i).asInt();
            }
            return ids;
        }
        ObjectNode body = JSON.createObjectNode();
        body.put("model", request.path("model").asText(""));
        if (chat) {
            body.set("messages", request.get("messages"));
            body.put("add_generation_prompt", true);
        } else {
            body.set("prompt", prompt);
        }
        List<ProxyConfig.Instance> prefill = config.prefill();
        int start = tokenizeTurn.getAndIncrement();
        for (int k = 0; k < prefill.size(); k++) {
            ProxyConfig.Instance i = prefill.get(Math.floorMod(start + k, prefill.size()));
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(i.url().resolve("/tokenize"))
                    .timeout(Duration.ofSeconds(5)).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
                    HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) {
                    continue;
                }
                JsonNode tokens = JSON.readTree(r.body()).path("tokens");
                int[] ids = new int[tokens.size()];
                for (int j = 0; j < ids.length; j++) {
                    ids[j] = tokens.get(j).asInt();
                }
                return ids;
            } catch (IOException e) {
                LOG.debug("tokenize at {} failed: {}", i.instanceId(), e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return null;
    }

    private Choice roundRobin(String reason) {
        List<ProxyConfig.Instance> prefill = config.prefill();
        return new Choice(prefill.get(Math.floorMod(prefillTurn.getAndIncrement(), prefill.size())), -1, reason, 0,
            false, 0);
    }

    private Choice fallback(String reason, String detail) {
        fallbacks.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
        if (!reason.equals(lastFallbackReason)) {
            lastFallbackReason = reason;
            LOG.warn("conductor unavailable ({}): {}; routing prefill by round robin", reason, detail);
        }
        return roundRobin("fallback_" + reason);
    }

    private void recovered() {
        if (!lastFallbackReason.isEmpty()) {
            LOG.info("conductor answers again; cache-aware routing resumed after '{}'", lastFallbackReason);
            lastFallbackReason = "";
        }
    }

    private void passthroughGet(Context ctx, String path) throws IOException, InterruptedException {
        ProxyConfig.Instance d = config.decode().getFirst();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(d.url().resolve(path)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
        ctx.status(r.statusCode()).contentType("application/json").result(r.body());
    }

    private static void error(Context ctx, int status, String message) {
        ObjectNode n = JSON.createObjectNode();
        ObjectNode e = n.putObject("error");
        e.put("message", message);
        e.put("code", status);
        ctx.status(status).contentType("application/json").result(n.toString());
    }

    /**
     * Returns a JSON description for the {@code READY} line.
     *
     * @return JSON with the URL and instances
     */
    public String readyJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("http", "http://" + config.host() + ":" + port());
        ArrayNode p = n.putArray("prefill");
        config.prefill().forEach(i -> p.add(i.instanceId()));
        ArrayNode d = n.putArray("decode");
        config.decode().forEach(i -> d.add(i.instanceId()));
        return n.toString();
    }

    @Override
    public void close() {
        server.stop();
        http.close();
    }
}
