package io.conductor.example.demo;

import com.fasterxml.jackson.databind.JsonNode;
import io.conductor.daemon.ConductorSubcommand;
import io.conductor.daemon.Main;
import io.conductor.example.CommandLines;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code mooncake_conductor demo [--serve] [--users N] [--keep-logs]}: starts the conductor, three simulated prefill
 * engines (the last with two DP ranks), a simulated decode engine and the cache-aware proxy on loopback, replays the
 * built-in workload once with cache-aware routing and once with round robin, and prints the comparison. With
 * {@code --serve} everything stays up for the user to curl until Ctrl-C. Every process and port it started is
 * released on exit. A subcommand of the conductor's front end ({@link ConductorSubcommand}); one instance runs
 * once, on the main thread.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    description = "Run the conductor with simulated vLLM engines, a cache-aware P/D proxy and a chat workload on "
        + "loopback; compare cache-aware routing with round robin.")
public final class DemoMain implements ConductorSubcommand {
    private static final List<String> POLICIES = List.of("cache_aware", "round_robin");

    @Option(names = "--serve", description = "keep everything up afterwards for you to curl, until Ctrl-C")
    boolean serve;

    @Option(names = "--keep-logs", description = "keep the log directory on exit")
    boolean keepLogs;

    @Option(names = "--users", paramLabel = "N", defaultValue = "6",
        description = "concurrent users of the workload, 1..64 (default: ${DEFAULT-VALUE})")
    int users = 6;

    @Spec
    CommandSpec spec;

    /** For the service loader. */
    public DemoMain() {
    }

    /**
     * Runs {@code mooncake_conductor demo ARGS}.
     *
     * @param args {@code --serve}, {@code --users N}, {@code --keep-logs}
     */
    public static void main(String[] args) {
        Main.main(CommandLines.prepend("demo", args));
    }

    @Override
    public Integer call() throws Exception {
        if (users < 1 || users > 64) {
            throw new ParameterException(spec.commandLine(), "--users: expected an integer in 1..64, got " + users);
        }
        return run(serve, keepLogs, users, System.out);
    }

    /**
     * Runs the demo and returns the exit code.
     *
     * @param serve keep everything up afterwards
     * @param keepLogs keep the log directory
     * @param users concurrent users of the workload
     * @param out where to print
     * @return {@code 0} on success
     * @throws Exception if interrupted or the topology cannot start
     */
    public static int run(boolean serve, boolean keepLogs, int users, PrintStream out) throws Exception {
        Path logDir = Files.createTempDirectory("conductor-demo-");
        DemoTopology.Spec spec = DemoTopology.Spec.DEFAULT;
        out.printf(Locale.ROOT, "Starting on loopback: conductor, %d simulated prefill engines (prefill-%d with %d DP"
                + " ranks), 1 decode engine, the cache-aware proxy.%nLogs: %s%n", spec.prefillEngines(),
            spec.prefillEngines() - 1, spec.lastEngineDpSize(), logDir);
        long t0 = System.nanoTime();
        DemoTopology topology = DemoTopology.start(spec, logDir, serve);
        Thread hook = new Thread(() -> {
            // Ctrl-C or SIGTERM (the way out of --serve): stop every child; keep the logs only if asked to.
            topology.close();
            if (!keepLogs) {
                deleteTree(logDir);
            }
        }, "demo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        boolean ok = false;
        try {
            out.printf(Locale.ROOT, "Up in %.1f s: conductor %s, proxy %s; engines registered.%n",
                (System.nanoTime() - t0) / 1e9, topology.conductorUrl(), topology.proxyUrl());
            DemoWorkload workload = DemoWorkload.demo();
            out.printf(Locale.ROOT, "Workload: %d chats x %d turns over %d shared system prompts + %d unique prompts ="
                + " %d requests, %d concurrent users, replayed once per policy.%n%n", DemoWorkload.DEMO_CHATS,
                DemoWorkload.DEMO_TURNS, DemoWorkload.DEMO_SYSTEM_PROMPTS, DemoWorkload.DEMO_UNIQUE_PROMPTS,
                workload.totalRequests(), users);
            WorkloadRunner runner = new WorkloadRunner(topology.proxyUrl(), DemoTopology.MODEL, users, 12);
            // Warm every JVM's JIT on both paths first, so that neither measured run pays for it.
            DemoWorkload warmUp = DemoWorkload.warmUp();
            for (String policy : POLICIES) {
                runner.run(warmUp, policy, r -> { });
            }
            List<PolicySummary> summaries = new ArrayList<>();
            for (String policy : POLICIES) {
                topology.resetCachesAndAwaitEmptyIndex();
                summaries.add(runPolicy(runner, workload, policy, out));
            }
            out.println();
            out.print(PolicySummary.table(summaries));
            JsonNode health = topology.getJson(topology.proxyUrl().resolve("/healthcheck"));
            out.printf(Locale.ROOT, "%nproxy: %d requests, %d routed by the conductor, fallbacks %s%n",
                health.path("requests").asLong(), health.path("routed_by_conductor").asLong(),
                health.path("fallbacks"));
            if (summaries.getFirst().predictedTokens() == 0) {
                out.println("note: the conductor predicted no cached tokens at all: it answered /route but does not"
                    + " seem to index the engines' KV events (check its log in " + logDir + ").");
            }
            int failures = summaries.stream().mapToInt(PolicySummary::failures).sum();
            if (failures > 0) {
                out.println("demo: " + failures + " requests failed; see the logs in " + logDir);
                out.print(topology.logTails(10));
                return 1;
            }
            ok = true;
            if (serve) {
                serve(topology, out);
            }
            return 0;
        } finally {
            topology.close();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // already shutting down
            }
            if (ok && !keepLogs) {
                deleteTree(logDir);
            }
        }
    }

    private static PolicySummary runPolicy(WorkloadRunner runner, DemoWorkload workload, String policy,
                                           PrintStream out) throws InterruptedException {
        List<RequestRecord> live = new CopyOnWriteArrayList<>();
        int total = workload.totalRequests();
        CountDownLatch finished = new CountDownLatch(1);
        Thread ticker = Thread.ofVirtual().start(() -> {
            try {
                while (!finished.await(250, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                    progress(out, policy, live, total);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        List<RequestRecord> records = runner.run(workload, policy, live::add);
        finished.countDown();
        ticker.join();
        progress(out, policy, live, total);
        out.println();
        return PolicySummary.of(policy, records);
    }

    @SuppressWarnings("SystemConsoleNull") // null still means no console at all; isTerminal() decides the rest
    private static void progress(PrintStream out, String policy, List<RequestRecord> live, int total) {
        PolicySummary s = PolicySummary.of(policy, List.copyOf(live));
        String line = String.format(Locale.ROOT, "  %-12s %3d/%d requests   hit rate %5.1f%%   TTFT p50 %5.0f ms",
            policy, s.requests(), total, 100 * s.hitRate(), Double.isNaN(s.ttftP50Millis()) ? 0 : s.ttftP50Millis());
        java.io.Console console = System.console();
        if (console != null && console.isTerminal()) {
            out.print("\r" + line + "   ");
        } else if (s.requests() == total) {
            // Not a terminal (a log, a pipe): one line per run instead of a stream of carriage returns.
            out.print(line);
        }
        out.flush();
    }

    private static void serve(DemoTopology topology, PrintStream out) throws InterruptedException {
        out.print(serveText(topology.conductorUrl(), topology.proxyUrl(), topology.allEngines()));
        out.flush();
        new CountDownLatch(1).await();
    }

    /**
     * What {@code --serve} prints: curl lines that work as printed (the actual ports; JSON answers), then the
     * conductor, the proxy and every engine with its instance id, role and endpoints. The docs' examples use the
     * documented ports (13333, 8000, 8010.., 8020), which the demo takes when they are free.
     */
    static String serveText(URI conductor, URI proxy, List<DemoTopology.Engine> engines) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%nServing until Ctrl-C. Try:%n"
                + "  curl -s %s/v1/chat/completions -H 'Content-Type: application/json' -d '{\"model\": \"%s\","
                + " \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 8}' -D -%n"
                + "  curl -s %s/route -H 'Content-Type: application/json' -d '{\"model\": \"%s\", \"block_size\":"
                + " %d, \"token_ids\": [1, 2, 3]}'%n"
                + "  curl -s %s/global_view -H 'Accept: application/json'%n"
                + "  curl -s %s/metrics%n", proxy, DemoTopology.MODEL, conductor, DemoTopology.MODEL,
            DemoTopology.Spec.DEFAULT.blockSize(), conductor, conductor));
        sb.append(String.format(Locale.ROOT, "conductor  %s%nproxy      %s%n", conductor, proxy));
        for (DemoTopology.Engine e : engines) {
            sb.append(String.format(Locale.ROOT, "%-10s %s  %s  dp %d  events %s  replay %s%n", e.instanceId(),
                e.url(), e.role(), e.dpSize(), e.eventsEndpoint(0), e.replayEndpoint(0)));
        }
        if (conductor.getPort() != DemoTopology.DOCUMENTED_CONDUCTOR_PORT) {
            sb.append(String.format(Locale.ROOT, "note: port %d was taken, so the conductor listens on %d: use that"
                + " port in the docs' examples.%n", DemoTopology.DOCUMENTED_CONDUCTOR_PORT, conductor.getPort()));
        }
        return sb.toString();
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // leaving a temp directory behind is harmless
        }
    }
}
