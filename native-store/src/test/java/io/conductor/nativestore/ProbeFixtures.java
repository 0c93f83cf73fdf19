package io.conductor.nativestore;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;

/** Shared test inputs: configuration trees, digests, and a deadline poll. Stateless; thread-safe. */
final class ProbeFixtures {
    static final Duration DEADLINE = Duration.ofSeconds(20);

    private ProbeFixtures() {
    }

    /** An enabled block pointing at {@code library}, with fast retries; {@code overrides} are applied last. */
    static Map<String, Object> block(Path library, Map<String, Object> overrides) {
        Map<String, Object> m = new HashMap<>();
        m.put("enabled", true);
        m.put("library_path", library.toString());
        m.put("local_hostname", "10.0.0.7");
        m.put("metadata_server", "http://127.0.0.1:8080/metadata");
        m.put("master_server_address", "127.0.0.1:50051");
        m.put("protocol", "tcp");
        m.put("model", "Qwen2.5-7B-Instruct");
        m.put("retry_initial_ms", 20);
        m.put("retry_max_ms", 200);
        m.put("health_check_interval_ms", 30);
        m.putAll(overrides);
        return m;
    }

    static NativeStoreConfig config(Path library, Map<String, Object> overrides) {
        return NativeStoreConfig.fromTree(block(library, overrides), name -> null);
    }

    /** {@code blocks} random 32-byte digests packed in one array. */
    static byte[] digests(long seed, int blocks) {
        byte[] d = new byte[blocks * 32];
        new Random(seed).nextBytes(d);
        return d;
    }

    static byte[] digest(byte[] digests, int block) {
        byte[] one = new byte[32];
        System.arraycopy(digests, block * 32, one, 0, 32);
        return one;
    }

    /** Every rank's key of blocks {@code [from, to)}. */
    static List<String> keys(StoreKeyLayout layout, byte[] digests, int from, int to) {
        List<String> keys = new ArrayList<>();
        for (int b = from; b < to; b++) {
            for (int r = 0; r < layout.rankCount(); r++) {
                keys.add(layout.key(r, digest(digests, b)));
            }
        }
        return keys;
    }

    static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.onSpinWait();
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    static StoreResidencyProbe startUp(NativeStoreConfig config) {
        StoreResidencyProbe probe = StoreResidencyProbe.start(config);
        await("probe UP, status " + probe.status(), () -> probe.status().up());
        return probe;
    }
}
