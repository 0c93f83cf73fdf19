package io.conductor.example.bench;

import io.conductor.example.demo.FreePorts;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * {@code bin/bench trace}: replays a Mooncake-format trace ({@link TraceRequest}) through {@link TraceReplay} for
 * every combination of cache capacity, load and policy, and prints one line per replay plus, per capacity and load,
 * how the cost policy compares with the oracles and round robin.
 *
 * <p>Load is the fleet's utilisation under round robin: one round-robin replay at the trace's own pace measures the
 * prefill work {@code W} it needs, and arrivals are then scaled so that {@code W / (engines × span) = load}. Every
 * replay that uses the conductor gets a fresh conductor daemon (a child JVM, configured with the fleet's prefill
 * cost) and fresh engines. Single-threaded.
 */
public final class TraceBench {
    private static final String USAGE = """
            usage: bin/bench trace --trace FILE [--engines K] [--capacity TOKENS[,TOKENS...]] [--load F[,F...]]
                   [--policy P [P...]] [--seed N] [--limit N] [--prefill-overhead-ms A] [--prefill-tokens-per-second T]
              policies: ours longest_prefix round_robin oracle_prefix oracle_ttft (default: all)
              defaults: 8 engines, capacity 2000000 tokens, load 0.7, seed 1, a = 20 ms, 20000 tokens/s""";

    private TraceBench() {
    }

    /**
     * Runs the benchmark.
     *
     * @param args see {@link #USAGE}
     * @throws Exception if a replay or the conductor fails
     */
    public static void main(String[] args) throws Exception {
        Map<String, List<String>> opts = parse(args);
        if (opts == null || !opts.containsKey("trace")) {
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        Path trace = Path.of(one(opts, "trace", ""));
        int engines = Integer.parseInt(one(opts, "engines", "8"));
        long seed = Long.parseLong(one(opts, "seed", "1"));
        int limit = Integer.parseInt(one(opts, "limit", Integer.toString(Integer.MAX_VALUE)));
        double overhead = Double.parseDouble(one(opts, "prefill-overhead-ms", "20")) / 1000;
        double tokensPerSecond = Double.parseDouble(one(opts, "prefill-tokens-per-second", "20000"));
        List<Long> capacities = new ArrayList<>();
        for (String c : list(opts, "capacity", "2000000")) {
            capacities.add(Long.parseLong(c));
        }
        List<Double> loads = new ArrayList<>();
        for (String l : list(opts, "load", "0.7")) {
            loads.add(Double.parseDouble(l));
        }
        List<TraceReplay.Policy> policies = new ArrayList<>();
        for (String p : list(opts, "policy", "ours,longest_prefix,round_robin,oracle_prefix,oracle_ttft")) {
            policies.add(TraceReplay.Policy.of(p));
        }
        List<TraceRequest> requests = TraceRequest.read(trace, limit);
        if (requests.size() < 2) {
            throw new IllegalArgumentException("the trace needs at least two requests");
        }
        PrintStream out = System.out;
        out.printf(Locale.ROOT, "trace %s: %d requests, %d engines, prefill %.1f ms + %.0f tokens/s, seed %d%n",
                trace.getFileName(), requests.size(), engines, overhead * 1000, tokensPerSecond, seed);
        out.printf(Locale.ROOT, "%-10s %-5s %-15s %8s %10s %10s %8s %9s %10s%n", "capacity", "load", "policy",
                "hit_rate", "mean_ttft", "p90_ttft", "util", "pred_acc", "ttft_err");
        double span = (requests.getLast().timestampMillis() - requests.getFirst().timestampMillis()) / 1000.0;
        for (long capacity : capacities) {
            TraceReplay calibration = new TraceReplay(new TraceReplay.Fleet(engines, capacity, overhead,
                    1 / tokensPerSecond, 1, seed), TraceReplay.Policy.ROUND_ROBIN, null);
            double work = calibration.run(requests).busySeconds();
            for (double load : loads) {
                TraceReplay.Fleet fleet = new TraceReplay.Fleet(engines, capacity, overhead, 1 / tokensPerSecond,
                        work / (engines * span * load), seed);
                Map<String, TraceReplay.Result> results = new LinkedHashMap<>();
                for (TraceReplay.Policy policy : policies) {
                    TraceReplay.Result r = replay(fleet, policy, requests);
                    results.put(policy.label, r);
                    out.printf(Locale.ROOT, "%-10d %-5.2f %-15s %8.4f %10.3f %10.3f %8.3f %9s %10s%n", capacity,
                            load, r.policy(), r.hitRate(), r.meanTtft(), r.p90Ttft(), r.utilisation(),
                            fmt(r.prefixAccuracy()), fmt(r.ttftError()));
                    out.flush();
                }
                summary(out, capacity, load, results);
            }
        }
    }

    private static void summary(PrintStream out, long capacity, double load, Map<String, TraceReplay.Result> r) {
        TraceReplay.Result ours = r.get("ours");
        TraceReplay.Result op = r.get("oracle_prefix");
        TraceReplay.Result ot = r.get("oracle_ttft");
        TraceReplay.Result rr = r.get("round_robin");
        if (ours == null || op == null || ot == null || rr == null) {
            return;
        }
        double bestHit = Math.max(op.hitRate(), ot.hitRate());
        out.printf(Locale.ROOT, "  capacity %d load %.2f: ours hit %.3f x best oracle (goal >= 0.95), mean TTFT %.3f x "
                + "oracle_ttft (goal <= 1.10), %.3f x round robin (goal <= 1)%n", capacity, load,
                ours.hitRate() / bestHit, ours.meanTtft() / ot.meanTtft(), ours.meanTtft() / rr.meanTtft());
    }

    private static TraceReplay.Result replay(TraceReplay.Fleet fleet, TraceReplay.Policy policy,
            List<TraceRequest> requests) throws Exception {
        if (!policy.usesConductor) {
            return new TraceReplay(fleet, policy, null).run(requests);
        }
        Path dir = Files.createTempDirectory("trace-bench");
        int port = FreePorts.one();
        Path config = dir.resolve("conductor_config.json");
        Files.writeString(config, String.format(Locale.ROOT, "{\"http_server_port\": %d, \"kvevent_instance\": {}, "
                + "\"routing\": {\"clock\": \"request\", \"prefill\": {\"tokens_per_second\": %s, \"overhead_ms\": %s}}}%n",
                port,
                1 / fleet.secondsPerToken(), fleet.overheadSeconds() * 1000));
        // A plain child JVM with the default JIT (the demo's children run C1 only, which makes hashing slow).
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx1g",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-cp",
                System.getProperty("java.class.path"), "io.conductor.daemon.Main", "--config", config.toString(),
                "--port", Integer.toString(port), "--host", "127.0.0.1");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("conductor.log").toFile());
        pb.environment().put("CONDUCTOR_LOG_LEVEL", "WARN");
        Process conductor = pb.start();
        try {
            URI base = URI.create("http://127.0.0.1:" + port);
            awaitHealth(conductor, base, dir.resolve("conductor.log"));
            TraceReplay replay = new TraceReplay(fleet, policy, new ConductorHttp(base, "trace",
                    TraceRequest.TRACE_BLOCK));
            try {
                return replay.run(requests);
            } finally {
                replay.close();
            }
        } finally {
            conductor.destroy();
            if (!conductor.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                conductor.destroyForcibly();
            }
        }
    }

    private static void awaitHealth(Process conductor, URI base, Path log) throws InterruptedException, IOException {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (!conductor.isAlive()) {
                throw new IllegalStateException("the conductor exited:\n" + Files.readString(log));
            }
            try {
                if (http.send(HttpRequest.newBuilder(base.resolve("/health")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("the conductor did not answer /health:\n" + Files.readString(log));
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static @Nullable Map<String, List<String>> parse(String[] args) {
        Map<String, List<String>> opts = new LinkedHashMap<>();
        String key = null;
        for (String a : args) {
            if (a.startsWith("--")) {
                key = a.substring(2);
                opts.computeIfAbsent(key, k -> new ArrayList<>());
            } else if (key == null) {
                return null;
            } else {
                for (String part : a.split(",", -1)) {
                    if (!part.isBlank()) {
                        java.util.Objects.requireNonNull(opts.get(key), "list made with its key").add(part.trim());
                    }
                }
            }
        }
        return opts;
    }

    private static String one(Map<String, List<String>> opts, String key, String fallback) {
        List<String> v = opts.get(key);
        return v == null || v.isEmpty() ? fallback : v.getFirst();
    }

    private static List<String> list(Map<String, List<String>> opts, String key, String fallback) {
        List<String> v = opts.get(key);
        return v == null || v.isEmpty() ? List.of(fallback.split(",")) : v;
    }
}
