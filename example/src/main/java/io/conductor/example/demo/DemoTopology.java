package io.conductor.example.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The demo's processes on loopback: the conductor daemon, simulated prefill engines (the last one with several DP
 * ranks), one simulated decode engine and the cache-aware proxy, each its own JVM with fixed ports so that any of
 * them can be killed and restarted in place. Engines are registered with the conductor over its HTTP API, one
 * registration per DP rank, exactly as an operator would.
 *
 * <p>Not thread-safe: one thread drives the topology (the workload may run concurrently against its URLs).
 * {@link #close} stops every process it started.
 */
public final class DemoTopology implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration START_TIMEOUT = Duration.ofMinutes(2);

    /** Name the simulated engines serve and register. */
    public static final String MODEL = "sim-qwen";

    private final Spec spec;
    private final Path logDir;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    private final List<Engine> prefill = new ArrayList<>();
    private final Engine decode;
    private final int conductorPort;
    private final int proxyPort;
    private @Nullable ChildJvm conductor;
    private @Nullable ChildJvm proxy;

    /**
     * Shape and speed of the topology.
     *
     * @param prefillEngines number of prefill engines
     * @param lastEngineDpSize DP ranks of the last prefill engine
     * @param blockSize tokens per block
     * @param blocksPerRank pool size of each rank
     * @param prefillTokensPerSecond simulated prefill speed
     * @param decodeMillisPerToken simulated decode step
     * @param conductorTimeoutMillis the proxy's conductor timeout
     */
    public record Spec(int prefillEngines, int lastEngineDpSize, int blockSize, int blocksPerRank,
                       double prefillTokensPerSecond, double decodeMillisPerToken, int conductorTimeoutMillis) {
        /**
         * The demo's default: 3 prefill engines (the last with 2 DP ranks), block 16, 160 blocks per rank, prefill
         * at 800 tokens/s: slow enough that cache hits and queues, not the extra tokenize and route hops or the
         * machine's load, decide the time to first token; conductor timeout 500 ms.
         */
        public static final Spec DEFAULT = new Spec(3, 2, 16, 160, 800, 1.5, 500);
    }

    /**
     * One simulated engine: fixed HTTP and ZMQ ports, restartable in place.
     */
    public static final class Engine {
        private final String instanceId;
        private final String role;
        private final int httpPort;
        private final int eventsBase;
        private final int replayBase;
        private final int dpSize;
        private @Nullable ChildJvm process;

        Engine(String instanceId, String role, int httpPort, int eventsBase, int replayBase, int dpSize) {
            this.instanceId = instanceId;
            this.role = role;
            this.httpPort = httpPort;
            this.eventsBase = eventsBase;
            this.replayBase = replayBase;
            this.dpSize = dpSize;
        }

        /** Returns the conductor instance id. */
        public String instanceId() {
            return instanceId;
        }

        /** Returns the vLLM {@code kv_role}: {@code kv_producer} or {@code kv_consumer}. */
        public String role() {
            return role;
        }

        /** Returns the HTTP base URL. */
        public URI url() {
            return URI.create("http://127.0.0.1:" + httpPort);
        }

        /** Returns number of DP ranks. */
        public int dpSize() {
            return dpSize;
        }

        /**
         * Returns the PUB endpoint of a rank.
         *
         * @param rank the DP rank
         * @return {@code tcp://127.0.0.1:port}
         */
        public String eventsEndpoint(int rank) {
            return "tcp://127.0.0.1:" + (eventsBase + rank);
        }

        /**
         * Returns the replay endpoint of a rank.
         *
         * @param rank the DP rank
         * @return {@code tcp://127.0.0.1:port}
         */
        public String replayEndpoint(int rank) {
            return "tcp://127.0.0.1:" + (replayBase + rank);
        }

        /** Returns the engine's process, or {@code null} while stopped. */
        public @Nullable ChildJvm process() {
            return process;
        }
    }

    /** HTTP ports the docs' examples use (conductor, proxy, first prefill engine, decode engine). */
    public static final int DOCUMENTED_CONDUCTOR_PORT = 13333;
    /** The proxy's documented port. */
    public static final int DOCUMENTED_PROXY_PORT = 8000;
    /** The first prefill engine's documented port; engine {@code i} uses {@code 8010 + i}. */
    public static final int DOCUMENTED_PREFILL_PORT = 8010;
    /** The decode engine's documented port. */
    public static final int DOCUMENTED_DECODE_PORT = 8020;

    private DemoTopology(Spec spec, Path logDir, boolean documentedPorts) {
        this.spec = spec;
        this.logDir = logDir;
        this.conductorPort = documentedPorts ? FreePorts.preferring(DOCUMENTED_CONDUCTOR_PORT) : FreePorts.one();
        this.proxyPort = documentedPorts ? FreePorts.preferring(DOCUMENTED_PROXY_PORT) : FreePorts.one();
        for (int i = 0; i < spec.prefillEngines(); i++) {
            int dp = i == spec.prefillEngines() - 1 ? spec.lastEngineDpSize() : 1;
            int base = FreePorts.consecutive(2 * dp);
            int http = documentedPorts ? FreePorts.preferring(DOCUMENTED_PREFILL_PORT + i) : FreePorts.one();
            prefill.add(new Engine("prefill-" + i, "kv_producer", http, base, base + dp, dp));
        }
        int base = FreePorts.consecutive(2);
        decode = new Engine("decode-0", "kv_consumer",
            documentedPorts ? FreePorts.preferring(DOCUMENTED_DECODE_PORT) : FreePorts.one(), base, base + 1, 1);
    }

    /**
     * Starts every process in parallel, waits until all serve, and registers the engines.
     *
     * @param spec topology shape
     * @param logDir directory for the processes' logs
     * @return the running topology
     */
    public static DemoTopology start(Spec spec, Path logDir) {
        return start(spec, logDir, false);
    }

    /**
     * Starts every process, on the ports the docs' examples use where they are free ({@code --serve}, so that the
     * examples work as written), else on free ports.
     *
     * @param spec topology shape
     * @param logDir directory for the processes' logs
     * @param documentedPorts prefer the documented HTTP ports (13333, 8000, 8010.., 8020)
     * @return the running topology
     */
    public static DemoTopology start(Spec spec, Path logDir, boolean documentedPorts) {
        DemoTopology t = new DemoTopology(spec, logDir, documentedPorts);
        try {
            t.startConductor();
            for (Engine e : t.prefill) {
                t.startEngine(e);
            }
            t.startEngine(t.decode);
            t.startProxy();
            t.awaitConductor();
            for (Engine e : t.allEngines()) {
                t.awaitEngine(e);
            }
            requireProcess(t.proxy).awaitReady(START_TIMEOUT);
            t.registerAll();
            return t;
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /** Returns the prefill engines in order. */
    public List<Engine> prefill() {
        return List.copyOf(prefill);
    }

    /** Returns the decode engine. */
    public Engine decode() {
        return decode;
    }

    /** Returns every engine, prefill first. */
    public List<Engine> allEngines() {
        List<Engine> all = new ArrayList<>(prefill);
        all.add(decode);
        return all;
    }

    /** Returns the conductor's base URL. */
    public URI conductorUrl() {
        return URI.create("http://127.0.0.1:" + conductorPort);
    }

    /** Returns the proxy's base URL. */
    public URI proxyUrl() {
        return URI.create("http://127.0.0.1:" + proxyPort);
    }

    /** Returns the directory with every process's log. */
    public Path logDir() {
        return logDir;
    }

    /** Returns the conductor process, or {@code null} while stopped. */
    public @Nullable ChildJvm conductor() {
        return conductor;
    }

    private static ChildJvm requireProcess(@Nullable ChildJvm p) {
        if (p == null) {
            throw new IllegalStateException("process not running");
        }
        return p;
    }

    private void startConductor() {
        Path config = logDir.resolve("conductor_config.json");
        try {
            // A local snapshot file in the demo's (fresh) log directory: written on stop, and GET /snapshot works,
            // as docs/api.md shows.
            String snapshot = logDir.resolve("index.snap").toString().replace("\\", "\\\\").replace("\"", "\\\"");
            Files.writeString(config, "{\"http_server_port\": " + conductorPort + ", \"kvevent_instance\": {}, "
                + "\"snapshot\": {\"path\": \"" + snapshot + "\", \"interval_seconds\": 0}}\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        conductor = ChildJvm.start("conductor", "io.conductor.daemon.Main",
            List.of("--config", config.toString(), "--port", Integer.toString(conductorPort), "--host", "127.0.0.1"),
            Map.of("CONDUCTOR_CONFIG_PATH", config.toString()), logDir, false);
    }

    private void awaitConductor() {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            ChildJvm c = requireProcess(conductor);
            if (!c.isAlive()) {
                throw new IllegalStateException("the conductor exited:\n" + c.logTail(30));
            }
            try {
                HttpResponse<Void> r = http.send(HttpRequest.newBuilder(conductorUrl().resolve("/health"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            pause(100);
        }
        throw new IllegalStateException("the conductor did not answer /health in time:\n"
            + requireProcess(conductor).logTail(30));
    }

    private void startEngine(Engine e) {
        ObjectNode events = JSON.createObjectNode();
        events.put("enable_kv_cache_events", true);
        events.put("publisher", "zmq");
        events.put("endpoint", e.eventsEndpoint(0));
        events.put("replay_endpoint", e.replayEndpoint(0));
        events.put("topic", "kv-events");
        List<String> args = new ArrayList<>(List.of(MODEL, "--host", "127.0.0.1", "--port",
            Integer.toString(e.httpPort), "--block-size", Integer.toString(spec.blockSize()),
            "--prefix-caching-hash-algo", "sha256",
            "--num-gpu-blocks-override", Integer.toString(spec.blocksPerRank()),
            "--data-parallel-size", Integer.toString(e.dpSize),
            "--kv-events-config", events.toString(),
            "--kv-transfer-config", "{\"kv_connector\": \"MooncakeConnector\", \"kv_role\": \"" + e.role + "\"}",
            "--sim-prefill-tokens-per-second", Double.toString(spec.prefillTokensPerSecond()),
            "--sim-decode-ms-per-token", Double.toString(spec.decodeMillisPerToken())));
        e.process = ChildJvm.start(e.instanceId, "io.conductor.example.engine.SimulatedEngineMain", args,
            Map.of("PYTHONHASHSEED", "0"), logDir, true);
    }

    private void awaitEngine(Engine e) {
        requireProcess(e.process).awaitReady(START_TIMEOUT);
    }

    private void startProxy() {
        ObjectNode cfg = JSON.createObjectNode();
        cfg.put("host", "127.0.0.1");
        cfg.put("port", proxyPort);
        cfg.put("block_size", spec.blockSize());
        cfg.put("policy", "cache_aware");
        ObjectNode c = cfg.putObject("conductor");
        c.put("address", "127.0.0.1:" + conductorPort);
        c.put("timeout_ms", spec.conductorTimeoutMillis());
        ArrayNode p = cfg.putArray("prefill");
        for (Engine e : prefill) {
            p.addObject().put("url", e.url().toString()).put("instance_id", e.instanceId).put("dp_size", e.dpSize);
        }
        cfg.putArray("decode").addObject().put("url", decode.url().toString()).put("instance_id", decode.instanceId);
        Path file = logDir.resolve("proxy.json");
        try {
            Files.writeString(file, cfg.toPrettyString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        proxy = ChildJvm.start("proxy", "io.conductor.example.proxy.ProxyMain", List.of("--config", file.toString()),
            Map.of(), logDir, true);
    }

    /** Registers every rank of every engine with the conductor (idempotent). */
    public void registerAll() {
        for (Engine e : allEngines()) {
            register(e);
        }
    }

    /**
     * Registers every DP rank of one engine with the conductor.
     *
     * @param e the engine
     * @throws IllegalStateException if the conductor refuses
     */
    public void register(Engine e) {
        for (int r = 0; r < e.dpSize; r++) {
            ObjectNode body = JSON.createObjectNode();
            body.put("endpoint", e.eventsEndpoint(r));
            body.put("replay_endpoint", e.replayEndpoint(r));
            body.put("type", "vLLM");
            body.put("modelname", MODEL);
            body.put("instance_id", e.instanceId);
            body.put("block_size", spec.blockSize());
            body.put("dp_rank", r);
            body.put("kv_role", e.role);
            ObjectNode profile = body.putObject("hash_profile");
            profile.put("strategy", "vllm_v1");
            profile.put("algorithm", "sha256");
            profile.put("python_hash_seed", "0");
            profile.put("index_projection", "low64_be");
            HttpResponse<String> resp = postJson(conductorUrl().resolve("/register"), body.toString());
            if (resp.statusCode() != 200) {
                throw new IllegalStateException("register " + e.instanceId + " rank " + r + " -> "
                    + resp.statusCode() + " " + resp.body());
            }
        }
    }

    /**
     * Empties every engine's prefix cache ({@code /reset_prefix_cache}, which publishes {@code AllBlocksCleared}).
     */
    public void resetCaches() {
        for (Engine e : allEngines()) {
            postJson(e.url().resolve("/reset_prefix_cache"), "");
        }
    }

    /**
     * Empties every engine's cache and waits (up to 10 s) until the conductor's {@code /global_view} counts no
     * prefix any more, i.e. it has applied every {@code AllBlocksCleared}.
     *
     * @return whether the index was seen empty in time
     */
    public boolean resetCachesAndAwaitEmptyIndex() {
        resetCaches();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            try {
                JsonNode view = getJson(conductorUrl().resolve("/global_view"));
                long prefixes = 0;
                for (JsonNode c : view.path("contexts")) {
                    prefixes += c.path("prefix_count").asLong();
                }
                if (prefixes == 0) {
                    return true;
                }
            } catch (RuntimeException e) {
                return false;
            }
            pause(50);
        }
        return false;
    }

    /**
     * Kills an engine abruptly (SIGKILL), as a crash would.
     *
     * @param e the engine
     */
    public void killEngine(Engine e) {
        ChildJvm p = e.process;
        if (p != null) {
            p.kill();
            e.process = null;
        }
    }

    /**
     * Starts a stopped engine again on the same ports (its event seq restarts at 0, its cache is empty).
     *
     * @param e the engine
     */
    public void restartEngine(Engine e) {
        if (e.process != null) {
            throw new IllegalStateException(e.instanceId + " is still running");
        }
        startEngine(e);
        awaitEngine(e);
    }

    /** Kills the conductor abruptly (SIGKILL). */
    public void killConductor() {
        ChildJvm c = conductor;
        if (c != null) {
            c.kill();
            conductor = null;
        }
    }

    /** Starts the conductor again on the same port and registers every engine again. */
    public void restartConductor() {
        if (conductor != null) {
            throw new IllegalStateException("the conductor is still running");
        }
        startConductor();
        awaitConductor();
        registerAll();
    }

    /**
     * POSTs a JSON body.
     *
     * @param uri target
     * @param body JSON text
     * @return the response
     */
    public HttpResponse<String> postJson(URI uri, String body) {
        try {
            return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json").header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException("POST " + uri + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /**
     * GETs a URL and parses JSON.
     *
     * @param uri target
     * @return the parsed body
     */
    public JsonNode getJson(URI uri) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
                .header("Accept", "application/json").build(), HttpResponse.BodyHandlers.ofString());
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new UncheckedIOException("GET " + uri + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /**
     * Returns the last log lines of every process, for error reports.
     *
     * @param lines lines per process
     * @return the tails
     */
    public String logTails(int lines) {
        StringBuilder sb = new StringBuilder();
        for (ChildJvm c : processes()) {
            sb.append(c.logTail(lines));
        }
        return sb.toString();
    }

    private List<ChildJvm> processes() {
        List<ChildJvm> all = new ArrayList<>();
        if (proxy != null) {
            all.add(proxy);
        }
        for (Engine e : allEngines()) {
            if (e.process != null) {
                all.add(e.process);
            }
        }
        if (conductor != null) {
            all.add(conductor);
        }
        return all;
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public void close() {
        // Stop in parallel: each close waits up to 5 s for a graceful exit.
        List<Thread> stoppers = new ArrayList<>();
        for (ChildJvm c : processes()) {
            stoppers.add(Thread.ofVirtual().start(c::close));
        }
        for (Thread t : stoppers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        proxy = null;
        conductor = null;
        for (Engine e : allEngines()) {
            e.process = null;
        }
        http.close();
    }
}
