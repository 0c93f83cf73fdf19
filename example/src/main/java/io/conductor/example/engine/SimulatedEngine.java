package io.conductor.example.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A simulated vLLM engine: vLLM's OpenAI-compatible HTTP surface ({@code /tokenize}, {@code /v1/completions},
 * {@code /v1/chat/completions} with SSE streaming, {@code /v1/models}, {@code /metrics}, {@code /health},
 * {@code /reset_prefix_cache}) in front of one {@link EngineRank} per DP rank. Requests carry
 * {@code kv_transfer_params} like vLLM's P/D connectors: {@code do_remote_decode} on a prefill returns the
 * parameters a decode instance needs; {@code do_remote_prefill} on a decode simulates pulling the KV blocks.
 * The header {@code X-data-parallel-rank} picks a rank; otherwise ranks take turns.
 *
 * <p>Test hooks under {@code /sim/}: {@code POST /sim/drop_events?count=N&rank=R} makes a publisher skip the next N
 * live sends (they stay replayable).
 *
 * <p>Thread-safe: request handlers run concurrently on virtual threads; shared state lives in the ranks.
 */
public final class SimulatedEngine implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SimulatedEngine.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final EngineConfig config;
    private final WordTokenizer tokenizer = new WordTokenizer();
    private final BlockHasher hasher;
    private final List<EngineRank> ranks;
    private final AtomicInteger nextRank = new AtomicInteger();
    private final String engineId = UUID.randomUUID().toString();
    private final Javalin http;

    /**
     * Builds the ranks, binds every socket and starts serving.
     *
     * @param config engine settings
     * @param hasherFactory makes the block hasher for (algorithm, seed, block size)
     */
    public SimulatedEngine(EngineConfig config, Function<EngineConfig, BlockHasher> hasherFactory) {
        this.config = config;
        this.hasher = hasherFactory.apply(config);
        List<EngineRank> built = new ArrayList<>();
        try {
            for (int r = 0; r < config.dataParallelSize(); r++) {
                KvEventPublisher publisher = new KvEventPublisher(
                    config.eventsEnabled() ? EngineConfig.rankEndpoint(config.eventsEndpoint(), r)
                        : "inproc://sim-disabled-" + engineId + "-" + r,
                    config.eventsEnabled() && config.replayEndpoint() != null
                        ? EngineConfig.rankEndpoint(config.replayEndpoint(), r) : null,
                    config.topic(), r, config.bufferSteps(), new KvEventEncoder(config.eventEncoding()));
                built.add(new EngineRank(r, new PrefixCache(config.numBlocks(), config.blockSize()), publisher));
            }
            this.ranks = List.copyOf(built);
            this.http = Javalin.create(c -> {
                c.useVirtualThreads = true;
                c.showJavalinBanner = false;
                c.http.disableCompression();
            });
            routes();
            http.start(config.host(), config.port());
        } catch (RuntimeException e) {
            built.forEach(EngineRank::close);
            throw e;
        }
    }

    /**
     * Returns the bound HTTP port.
     *
     * @return the port
     */
    public int port() {
        return http.port();
    }

    /**
     * Returns the DP ranks.
     *
     * @return ranks in order
     */
    public List<EngineRank> ranks() {
        return ranks;
    }

    /**
     * Returns the engine id reported in {@code kv_transfer_params.remote_engine_id}.
     *
     * @return the engine id
     */
    public String engineId() {
        return engineId;
    }

    /**
     * Returns the machine-readable startup description printed after {@code READY}.
     *
     * @return JSON with the HTTP URL and each rank's endpoints
     */
    public String readyJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("http", "http://" + config.host() + ":" + port());
        n.put("model", config.model());
        n.put("engine_id", engineId);
        n.put("block_size", config.blockSize());
        n.put("hash_algorithm", config.hashAlgorithm());
        n.put("python_hash_seed", config.hashSeed());
        ArrayNode rs = n.putArray("ranks");
        for (EngineRank r : ranks) {
            ObjectNode o = rs.addObject();
            o.put("rank", r.rank());
            if (config.eventsEnabled()) {
                o.put("endpoint", r.publisher().endpoint());
                o.put("replay_endpoint", r.publisher().replayEndpoint());
            }
        }
        return n.toString();
    }

    private void routes() {
        http.get("/health", ctx -> ctx.status(200));
        http.get("/v1/models", this::models);
        http.post("/tokenize", this::tokenize);
        http.post("/v1/completions", ctx -> generate(ctx, false));
        http.post("/v1/chat/completions", ctx -> generate(ctx, true));
        http.get("/metrics", this::metrics);
        http.post("/reset_prefix_cache", ctx -> {
            boolean all = true;
            for (EngineRank r : ranks) {
                all &= r.resetPrefixCache();
            }
            ctx.status(all ? 200 : 409);
        });
        http.post("/sim/drop_events", ctx -> {
            int count = intParam(ctx, "count", 1);
            int rank = intParam(ctx, "rank", 0);
            rank(rank).publisher().dropNext(count);
            ctx.json(Map.of("rank", rank, "dropping", count));
        });
        http.exception(BadRequest.class, (e, ctx) -> error(ctx, 400, String.valueOf(e.getMessage())));
        http.exception(com.fasterxml.jackson.core.JsonProcessingException.class,
            (e, ctx) -> error(ctx, 400, "invalid JSON body: " + e.getOriginalMessage()));
    }

    private void models(Context ctx) {
        ObjectNode n = JSON.createObjectNode();
        n.put("object", "list");
        ArrayNode data = n.putArray("data");
        List<String> names = new ArrayList<>();
        names.add(config.model());
        names.addAll(config.loraModules());
        for (String name : names) {
            ObjectNode m = data.addObject();
            m.put("id", name);
            m.put("object", "model");
            m.put("owned_by", "vllm");
            m.put("max_model_len", config.maxModelLen());
        }
        ctx.contentType("application/json").result(n.toString());
    }

    private void tokenize(Context ctx) throws IOException {
        JsonNode body = JSON.readTree(ctx.body());
        int[] tokens = promptTokens(body, body.has("messages"));
        ObjectNode n = JSON.createObjectNode();
        n.put("count", tokens.length);
        n.put("max_model_len", config.maxModelLen());
        ArrayNode ids = n.putArray("tokens");
        for (int t : tokens) {
            ids.add(t);
        }
        n.putNull("token_strs");
        ctx.contentType("application/json").result(n.toString());
    }

    private int[] promptTokens(JsonNode body, boolean chat) {
        if (body == null || !body.isObject()) {
            throw new BadRequest("request body must be a JSON object");
        }
        if (chat) {
            JsonNode messages = body.get("messages");
            if (messages == null || !messages.isArray()) {
                throw new BadRequest("messages must be an array");
            }
            List<WordTokenizer.ChatMessage> list = new ArrayList<>();
            for (JsonNode m : messages) {
                list.add(new WordTokenizer.ChatMessage(m.path("role").asText("user"), contentText(m.get("content"))));
            }
            return tokenizer.encodeChat(list, body.path("add_generation_prompt").asBoolean(true));
        }
        JsonNode prompt = body.get("prompt");
        if (prompt == null || prompt.isNull()) {
            throw new BadRequest("prompt is required");
        }
        if (prompt.isTextual()) {
            return tokenizer.encode(prompt.asText());
        }
        if (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual()) {
            return tokenizer.encode(prompt.get(0).asText());
        }
        if (prompt.isArray()) {
            int[] ids = new int[prompt.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!prompt.get(i).canConvertToInt()) {
                    throw new BadRequest("prompt must be a string or an array of token ids");
                }
                ids[i] = prompt.get(i).asInt();
            }
            return ids;
        }
        throw new BadRequest("prompt must be a string or an array of token ids");
    }

    private static String contentText(@Nullable JsonNode content) {
        if (content == null || content.isNull()) {
            return "";
        }
        if (content.isTextual()) {
            return content.asText();
        }
        StringBuilder sb = new StringBuilder();
        for (JsonNode part : content) {
            if (part.path("type").asText().equals("text")) {
                sb.append(part.path("text").asText());
            }
        }
        return sb.toString();
    }

    private EngineRank rank(int r) {
        if (r < 0 || r >= ranks.size()) {
            throw new BadRequest("data parallel rank " + r + " out of range [0, " + ranks.size() + ")");
        }
        return ranks.get(r);
    }

    private void generate(Context ctx, boolean chat) throws Exception {
        JsonNode body = JSON.readTree(ctx.body());
        int[] tokens = promptTokens(body, chat);
        if (tokens.length == 0) {
            throw new BadRequest("the prompt is empty");
        }
        String model = body.path("model").asText(config.model());
        String loraName = null;
        Integer loraId = null;
        int loraIndex = config.loraModules().indexOf(model);
        if (loraIndex >= 0) {
            loraName = model;
            loraId = loraIndex + 1;
        } else if (!model.equals(config.model())) {
            error(ctx, 404, "The model `" + model + "` does not exist.");
            return;
        }
        int maxTokens = body.path(chat && body.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens")
            .asInt(16);
        if (maxTokens < 1) {
            throw new BadRequest("max_tokens must be at least 1, got " + maxTokens);
        }
        if (tokens.length + maxTokens > config.maxModelLen()) {
            throw new BadRequest("This model's maximum context length is " + config.maxModelLen()
                + " tokens. However, you requested " + (tokens.length + maxTokens) + " tokens.");
        }
        String salt = body.hasNonNull("cache_salt") ? body.get("cache_salt").asText() : null;
        JsonNode kvIn = body.get("kv_transfer_params");
        boolean remoteDecode = kvIn != null && kvIn.path("do_remote_decode").asBoolean(false);
        boolean remotePrefill = kvIn != null && kvIn.path("do_remote_prefill").asBoolean(false);
        if (remoteDecode) {
            maxTokens = 1;
        }
        String rankHeader = ctx.header("X-data-parallel-rank");
        EngineRank rank = rankHeader != null ? rank(parseRank(rankHeader))
            : ranks.get(Math.floorMod(nextRank.getAndIncrement(), ranks.size()));
        boolean stream = body.path("stream").asBoolean(false);
        boolean includeUsage = body.path("stream_options").path("include_usage").asBoolean(false);

        long[] hashes = hasher.hashBlocks(tokens, tokens.length, loraName, salt);
        PrefixCache.Allocation alloc;
        try {
            alloc = rank.admit(hashes, tokens, loraId, loraName, salt);
        } catch (IllegalArgumentException e) {
            throw new BadRequest(String.valueOf(e.getMessage()));
        }
        int generated = 0;
        try {
            int uncached = tokens.length - alloc.cachedTokens();
            if (remotePrefill) {
                // The KV arrives from the prefill instance; only the transfer is simulated, not a prefill.
                Thread.sleep((long) (uncached * 1000.0 / config.kvTransferTokensPerSecond()));
            } else {
                rank.prefill((long) (uncached * 1e9 / config.prefillTokensPerSecond()) + 200_000);
            }
            long fingerprint = hashes.length > 0 ? hashes[hashes.length - 1] : tokens.length;
            String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
            long created = System.currentTimeMillis() / 1000;
            ObjectNode kvOut = remoteDecode ? kvTransferOut(alloc, rank) : null;
            if (stream) {
                generated = streamReply(ctx, chat, id, created, model, fingerprint, maxTokens, tokens.length,
                    alloc.cachedTokens(), includeUsage, kvOut);
            } else {
                StringBuilder text = new StringBuilder();
                for (int i = 0; i < maxTokens; i++) {
                    if (i > 0) {
                        sleepDecodeStep();
                    }
                    text.append(tokenizer.replyToken(fingerprint, i));
                }
                generated = maxTokens;
                ObjectNode n = envelope(id, chat ? "chat.completion" : "text_completion", created, model);
                ObjectNode choice = n.putArray("choices").addObject();
                choice.put("index", 0);
                if (chat) {
                    ObjectNode msg = choice.putObject("message");
                    msg.put("role", "assistant");
                    msg.put("content", text.toString());
                } else {
                    choice.put("text", text.toString());
                }
                choice.putNull("logprobs");
                choice.put("finish_reason", "length");
                choice.putNull("stop_reason");
                n.set("usage", usage(tokens.length, generated, alloc.cachedTokens()));
                if (kvOut != null) {
                    n.set("kv_transfer_params", kvOut);
                } else {
                    n.putNull("kv_transfer_params");
                }
                ctx.contentType("application/json").result(n.toString());
            }
        } finally {
            rank.finish(alloc, generated);
        }
    }

    private int streamReply(Context ctx, boolean chat, String id, long created, String model, long fingerprint,
                            int maxTokens, int promptTokens, int cachedTokens, boolean includeUsage,
                            @Nullable ObjectNode kvOut) throws IOException, InterruptedException {
        ctx.res().setStatus(200);
        ctx.res().setContentType("text/event-stream");
        ctx.res().setHeader("Cache-Control", "no-cache");
        OutputStream out = ctx.res().getOutputStream();
        String object = chat ? "chat.completion.chunk" : "text_completion";
        if (chat) {
            ObjectNode first = envelope(id, object, created, model);
            ObjectNode c = first.putArray("choices").addObject();
            c.put("index", 0);
            ObjectNode delta = c.putObject("delta");
            delta.put("role", "assistant");
            delta.put("content", "");
            c.putNull("logprobs");
            c.putNull("finish_reason");
            sse(out, first.toString());
        }
        for (int i = 0; i < maxTokens; i++) {
            if (i > 0) {
                sleepDecodeStep();
            }
            ObjectNode n = envelope(id, object, created, model);
            ObjectNode c = n.putArray("choices").addObject();
            c.put("index", 0);
            String tok = tokenizer.replyToken(fingerprint, i);
            if (chat) {
                c.putObject("delta").put("content", tok);
            } else {
                c.put("text", tok);
            }
            c.putNull("logprobs");
            if (i == maxTokens - 1) {
                c.put("finish_reason", "length");
            } else {
                c.putNull("finish_reason");
            }
            c.putNull("stop_reason");
            if (i == maxTokens - 1 && kvOut != null) {
                n.set("kv_transfer_params", kvOut);
            }
            sse(out, n.toString());
        }
        if (includeUsage) {
            ObjectNode u = envelope(id, object, created, model);
            u.putArray("choices");
            u.set("usage", usage(promptTokens, maxTokens, cachedTokens));
            sse(out, u.toString());
        }
        sse(out, "[DONE]");
        return maxTokens;
    }

    private static void sse(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private void sleepDecodeStep() throws InterruptedException {
        long nanos = (long) (config.decodeMillisPerToken() * 1e6);
        if (nanos > 0) {
            Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        }
    }

    private ObjectNode kvTransferOut(PrefixCache.Allocation alloc, EngineRank rank) {
        ObjectNode kv = JSON.createObjectNode();
        kv.put("do_remote_prefill", true);
        kv.put("do_remote_decode", false);
        ArrayNode blocks = kv.putArray("remote_block_ids");
        for (int b : alloc.blockIds()) {
            blocks.add(b);
        }
        kv.put("remote_engine_id", engineId);
        kv.put("remote_host", config.host());
        kv.put("remote_port", port());
        kv.put("remote_dp_rank", rank.rank());
        kv.put("tp_size", 1);
        return kv;
    }

    private static ObjectNode envelope(String id, String object, long created, String model) {
        ObjectNode n = JSON.createObjectNode();
        n.put("id", id);
        n.put("object", object);
        n.put("created", created);
        n.put("model", model);
        return n;
    }

    private static ObjectNode usage(int prompt, int completion, int cached) {
        ObjectNode u = JSON.createObjectNode();
        u.put("prompt_tokens", prompt);
        u.put("total_tokens", prompt + completion);
        u.put("completion_tokens", completion);
        u.putObject("prompt_tokens_details").put("cached_tokens", cached);
        return u;
    }

    private static int intParam(Context ctx, String name, int dflt) {
        String v = ctx.queryParam(name);
        try {
            return v == null ? dflt : Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new BadRequest(name + " must be an integer, was " + v);
        }
    }

    private static int parseRank(String header) {
        try {
            return Integer.parseInt(header.trim());
        } catch (NumberFormatException e) {
            throw new BadRequest("X-data-parallel-rank must be an integer, was " + header);
        }
    }

    private void metrics(Context ctx) {
        StringBuilder sb = new StringBuilder();
        String model = config.model().replace("\\", "\\\\").replace("\"", "\\\"");
        gauge(sb, "vllm:num_requests_running", "Number of requests in model execution batches.", model,
            r -> Long.toString(r.running()));
        gauge(sb, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", model,
            r -> Long.toString(r.waiting()));
        gauge(sb, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", model,
            r -> String.format(Locale.ROOT, "%.6f", r.cache().usage()));
        counter(sb, "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
            model, r -> r.cache().queryTokens());
        counter(sb, "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", model,
            r -> r.cache().hitTokens());
        counter(sb, "vllm:prompt_tokens", "Number of prefill tokens processed.", model, EngineRank::promptTokens);
        counter(sb, "vllm:generation_tokens", "Number of generation tokens processed.", model,
            EngineRank::generationTokens);
        counter(sb, "vllm:request_success", "Count of successfully processed requests.", model,
            EngineRank::finishedRequests);
        ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(sb.toString());
    }

    private void gauge(StringBuilder sb, String name, String help, String model, Function<EngineRank, String> v) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(" gauge\n");
        for (EngineRank r : ranks) {
            sb.append(name).append("{engine=\"").append(r.rank()).append("\",model_name=\"").append(model)
                .append("\"} ").append(v.apply(r)).append('\n');
        }
    }

    private void counter(StringBuilder sb, String name, String help, String model,
                         java.util.function.ToLongFunction<EngineRank> v) {
        sb.append("# HELP ").append(name).append("_total ").append(help).append('\n');
        sb.append("# TYPE ").append(name).append("_total counter\n");
        for (EngineRank r : ranks) {
            sb.append(name).append("_total{engine=\"").append(r.rank()).append("\",model_name=\"").append(model)
                .append("\"} ").append(v.applyAsLong(r)).append(".0\n");
        }
    }

    private static void error(Context ctx, int status, String message) {
        ObjectNode n = JSON.createObjectNode();
        ObjectNode e = n.putObject("error");
        e.put("message", message);
        e.put("type", status == 404 ? "NotFoundError" : "BadRequestError");
        e.putNull("param");
        e.put("code", status);
        ctx.status(status).contentType("application/json").result(n.toString());
    }

    /** A client error reported as vLLM's 400 error body. */
    static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message);
        }
    }

    @Override
    public void close() {
        try {
            http.stop();
        } catch (RuntimeException e) {
            LOG.debug("HTTP stop failed", e);
        }
        ranks.forEach(EngineRank::close);
    }
}
