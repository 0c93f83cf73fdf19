package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.example.engine.SimulatedEngine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Benchmark harness, not part of the suite (runs only with {@code -Dconductor.bench=true}): a rolling restart of
 * three replicas sharing a real etcd, under {@code kvbench mixed} load (its engines registered on one replica and
 * shared through etcd, so every replica ingests them; its queries go to replica 0). A simulated vLLM engine, a
 * static entry of every replica, holds {@value #PROMPTS} known prompts stored before the restarts. One sampler per
 * replica reads {@code /ready} and then a {@code /query} of one known prompt every {@value #SAMPLE_MS} ms. The
 * replicas are restarted one at a time (replica 1 with SIGTERM, 2 with SIGKILL, 0 with SIGTERM), each bootstrapping
 * from a ready peer found through etcd membership. Prints a time series (per second: each replica's state and hit
 * rate on the known prompts) and kvbench's {@code RESULT} line, and fails if any sample found a replica ready while
 * it answered less than the whole known prompt (an empty or partial index).
 *
 * <p>kvbench: {@code -Dconductor.kvbench=PATH}, or built with {@code make} from {@code ../shared/bench} beside
 * the checkout into a temporary copy (needs build-essential, libzmq3-dev, libssl-dev). Command in BENCHMARKS.md.
 */
@EnabledIfSystemProperty(named = "conductor.bench", matches = "true")
class RollingRestartBenchIT {
    private static final int PROMPTS = 20;
    private static final int SAMPLE_MS = 100;
    private static final int SETTLE_MS = Integer.getInteger("conductor.bench.settle_ms", 5_000);

    /** One sample of one replica. */
    record Sample(long atMillis, int replica, int readyStatus, long hit, long expected) {
        boolean down() {
            return readyStatus < 0;
        }

        boolean ready() {
            return readyStatus == 200;
        }
    }

    @Test
    void rollingRestartOfThreeReplicasUnderKvbenchLoad() throws Exception {
        try (ReplicaFixture fx = new ReplicaFixture(); EtcdProcess etcd = EtcdProcess.start(fx.dir)) {
            Path kvbench = kvbench(fx.dir);
            ReplicaFixture.EngineSpec probe = ReplicaFixture.engineSpec("sim-probe");
            SimulatedEngine engine = fx.startEngine(probe);
            String cluster = "\"cluster\": {\"etcd_endpoints\": [\"" + etcd.endpoint() + "\"], \"prefix\": "
                + "\"/conductor/rolling-" + UUID.randomUUID() + "\", \"lease_ttl_seconds\": 5}, "
                + "\"snapshot\": {\"resume_timeout_seconds\": 10}";
            int[] ports = {DaemonProcess.freePort(), DaemonProcess.freePort(), DaemonProcess.freePort()};
            Path[] configs = new Path[3];
            DaemonProcess[] replicas = new DaemonProcess[3];
            for (int i = 0; i < 3; i++) {
                configs[i] = fx.config("r" + i, ports[i], List.of(probe), cluster);
                replicas[i] = fx.startDaemon(configs[i], ports[i]);
            }
            for (int i = 0; i < 3; i++) {
                fx.awaitReady(replicas[i], ports[i]);
            }

            // The known prompts, stored once; what each replica must answer from then on.
            int[][] tokens = new int[PROMPTS][];
            long[] expected = new long[PROMPTS];
            for (int k = 0; k < PROMPTS; k++) {
                String prompt = ReplicaFixture.prompt("known" + k, 80);
                fx.store(engine, prompt);
                tokens[k] = fx.tokenize(engine, prompt);
                int[] t = tokens[k];
                ReplicaFixture.await("known prompt " + k + " on replica 0",
                    () -> fx.gpuHit(ports[0], "sim-probe", t) >= t.length / 16 * 16 - 16);
                expected[k] = fx.gpuHit(ports[0], "sim-probe", t);
            }
            for (int i = 0; i < 3; i++) {
                int port = ports[i];
                for (int k = 0; k < PROMPTS; k++) {
                    int kk = k;
                    ReplicaFixture.await("known prompt " + k + " on " + port,
                        () -> fx.gpuHit(port, "sim-probe", tokens[kk]) == expected[kk]);
                }
            }

            // kvbench mixed against replica 0: 4 engines, ingest then queries with ingest continuing. kvbench waits
            // for the first replica's subscription only; the settle time lets the other two (registration shared
            // through etcd) subscribe before it publishes, since its engines have no replay ring.
            int basePort = DaemonProcess.freePort();
            int duration = Integer.getInteger("conductor.bench.duration", 150);
            Path kvLog = fx.dir.resolve("kvbench.log");
            Process kv = new ProcessBuilder(kvbench.toString(), "mixed", "--conductor", "http://127.0.0.1:"
                + ports[0], "--engines", "4", "--base-port", Integer.toString(basePort), "--batches", "1000",
                "--rate", "500", "--concurrency", "2", "--duration", Integer.toString(duration), "--warmup", "1",
                "--run-id", "roll", "--connect-timeout", "60", "--settle-ms", "8000")
                .redirectErrorStream(true).redirectOutput(kvLog.toFile()).start();
            try {
                ReplicaFixture.await("kvbench's engines on every replica", () -> {
                    for (int port : ports) {
                        try {
                            if (!fx.get(port, "/services").contains("roll-e3")) {
                                return false;
                            }
                        } catch (IOException | InterruptedException e) {
                            return false;
                        }
                    }
                    return true;
                });

                long t0 = System.nanoTime();
                ConcurrentLinkedQueue<Sample> samples = new ConcurrentLinkedQueue<>();
                ConcurrentLinkedQueue<String> events = new ConcurrentLinkedQueue<>();
                AtomicBoolean sampling = new AtomicBoolean(true);
                List<Thread> samplers = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    int replica = i;
                    samplers.add(Thread.ofPlatform().name("sampler-" + i).start(() -> {
                        int k = replica;
                        while (sampling.get()) {
                            long at = System.nanoTime();
                            int status = fx.status(ports[replica], "/ready");
                            long hit = status < 0 ? -1 : fx.gpuHit(ports[replica], "sim-probe", tokens[k]);
                            samples.add(new Sample((at - t0) / 1_000_000, replica, status, hit, expected[k]));
                            k = (k + 1) % PROMPTS;
                            long left = TimeUnit.MILLISECONDS.toNanos(SAMPLE_MS) - (System.nanoTime() - at);
                            if (left > 0) {
                                try {
                                    TimeUnit.NANOSECONDS.sleep(left);
                                } catch (InterruptedException e) {
                                    return;
                                }
                            }
                        }
                    }));
                }

                Thread.sleep(SETTLE_MS);
                int[] order = {1, 2, 0};
                for (int i : order) {
                    boolean kill = i == 2;
                    events.add(ms(t0) + " ms: " + (kill ? "SIGKILL" : "SIGTERM") + " replica " + i);
                    if (kill) {
                        replicas[i].process().destroyForcibly();
                        replicas[i].awaitExit(Duration.ofSeconds(30));
                    } else {
                        ReplicaFixture.stop(replicas[i]);
                    }
                    events.add(ms(t0) + " ms: replica " + i + " exited; starting it again");
                    replicas[i] = fx.startDaemon(configs[i], ports[i]);
                    replicas[i].awaitHealthy(ports[i], ReplicaFixture.DEADLINE);
                    events.add(ms(t0) + " ms: replica " + i + " answers /health");
                    fx.awaitReady(replicas[i], ports[i]);
                    events.add(ms(t0) + " ms: replica " + i + " ready; "
                        + replicas[i].output().lines().filter(l -> l.contains("event=snapshot_loaded"))
                            .map(l -> l.substring(l.indexOf("event=")))
                            .findFirst().orElse("no snapshot loaded"));
                    Thread.sleep(SETTLE_MS);
                }
                sampling.set(false);
                for (Thread t : samplers) {
                    t.join();
                }

                List<Sample> all = new ArrayList<>(samples);
                report(all, events);
                List<Sample> bad = all.stream().filter(s -> s.ready() && s.hit() != s.expected()).toList();
                assertEquals(List.of(), bad, "samples where a ready replica answered less than the known prompt");
                for (int i = 0; i < 3; i++) {
                    assertTrue(replicas[i].output().contains("event=snapshot_loaded source=peer"),
                        "replica " + i + " bootstrapped from a peer:\n" + replicas[i].output());
                }
            } finally {
                if (!kv.waitFor(Math.max(30, duration), TimeUnit.SECONDS)) {
                    kv.destroy();
                    kv.waitFor(10, TimeUnit.SECONDS);
                }
                String out = Files.readString(kvLog);
                System.out.println("kvbench output:\n" + out);
            }
        }
    }

    private static long ms(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /**
     * Prints one row per second: for each replica its state over the second ({@code R} ready in every sample,
     * {@code n} not ready in some, {@code -} down in some) and the hit rate of its samples (answered tokens over
     * known tokens; ready samples only, then all answering samples in brackets).
     */
    private static void report(List<Sample> all, ConcurrentLinkedQueue<String> events) {
        StringBuilder sb = new StringBuilder("\nrolling restart events:\n");
        events.forEach(e -> sb.append("  ").append(e).append('\n'));
        long end = all.stream().mapToLong(Sample::atMillis).max().orElse(0);
        sb.append("| t (s) | r0 | r0 hit | r1 | r1 hit | r2 | r2 hit |\n|---|---|---|---|---|---|---|\n");
        for (long sec = 0; sec * 1000 <= end; sec++) {
            long from = sec * 1000;
            sb.append("| ").append(sec);
            for (int r = 0; r < 3; r++) {
                int rr = r;
                List<Sample> in = all.stream().filter(s -> s.replica() == rr && s.atMillis() >= from
                    && s.atMillis() < from + 1000).toList();
                String state = in.isEmpty() ? "?" : in.stream().anyMatch(Sample::down) ? "-"
                    : in.stream().allMatch(Sample::ready) ? "R" : "n";
                long got = 0;
                long want = 0;
                long gotAll = 0;
                long wantAll = 0;
                for (Sample s : in) {
                    if (s.hit() >= 0) {
                        gotAll += s.hit();
                        wantAll += s.expected();
                        if (s.ready()) {
                            got += s.hit();
                            want += s.expected();
                        }
                    }
                }
                sb.append(" | ").append(state).append(" | ")
                    .append(want == 0 ? "" : String.format("%.2f", (double) got / want))
                    .append(wantAll == want || wantAll == 0 ? "" : String.format(" (%.2f)", (double) gotAll / wantAll));
            }
            sb.append(" |\n");
        }
        long ready = all.stream().filter(Sample::ready).count();
        long full = all.stream().filter(s -> s.ready() && s.hit() == s.expected()).count();
        sb.append(String.format("samples: %d, ready %d, ready and answering the whole known prompt %d%n", all.size(),
            ready, full));
        System.out.println(sb);
    }

    /** The kvbench binary: {@code -Dconductor.kvbench}, else built from ../shared/bench into {@code dir}. */
    private static Path kvbench(Path dir) throws IOException, InterruptedException {
        String given = System.getProperty("conductor.kvbench");
        if (given != null) {
            return Path.of(given);
        }
        Path src = Path.of(System.getProperty("conductor.home", ".")).resolve("../shared/bench").normalize();
        Path build = Files.createDirectories(dir.resolve("kvbench-build"));
        Files.copy(src.resolve("kvbench.c"), build.resolve("kvbench.c"));
        Files.copy(src.resolve("Makefile"), build.resolve("Makefile"));
        Process make = new ProcessBuilder("make", "-s", "-C", build.toString()).redirectErrorStream(true)
            .redirectOutput(build.resolve("make.log").toFile()).start();
        if (make.waitFor() != 0) {
            throw new AssertionError("building kvbench failed (needs build-essential libzmq3-dev libssl-dev):\n"
                + Files.readString(build.resolve("make.log")));
        }
        return build.resolve("kvbench");
    }
}
