package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.example.engine.EventEncoding;
import io.conductor.example.engine.KvEvent;
import io.conductor.example.engine.KvEventEncoder;
import io.conductor.example.engine.KvEventPublisher;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Benchmark harness, not part of the suite (runs only with {@code -Dconductor.bench=true}): replica A indexes about
 * 1M blocks from a vLLM-shaped publisher (real ZMQ PUB + replay ROUTER, real msgpack batches of 1,000 synthetic
 * blocks, so the fill takes seconds rather than the minutes of tokenizing and hashing prompts) whose replay ring
 * (200 batches) no longer reaches back to its first batch; then replica B starts with A as its peer while ingest
 * keeps running at about 10,000 blocks per second; prints how long B took to answer {@code /health} and
 * {@code /ready}, how many pairs it restored, and A's and B's pairs at that moment. Command in BENCHMARKS.md.
 */
@EnabledIfSystemProperty(named = "conductor.bench", matches = "true")
class PeerBootstrapBenchIT {
    private static final int TARGET_BLOCKS = Integer.getInteger("conductor.bench.blocks", 1_000_000);
    private static final int FILL_BATCH = 1_000;

    @Test
    void peerBootstrapOfAMillionBlocksWithIngestRunning() throws Exception {
        ReplicaFixture.EngineSpec spec = ReplicaFixture.engineSpec("sim-big");
        try (ReplicaFixture fx = new ReplicaFixture(); KvEventPublisher pub = publisher(spec)) {
            int portA = DaemonProcess.freePort();
            int portB = DaemonProcess.freePort();
            Path configA = fx.config("a", portA, List.of(spec), "\"cluster\": {\"peers\": [\"http://127.0.0.1:"
                + portB + "\"]}, \"snapshot\": {\"resume_timeout_seconds\": 30}");
            Path configB = fx.config("b", portB, List.of(spec), "\"cluster\": {\"peers\": [\"http://127.0.0.1:"
                + portA + "\"]}, \"snapshot\": {\"resume_timeout_seconds\": 30}");
            DaemonProcess a = fx.startDaemon(configA, portA);
            fx.awaitReady(a, portA);

            AtomicLong next = new AtomicLong();
            long fillStart = System.nanoTime();
            while (next.get() < TARGET_BLOCKS) {
                pub.publish(List.of(stored(next, FILL_BATCH)));
            }
            long fillDeadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
            while (pairs(fx, portA) < TARGET_BLOCKS) {
                if (System.nanoTime() > fillDeadline) {
                    throw new AssertionError("A did not reach " + TARGET_BLOCKS + " pairs: " + pairs(fx, portA));
                }
                Thread.sleep(100);
            }
            long filled = (System.nanoTime() - fillStart) / 1_000_000;

            // Ingest keeps running through B's start: 100 blocks every 10 ms.
            AtomicBoolean ingest = new AtomicBoolean(true);
            Thread loader = Thread.ofPlatform().start(() -> {
                while (ingest.get()) {
                    pub.publish(List.of(stored(next, 100)));
                    try {
                        Thread.sleep(10);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
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
            loader.join();
            String log = b.output().lines().filter(l -> l.contains("snapshot_loaded")).findFirst().orElse("");
            System.out.printf("peer bootstrap: A filled to %d blocks in %d ms; A held %.0f pairs, B restored %.0f; "
                + "B healthy after %d ms, ready after %d ms (B %.0f pairs at ready, A %.0f); %s%n", TARGET_BLOCKS,
                filled, pairsA, restored, healthy, ready, pairsB, pairsA, log);
            assertTrue(restored >= TARGET_BLOCKS, b.output());
            assertTrue(pairsB >= TARGET_BLOCKS, "B answers from the whole index once ready: " + pairsB);
        }
    }

    private static KvEventPublisher publisher(ReplicaFixture.EngineSpec spec) {
        return new KvEventPublisher(spec.endpoint(), spec.replayEndpoint(), "kv-events", 0, 200,
            new KvEventEncoder(EventEncoding.MAP));
    }

    /** A chain of {@code n} new synthetic blocks continuing from block {@code next}. */
    private static KvEvent stored(AtomicLong next, int n) {
        long first = next.getAndAdd(n);
        long[] hashes = new long[n];
        for (int i = 0; i < n; i++) {
            hashes[i] = mix(first + i + 1);
        }
        return new KvEvent.BlockStored(hashes, first == 0 ? null : mix(first), new int[n * 16], 16, null, "GPU",
            null, null);
    }

    private static long mix(long x) {
        long z = x * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        return z ^ (z >>> 31);
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
