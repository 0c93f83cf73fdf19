package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.example.engine.SimulatedEngine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Restart alone, from the local snapshot file, as real daemon processes subscribed to a simulated vLLM engine: the
 * blocks survive a restart while the publisher is gone; a publisher that restarted meanwhile loses its old blocks;
 * a corrupt or truncated file is refused with a clear error and the index is rebuilt from replay instead.
 */
class SnapshotRestartIT {
    private ReplicaFixture fx;
    private ReplicaFixture.EngineSpec spec;
    private Path snapshotFile;
    private Path config;
    private int port;

    @BeforeEach
    void setUp() throws Exception {
        fx = new ReplicaFixture();
        spec = ReplicaFixture.engineSpec("sim-0");
        snapshotFile = fx.dir.resolve("state/index.snap");
        port = DaemonProcess.freePort();
        config = fx.config("c", port, List.of(spec), "\"snapshot\": {\"path\": \"" + snapshotFile
            + "\", \"interval_seconds\": 0, \"resume_timeout_seconds\": 3}");
    }

    @AfterEach
    void tearDown() throws Exception {
        fx.close();
    }

    /** Runs a daemon until it indexed {@code prompt} from {@code engine}, then stops it (writing the snapshot). */
    private int[] indexThenStop(SimulatedEngine engine, String prompt) throws Exception {
        DaemonProcess d = fx.startDaemon(config, port);
        fx.awaitReady(d, port);
        fx.store(engine, prompt);
        int[] tokens = fx.tokenize(engine, prompt);
        ReplicaFixture.await("the prompt indexed", () -> fx.gpuHit(port, "sim-0", tokens) >= 48);
        ReplicaFixture.stop(d);
        assertTrue(d.output().contains("event=snapshot_written trigger=shutdown"), d.output());
        assertTrue(Files.size(snapshotFile) > 0);
        return tokens;
    }

    @Test
    void shouldAnswerTheSnapshotsBlocksWhenThePublisherIsGone() throws Exception {
        SimulatedEngine engine = fx.startEngine(spec);
        int[] tokens = indexThenStop(engine, ReplicaFixture.prompt("kept", 60));
        long hit = 0;
        engine.close();

        DaemonProcess d = fx.startDaemon(config, port);
        fx.awaitRestored(d, port);
        hit = fx.gpuHit(port, "sim-0", tokens);

        assertTrue(hit >= 48, "restored hit " + hit + "\n" + d.output());
        // Serving the restored blocks, while /ready says truthfully that the static subscription never connected.
        assertEquals(503, fx.status(port, "/ready"), d.output());
        assertTrue(d.output().contains("event=snapshot_loaded source=file"), d.output());
    }

    @Test
    void shouldDropTheOldBlocksOfAPublisherThatRestartedMeanwhile() throws Exception {
        SimulatedEngine engine = fx.startEngine(spec);
        int[] old = indexThenStop(engine, ReplicaFixture.prompt("old", 60));
        engine.close();
        SimulatedEngine restarted = fx.startEngine(spec);
        String fresh = ReplicaFixture.prompt("fresh", 60);
        fx.store(restarted, fresh);
        int[] freshTokens = fx.tokenize(restarted, fresh);

        DaemonProcess d = fx.startDaemon(config, port);
        fx.awaitReady(d, port);

        ReplicaFixture.await("the restarted publisher's blocks", () -> fx.gpuHit(port, "sim-0", freshTokens) >= 48);
        assertEquals(0, fx.gpuHit(port, "sim-0", old), d.output());
    }

    @Test
    void shouldResumeWithoutLosingBlocksStoredWhileTheConductorWasDown() throws Exception {
        SimulatedEngine engine = fx.startEngine(spec);
        int[] before = indexThenStop(engine, ReplicaFixture.prompt("before", 60));
        for (int i = 0; i < 3; i++) {
            fx.store(engine, ReplicaFixture.prompt("during" + i, 40));
        }
        String during = ReplicaFixture.prompt("during-last", 60);
        fx.store(engine, during);
        int[] duringTokens = fx.tokenize(engine, during);

        DaemonProcess d = fx.startDaemon(config, port);
        fx.awaitReady(d, port);

        ReplicaFixture.await("blocks stored while down", () -> fx.gpuHit(port, "sim-0", duringTokens) >= 48);
        assertTrue(fx.gpuHit(port, "sim-0", before) >= 48, d.output());
        assertTrue(fx.serviceStates(port).startsWith("live"), fx.serviceStates(port));
    }

    @Test
    void shouldRefuseATruncatedSnapshotAndRebuildFromReplay() throws Exception {
        SimulatedEngine engine = fx.startEngine(spec);
        int[] tokens = indexThenStop(engine, ReplicaFixture.prompt("replayed", 60));
        byte[] bytes = Files.readAllBytes(snapshotFile);
        Files.write(snapshotFile, Arrays.copyOf(bytes, bytes.length / 2));

        DaemonProcess d = fx.startDaemon(config, port);
        fx.awaitReady(d, port);

        assertTrue(d.output().contains("event=snapshot_rejected") && d.output().contains("truncated"), d.output());
        assertEquals(0, fx.get(port, "/metrics").lines()
            .filter(l -> l.startsWith("conductor_snapshot_restored_pairs ")).mapToDouble(l -> Double.parseDouble(
                l.substring(l.indexOf(' ') + 1))).sum(), "nothing restored from a bad file");
        ReplicaFixture.await("the blocks, rebuilt from replay", () -> fx.gpuHit(port, "sim-0", tokens) >= 48);
        assertTrue(d.process().isAlive());
    }

    @Test
    void shouldRefuseACorruptSnapshotAndStartEmptyWhenThePublisherIsGone() throws Exception {
        SimulatedEngine engine = fx.startEngine(spec);
        int[] tokens = indexThenStop(engine, ReplicaFixture.prompt("corrupt", 60));
        engine.close();
        byte[] bytes = Files.readAllBytes(snapshotFile);
        bytes[bytes.length / 2] ^= 0x55;
        Files.write(snapshotFile, bytes);

        DaemonProcess d = fx.startDaemon(config, port);
        fx.awaitRestored(d, port);

        assertTrue(d.output().contains("event=snapshot_rejected") && d.output().contains("checksum"), d.output());
        assertEquals(0, fx.gpuHit(port, "sim-0", tokens), "never a half-loaded index");
    }
}
