package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.example.engine.SimulatedEngine;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Benchmark harness, not part of the suite (runs only with {@code -Dconductor.bench=true}): replica A indexes about
 * 1M blocks from a simulated engine whose replay ring (1,000 batches) no longer reaches back to its first batch,
 * then replica B starts with A as its peer while ingest keeps running; prints how long B took to answer
 * {@code /health} and {@code /ready}, and how many pairs it restored. Command in BENCHMARKS.md.
 */
@EnabledIfSystemProperty(named = "conductor.bench", matches = "true")
class PeerBootstrapBenchIT {
    private static final int TARGET_BLOCKS = Integer.getInteger("conductor.bench.blocks", 1_000_000);

    @Test
    void peerBootstrapOfAMillionBlocksWithIngestRunning() throws Exception {
        try (ReplicaFixture fx = new ReplicaFixture()) {
            ReplicaFixture.EngineSpec spec = ReplicaFixture.engineSpec("sim-big");
            SimulatedEngine engine = fx.startEngine(spec, 4_000_000, 1_000);
            int portA = DaemonProcess.freePort();
            int portB = DaemonProcess.freePort();
            Path configA = fx.config("a", portA, List.of(spec), "\"cluster\": {\"peers\": [\"http://127.0.0.1:"
                + portB + "\"]}, \"snapshot\": {\"resume_timeout_seconds\": 30}");
            Path configB = fx.config("b", portB, List.of(spec), "\"cluster\": {\"peers\": [\"http://127.0.0.1:"
                + portA + "\"]}, \"snapshot\": {\"resume_timeout_seconds\": 30}");
            DaemonProcess a = fx.startDaemon(configA, portA);
            fx.awaitReady(a, portA);

            // 1,600-token prompts: 100 blocks each, all distinct.
            AtomicInteger sent = new AtomicInteger();
            AtomicBoolean ingest = new AtomicBoolean(true);
            List<Thread> loaders = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                loaders.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int n = id; ingest.get(); n += 4) {
                            fx.store(engine, ReplicaFixture.prompt("b" + n, 1600));
                            sent.incrementAndGet();
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }));
            }
            long fillDeadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(20);
            while (pairs(fx, portA) < TARGET_BLOCKS) {
                if (System.nanoTime() > fillDeadline) {
                    throw new AssertionError("A did not reach " + TARGET_BLOCKS + " pairs: " + pairs(fx, portA));
                }
                Thread.sleep(500);
            }

            long start = System.nanoTime();
            DaemonProcess b = fx.startDaemon(configB, portB);
            b.awaitHealthy(portB, ReplicaFixture.DEADLINE);
            long healthy = (System.nanoTime() - start) / 1_000_000;
            fx.awaitReady(b, portB);
            long ready = (System.nanoTime() - start) / 1_000_000;
            double restored = metric(fx, portB, "conductor_snapshot_restored_pairs");
            double pairsA = pairs(fx, portA);
            double pairsB = pairs(fx, portB);
            ingest.set(false);
            for (Thread t : loaders) {
                t.join();
            }
            System.out.printf("peer bootstrap: A held %.0f pairs, B restored %.0f; B healthy after %d ms, ready after "
                + "%d ms (B %.0f pairs at ready); %d requests sent%n", pairsA, restored, healthy, ready, pairsB,
                sent.get());
            assertTrue(restored > 0, b.output());
        }
    }

    private static double pairs(ReplicaFixture fx, int port) {
        return metric(fx, port, "conductor_index_pairs");
    }

    private static double metric(ReplicaFixture fx, int port, String name) {
        try {
            return fx.get(port, "/metrics").lines().filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{"))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
        } catch (Exception e) {
            return -1;
        }
    }
}
