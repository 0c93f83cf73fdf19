package io.conductor.nativestore;

import static io.conductor.nativestore.ProbeFixtures.await;
import static io.conductor.nativestore.ProbeFixtures.digests;
import static io.conductor.nativestore.ProbeFixtures.keys;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Setup failures, retries with backoff, health, close, and many queries probing at once. */
class ProbeLifecycleTest {
    private Path library;
    private StoreResidencyProbe probe;

    @BeforeEach
    void loadDouble() {
        library = StoreDouble.load();
    }

    @AfterEach
    void closeProbe() {
        if (probe != null) {
            probe.close();
        }
    }

    @Test
    void shouldBeDisabledByDefault() {
        probe = StoreResidencyProbe.start(NativeStoreConfig.disabled());

        assertEquals(ProbeStatus.State.DISABLED, probe.status().state());
        assertEquals(StoreResidencyProbe.UNAVAILABLE, probe.residentRun(
                StoreKeyLayout.of(NativeStoreConfig.disabled(), "m"), new byte[64], 32, 0, 2));
        assertEquals(0, StoreDouble.counter("create"), "a disabled probe never loads the library");
    }

    @Test
    void shouldReportDownWithPathAndKeepRetryingWhenLibraryIsMissing() {
        Path missing = library.resolveSibling("missing/libmooncake_store.so");
        probe = StoreResidencyProbe.start(ProbeFixtures.config(missing, Map.of()));

        await("two failed attempts", () -> probe.status().setupAttempts() >= 2);

        ProbeStatus s = probe.status();
        assertEquals(ProbeStatus.State.DOWN, s.state());
        assertTrue(s.reason().startsWith(missing + ": cannot load"), s.reason());
        assertEquals(missing.toString(), s.library());
        assertEquals(StoreResidencyProbe.UNAVAILABLE,
                probe.residentRun(probe.layoutFor("Qwen2.5-7B-Instruct"), new byte[64], 32, 0, 2));
        assertEquals(1, probe.stats().unavailable());
    }

    @Test
    void shouldComeUpOnRetryWhenSetupStartsSucceeding() {
        StoreDouble.setRc("setup", -900);
        probe = StoreResidencyProbe.start(ProbeFixtures.config(library, Map.of()));
        await("setup failure reported", () -> probe.status().state() == ProbeStatus.State.DOWN);
        assertTrue(probe.status().reason().contains("mooncake_store_setup(") && probe.status().reason()
                .contains("returned -900"), probe.status().reason());

        StoreDouble.setRc("setup", 0);

        await("probe UP after retry", () -> probe.status().up());
        assertTrue(probe.status().setupAttempts() >= 2);
        assertEquals(StoreDouble.counter("create"), StoreDouble.counter("destroy") + 1,
                "every failed attempt destroyed its handle");
    }

    @Test
    void shouldGoDownWhenMasterUnreachableAndRecover() {
        probe = ProbeFixtures.startUp(ProbeFixtures.config(library, Map.of()));

        StoreDouble.setRc("health_check", MooncakeStoreDescriptor.HEALTH_MASTER_UNREACHABLE);
        await("DOWN on failed health check", () -> probe.status().state() == ProbeStatus.State.DOWN);
        assertTrue(probe.status().reason().contains("master unreachable"), probe.status().reason());
        StoreDouble.setRc("health_check", 0);

        await("UP again", () -> probe.status().up());
        assertEquals(1, StoreDouble.counter("create"), "an unreachable master keeps the client");
    }

    @Test
    void shouldDestroyHandleAndAnswerUnavailableWhenClosed() {
        probe = ProbeFixtures.startUp(ProbeFixtures.config(library, Map.of()));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");

        probe.close();
        probe.close();

        assertEquals(ProbeStatus.State.CLOSED, probe.status().state());
        assertEquals(0, StoreDouble.counter("live_handles"));
        assertEquals(StoreResidencyProbe.UNAVAILABLE, probe.residentRun(layout, new byte[64], 32, 0, 2));
    }

    @Test
    void shouldAnswerEveryQueryCorrectlyWhenManyProbeAtOnce() throws Exception {
        for (int ttl : new int[] {0, 60_000}) {
            StoreDouble.reset();
            probe = ProbeFixtures.startUp(ProbeFixtures.config(library, Map.of("tp_size", 2, "pp_size", 2,
                    "cache_ttl_ms", ttl)));
            StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
            int prompts = 16;
            int blocks = 40;
            List<byte[]> digests = new ArrayList<>();
            List<String> held = new ArrayList<>();
            for (int p = 0; p < prompts; p++) {
                byte[] d = digests(100 + p, blocks);
                digests.add(d);
                held.addAll(keys(layout, d, 0, p + 10)); // prompt p: the first p + 10 blocks are resident
            }
            StoreDouble.setKeys(held);
            int threads = 8;
            int queriesPerThread = 300;
            CountDownLatch go = new CountDownLatch(1);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<Integer>> wrong = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int seed = t;
                wrong.add(pool.submit(() -> {
                    go.await();
                    int mismatches = 0;
                    for (int q = 0; q < queriesPerThread; q++) {
                        int p = (seed * 7 + q) % prompts;
                        int from = (q * 3) % (blocks - 1);
                        int expected = Math.max(0, p + 10 - from);
                        if (probe.residentRun(layout, digests.get(p), 32, from, blocks) != expected) {
                            mismatches++;
                        }
                    }
                    return mismatches;
                }));
            }

            go.countDown();
            int mismatches = 0;
            for (Future<Integer> f : wrong) {
                mismatches += f.get(60, TimeUnit.SECONDS);
            }
            pool.shutdown();

            assertEquals(0, mismatches, "cache ttl " + ttl);
            assertEquals(0, probe.stats().errors());
            assertEquals(threads * queriesPerThread, probe.stats().queries());
            probe.close();
            assertEquals(0, StoreDouble.counter("live_handles"));
        }
    }
}
