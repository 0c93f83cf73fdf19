package io.conductor.nativestore;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost of the store probe on the query path, against the C test double of {@code store_c.h} (so the numbers are
 * the conductor's own overhead plus a trivial native side, not a real master round trip):
 * <ul>
 *   <li>{@code warmQuery}: {@code residentRun} over {@code blocks} blocks, all answered by the cache (the
 *       continuation ends at a cached absent block). Target: at most 2 us per query.</li>
 *   <li>{@code coldQuery}: cache off; key building for {@code blocks x ranks} keys plus one
 *       {@code batch_is_exist}.</li>
 *   <li>{@code nativeBatch}: only the FFM downcall of {@code batch_is_exist} on prebuilt keys
 *       ({@code blocks x ranks} of them), i.e. FFM call overhead per batch plus the double's lookups.</li>
 *   <li>{@code nativeHealthCheck}: the cheapest bound call (the double takes a mutex and returns), i.e. bare FFM
 *       downcall overhead.</li>
 * </ul>
 * Run: {@code bin/bench native-store StoreProbeBenchmark -prof gc}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class StoreProbeBenchmark {
    @Param({"16", "128"})
    int blocks;

    @Param({"1", "4"})
    int ranks;

    private StoreResidencyProbe warm;
    private StoreResidencyProbe cold;
    private StoreKeyLayout warmLayout;
    private StoreKeyLayout coldLayout;
    private MooncakeStoreClient client;
    private BatchScratch scratch;
    private byte[] digests;
    private int keyCount;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        Path library = StoreDouble.load();
        Map<String, Object> base = new HashMap<>(Map.of("tp_size", ranks, "max_batch_keys", 1024));
        digests = new byte[(blocks + 1) * 32];
        new java.util.Random(42).nextBytes(digests);

        Map<String, Object> warmFields = new HashMap<>(base);
        warmFields.put("cache_ttl_ms", 3_600_000);
        warm = ProbeFixtures.startUp(ProbeFixtures.config(library, warmFields));
        warmLayout = warm.layoutFor("Qwen2.5-7B-Instruct");
        StoreDouble.setKeys(ProbeFixtures.keys(warmLayout, digests, 0, blocks));
        if (warm.residentRun(warmLayout, digests, 32, 0, blocks + 1) != blocks) {
            throw new IllegalStateException("warm-up probe disagrees with the double");
        }

        Map<String, Object> coldFields = new HashMap<>(base);
        coldFields.put("cache_ttl_ms", 0);
        cold = ProbeFixtures.startUp(ProbeFixtures.config(library, coldFields));
        coldLayout = cold.layoutFor("Qwen2.5-7B-Instruct");

        client = MooncakeStoreClient.open(ProbeFixtures.config(library, base), "127.0.0.1", false);
        keyCount = blocks * ranks;
        scratch = new BatchScratch(keyCount, 256);
        byte[] hex = new byte[64];
        int k = 0;
        for (int b = 0; b < blocks; b++) {
            DigestHex.encode(digests, b * 32, 32, hex);
            for (int r = 0; r < ranks; r++) {
                scratch.putKey(k++, coldLayout.writeKey(r, hex, 64, scratch.key, 0));
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        warm.close();
        cold.close();
        client.close();
        scratch.close();
    }

    @Benchmark
    public int warmQuery() {
        return warm.residentRun(warmLayout, digests, 32, 0, blocks + 1);
    }

    @Benchmark
    public int coldQuery() {
        return cold.residentRun(coldLayout, digests, 32, 0, blocks + 1);
    }

    @Benchmark
    public int nativeBatch() {
        int rc = client.batchIsExist(scratch.pointers, keyCount, scratch.results);
        return rc + scratch.results.getAtIndex(ValueLayout.JAVA_INT, keyCount - 1);
    }

    @Benchmark
    public int nativeHealthCheck() {
        return client.healthCheck();
    }

}
