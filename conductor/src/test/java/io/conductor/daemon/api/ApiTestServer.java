package io.conductor.daemon.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.service.EndpointOnlyStreams;
import io.conductor.daemon.service.EventMetrics;
import io.conductor.daemon.service.EventStreams;
import io.conductor.daemon.service.IndexMetrics;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.daemon.service.IndexedStreams;
import io.conductor.daemon.service.LocalConductorService;
import io.conductor.daemon.service.QueryHashing;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.IndexBatch;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixIndexConfig;
import io.conductor.index.prefix.RankHandle;
import io.conductor.index.prefix.Tier;
import io.javalin.Javalin;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * A real conductor API on an ephemeral port (Javalin + the real registry + the current index, hashing and stream
 * implementations) and a real HTTP client that speaks msgpack or JSON. Not thread-safe for setup; requests may
 * run concurrently.
 */
final class ApiTestServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    final PrefixIndex<HashProfileSpec> index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(64L << 20));
    final QueryHashing hashing = new QueryHashing();
    final ServiceRegistry registry;
    final LocalConductorService service;
    final PrometheusRegistry prometheus = new PrometheusRegistry();
    final Javalin app;
    final ApiMetrics apiMetrics;
    final EventStreams events;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    final RoutingModel routing;
    /** "METHOD path" of each request that went through Javalin's pipeline (its request logger ran). */
    final Queue<String> javalinRequests = new ConcurrentLinkedQueue<>();

    ApiTestServer() {
        this(ApiLimits.defaults());
    }

    ApiTestServer(ApiLimits limits) {
        this(limits, new EndpointOnlyStreams());
    }

    /** A server with an endpoint policy (allowlist, wildcard binds). */
    ApiTestServer(ApiLimits limits, EndpointPolicy endpoints) {
        this(limits, new EndpointOnlyStreams(), MemoryBudget.forHeap(), endpoints);
    }

    /** A server with its own request memory budget. */
    ApiTestServer(ApiLimits limits, MemoryBudget budget) {
        this(limits, new EndpointOnlyStreams(), budget, EndpointPolicy.defaults());
    }

    /** A server whose subscriptions are real ZMQ streams when {@code events} is {@link ZmqEventStreams}. */
    ApiTestServer(ApiLimits limits, EventStreams events) {
        this(limits, events, MemoryBudget.forHeap(), EndpointPolicy.defaults(), RoutingSettings.defaults());
    }

    /** The same with the given {@code routing} settings (cost policy); its meters are on {@link #prometheus}. */
    ApiTestServer(ApiLimits limits, EventStreams events, RoutingSettings routingSettings) {
        this(limits, events, MemoryBudget.forHeap(), EndpointPolicy.defaults(), routingSettings);
    }

    private MemoryBudget budget;

    /** The request memory budget the routes admit with. */
    MemoryBudget budget() {
        return budget;
    }

    ApiTestServer(ApiLimits limits, EventStreams events, MemoryBudget budget, EndpointPolicy endpoints) {
        this(limits, events, budget, endpoints, RoutingSettings.defaults());
    }

    ApiTestServer(ApiLimits limits, EventStreams events, MemoryBudget budget, EndpointPolicy endpoints,
            RoutingSettings routingSettings) {
        this.budget = budget;
        this.events = events;
        registry = new ServiceRegistry(new IndexedStreams(index, events));
        service = new LocalConductorService(registry, index, hashing, events);
        IndexMetrics.register(prometheus, index, registry);
        routing = new RoutingModel(routingSettings, prometheus);
        routing.follow(registry);
        if (events instanceof ZmqEventStreams zmq) {
            EventMetrics.register(prometheus, zmq);
            zmq.onStoredBlocks(routing.storedBlocksListener());
        }
        app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.requestLogger.http((ctx, millis) -> javalinRequests.add(ctx.method() + " " + ctx.path()));
        });
        apiMetrics = new ApiMetrics(prometheus);
        apiMetrics.follow(registry);
        ApiRoutes.install(app, service, limits, apiMetrics, budget, endpoints, routing);
        app.get("/metrics", ctx -> {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            new PrometheusTextFormatWriter(false).write(out, prometheus.scrape());
            ctx.contentType("text/plain; version=0.0.4").result(out.toByteArray());
        });
        app.start("127.0.0.1", 0);
    }

    /** The handle the registered (instance, rank) owns (registration is idempotent in the index). */
    RankHandle rank(ContextKey context, String instance, int dpRank) throws Exception {
        RegistrySnapshot.Context c = registry.snapshot().contexts().get(context);
        HashProfileSpec profile = c == null || c.profile() == null ? IndexedStreams.REHASH_KEY : c.profile();
        return index.register(context, profile, instance, dpRank);
    }

    /** Applies GPU stores of the given hashes for a registered rank, as its event stream would. */
    void storeGpu(ContextKey context, String instance, int dpRank, long... hashes) throws Exception {
        storeGpu(context, "", instance, dpRank, hashes);
    }

    /** The same under a LoRA adapter name. */
    void storeGpu(ContextKey context, String lora, String instance, int dpRank, long... hashes) throws Exception {
        index.apply(new IndexBatch().store(rank(context, instance, dpRank), lora, Tier.GPU, 0, false, hashes, 0,
                hashes.length));
    }

    private PoolStream pool;

    /** Applies a shared-pool store (Mooncake) of one block. */
    void storePool(ContextKey context, Tier tier, long hash) {
        if (pool == null) {
            pool = index.openPoolStream("test-pool");
        }
        index.apply(new IndexBatch().poolStore(pool, context, "", "pool-a", "obj-" + tier + "-" + hash, tier, hash));
    }

    /** The real chain's hashes of a prompt in a registered context. */
    long[] hashes(ContextKey context, int[] tokens) {
        return hashes(context, tokens, "");
    }

    /** The same under a LoRA adapter name. */
    long[] hashes(ContextKey context, int[] tokens, String lora) {
        var c = registry.snapshot().contexts().get(context);
        var chain = hashing.chain(c.profile(), context.blockSize(), tokens, lora, null);
        long[] out = new long[chain.blockCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = chain.blockHash(i);
        }
        return out;
    }

    String base() {
        return "http://127.0.0.1:" + app.port();
    }

    /** A decoded response: status, content type and body as plain Java values (maps, lists, Long, String). */
    record Response(int status, String contentType, Object body) {
        @SuppressWarnings("unchecked")
        Map<String, Object> map() {
            return (Map<String, Object>) body;
        }
    }

    Response post(String path, WireFormat format, Map<String, ?> body) throws Exception {
        return send(path, "POST", format.mediaType(), encode(format, body), Map.of());
    }

    Response send(String path, String method, String contentType, byte[] body, Map<String, String> headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30))
                .method(method, HttpRequest.BodyPublishers.ofByteArray(body));
        if (!contentType.isEmpty()) {
            b.header("Content-Type", contentType);
        }
        headers.forEach(b::header);
        HttpResponse<byte[]> r = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        return decode(r);
    }

    Response get(String path, String accept) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30));
        if (!accept.isEmpty()) {
            b.header("Accept", accept);
        }
        return decode(client.send(b.GET().build(), HttpResponse.BodyHandlers.ofByteArray()));
    }

    String metricsText() throws IOException, InterruptedException {
        return new String(client.send(HttpRequest.newBuilder(URI.create(base() + "/metrics")).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray()).body(), StandardCharsets.UTF_8);
    }

    private static Response decode(HttpResponse<byte[]> r) throws IOException {
        String type = r.headers().firstValue("Content-Type").orElse("");
        Object body;
        if (type.contains("msgpack")) {
            try (MessageUnpacker u = MessagePack.newDefaultUnpacker(r.body())) {
                body = read(u);
            }
        } else if (type.contains("json")) {
            body = normalize(JSON.readValue(r.body(), Object.class));
        } else {
            body = new String(r.body(), StandardCharsets.UTF_8);
        }
        return new Response(r.statusCode(), type, body);
    }

    /** JSON numbers become Long so both formats compare equal. */
    @SuppressWarnings("unchecked")
    private static Object normalize(Object o) {
        if (o == null) {
            return NIL;
        }
        if (o instanceof Integer i) {
            return i.longValue();
        }
        if (o instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            ((Map<String, Object>) m).forEach((k, v) -> out.put(k, normalize(v)));
            return out;
        }
        if (o instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object e : l) {
                out.add(normalize(e));
            }
            return out;
        }
        return o;
    }

    private static Object read(MessageUnpacker u) throws IOException {
        ValueType t = u.getNextFormat().getValueType();
        switch (t) {
            case NIL -> {
                u.unpackNil();
                return NIL;
            }
            case INTEGER -> {
                return u.unpackLong();
            }
            case STRING -> {
                return u.unpackString();
            }
            case BOOLEAN -> {
                return u.unpackBoolean();
            }
            case ARRAY -> {
                int n = u.unpackArrayHeader();
                List<Object> out = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    out.add(read(u));
                }
                return out;
            }
            case MAP -> {
                int n = u.unpackMapHeader();
                Map<String, Object> out = new LinkedHashMap<>();
                for (int i = 0; i < n; i++) {
                    out.put(u.unpackString(), read(u));
                }
                return out;
            }
            default -> throw new IOException("unexpected msgpack type in a response: " + t);
        }
    }

    /** Stands for nil / null in decoded bodies (maps cannot hold Java null values from JSON reliably). */
    static final Object NIL = new Object() {
        @Override
        public String toString() {
            return "NIL";
        }
    };

    static byte[] encode(WireFormat format, Object body) throws IOException {
        if (format == WireFormat.JSON) {
            return JSON.writeValueAsBytes(body);
        }
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        pack(p, body);
        return p.toByteArray();
    }

    private static void pack(MessageBufferPacker p, Object o) throws IOException {
        switch (o) {
            case null -> p.packNil();
            case String s -> p.packString(s);
            case Integer i -> p.packInt(i);
            case Long l -> p.packLong(l);
            case BigInteger b -> p.packBigInteger(b);
            case Double d -> p.packDouble(d);
            case Boolean b -> p.packBoolean(b);
            case byte[] b -> {
                p.packBinaryHeader(b.length);
                p.writePayload(b);
            }
            case List<?> l -> {
                p.packArrayHeader(l.size());
                for (Object e : l) {
                    pack(p, e);
                }
            }
            case Map<?, ?> m -> {
                p.packMapHeader(m.size());
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    pack(p, e.getKey());
                    pack(p, e.getValue());
                }
            }
            default -> throw new IllegalArgumentException("cannot pack " + o.getClass());
        }
    }

    /** An ordered map from alternating keys and values. */
    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static Map<String, Object> profile() {
        return map("strategy", "vllm_v1", "algorithm", "sha256_cbor", "python_hash_seed", "0",
                "index_projection", "low64_be");
    }

    /** A complete, valid vLLM registration. */
    static Map<String, Object> registration(String instance, int rank, String endpoint) {
        return map("endpoint", endpoint, "type", "vLLM", "modelname", "qwen", "instance_id", instance,
                "block_size", 16, "hash_profile", profile(), "dp_rank", rank);
    }

    @Override
    public void close() {
        app.stop();
        for (var s : registry.snapshot().services()) {
            try {
                registry.unregister(s.registration().key());
            } catch (Exception e) {
                // best effort in tests
            }
        }
        if (events instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
