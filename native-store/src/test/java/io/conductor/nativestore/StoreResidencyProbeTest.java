package io.conductor.nativestore;

import static io.conductor.nativestore.ProbeFixtures.await;
import static io.conductor.nativestore.ProbeFixtures.digest;
import static io.conductor.nativestore.ProbeFixtures.digests;
import static io.conductor.nativestore.ProbeFixtures.keys;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Probe answers, batching, key layout and cache behaviour, all through the real FFM binding and the C double. */
class StoreResidencyProbeTest {
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

    private StoreResidencyProbe start(Map<String, Object> overrides) {
        probe = ProbeFixtures.startUp(ProbeFixtures.config(library, overrides));
        return probe;
    }

    @Test
    void shouldReportResidentRunMatchingDoubleKeys() {
        start(Map.of());
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(1, 8);
        StoreDouble.setKeys(keys(layout, d, 0, 5));

        assertEquals(5, probe.residentRun(layout, d, 32, 0, 8));
        assertEquals(3, probe.residentRun(layout, d, 32, 2, 8));
        assertEquals(0, probe.residentRun(layout, d, 32, 5, 8));
        assertEquals(2, probe.residentRun(layout, d, 32, 3, 5));
        assertEquals(0, probe.residentRun(layout, d, 32, 4, 4), "an empty range needs no call");
    }

    @Test
    void shouldRequireEveryRankKeyWhenTpAndPpAboveOne() {
        start(Map.of("tp_size", 2, "pp_size", 2, "cache_ttl_ms", 0));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(2, 6);
        List<String> held = new ArrayList<>(keys(layout, d, 0, 6));
        held.remove(layout.key(3, digest(d, 3))); // block 3 lacks tp_rank:1 pp_rank:1
        StoreDouble.setKeys(held);

        int run = probe.residentRun(layout, d, 32, 0, 6);

        assertEquals(3, run);
        assertEquals(keys(layout, d, 0, 6), StoreDouble.lastKeys(), "one key per block and rank, in order");
        assertEquals(24, StoreDouble.counter("max_batch"));
        assertEquals(5, probe.stats().residentBlocks(), "blocks 0-2 and 4-5 are complete");
    }

    @Test
    void shouldMakeOneBatchCallPerQuery() {
        start(Map.of("tp_size", 4, "cache_ttl_ms", 0));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(3, 100);
        StoreDouble.setKeys(keys(layout, d, 0, 100));

        assertEquals(100, probe.residentRun(layout, d, 32, 0, 100));
        assertEquals(60, probe.residentRun(layout, d, 32, 40, 100));

        assertEquals(2, StoreDouble.counter("batch_is_exist"));
        assertEquals(400 + 240, StoreDouble.counter("keys_asked"));
        ProbeStatsSnapshot s = probe.stats();
        assertEquals(2, s.nativeCalls());
        assertEquals(640, s.keysAsked());
        assertEquals(160, s.blocksAsked());
        assertEquals(2, s.latencyBucketCounts().stream().mapToLong(Long::longValue).sum());
    }

    @Test
    void shouldCapOneCallAtMaxBatchKeys() {
        start(Map.of("tp_size", 2, "max_batch_keys", 9, "cache_ttl_ms", 0));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(4, 10);
        StoreDouble.setKeys(keys(layout, d, 0, 10));

        int run = probe.residentRun(layout, d, 32, 0, 10);

        assertEquals(4, run, "9 keys / 2 ranks = 4 blocks per call; the run is reported up to that window");
        assertEquals(8, StoreDouble.counter("max_batch"));
        assertEquals(1, StoreDouble.counter("batch_is_exist"));
    }

    @Test
    void shouldAnswerWarmPrefixFromCacheWithoutNativeCall() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(5, 8);
        StoreDouble.setKeys(keys(layout, d, 0, 5));
        assertEquals(5, probe.residentRun(layout, d, 32, 0, 8));

        StoreDouble.setKeys(List.of()); // the cache, not the store, must answer now
        int again = probe.residentRun(layout, d, 32, 0, 8);
        int fromMiddle = probe.residentRun(layout, d, 32, 2, 8);

        assertEquals(5, again);
        assertEquals(3, fromMiddle);
        assertEquals(1, StoreDouble.counter("batch_is_exist"));
        ProbeStatsSnapshot s = probe.stats();
        assertEquals(6 + 4, s.cacheHits(), "5 resident + the absent block 5, then 3 + 1");
        assertEquals(8, s.cacheMisses());
        assertTrue(s.cacheHitRate() > 0.5);
    }

    @Test
    void shouldAskOnlyBeyondCachedBlocks() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(6, 8);
        StoreDouble.setKeys(keys(layout, d, 0, 8));
        assertEquals(4, probe.residentRun(layout, d, 32, 0, 4));

        int run = probe.residentRun(layout, d, 32, 0, 8);

        assertEquals(8, run);
        assertEquals(keys(layout, d, 4, 8), StoreDouble.lastKeys(), "blocks 0-3 came from the cache");
    }

    @Test
    void shouldAskAgainWhenCacheEntryExpires() {
        start(Map.of("cache_ttl_ms", 50));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(7, 4);
        StoreDouble.setKeys(keys(layout, d, 0, 2));
        assertEquals(2, probe.residentRun(layout, d, 32, 0, 4));

        StoreDouble.addKeys(keys(layout, d, 2, 4));

        await("the expired answer to be asked again", () -> probe.residentRun(layout, d, 32, 0, 4) == 4);
    }

    @Test
    void shouldMarkBlockAbsentWhenObjectRemovedEventArrives() {
        start(Map.of("tp_size", 2, "cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(8, 6);
        StoreDouble.setKeys(keys(layout, d, 0, 6));
        assertEquals(6, probe.residentRun(layout, d, 32, 0, 6));

        probe.onObjectRemoved(layout.key(1, digest(d, 2)));

        assertEquals(2, probe.residentRun(layout, d, 32, 0, 6));
        assertEquals(1, StoreDouble.counter("batch_is_exist"), "the event, not the store, shortened the run");
    }

    @Test
    void shouldAskAgainWhenObjectStoredEventArrives() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(9, 4);
        StoreDouble.setKeys(keys(layout, d, 0, 2));
        assertEquals(2, probe.residentRun(layout, d, 32, 0, 4));
        StoreDouble.addKeys(keys(layout, d, 2, 4));

        probe.onObjectStored(layout.key(0, digest(d, 2)));
        probe.onObjectStored("other-model@tp_rank:0@pcp0@dcp0@pp_rank:0@group:0@00112233445566778899");

        assertEquals(4, probe.residentRun(layout, d, 32, 0, 4));
        assertEquals(keys(layout, d, 2, 4), StoreDouble.lastKeys());
    }

    @Test
    void shouldForgetEverythingWhenStoreIsCleared() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(10, 3);
        StoreDouble.setKeys(keys(layout, d, 0, 3));
        assertEquals(3, probe.residentRun(layout, d, 32, 0, 3));
        StoreDouble.setKeys(List.of());

        probe.onStoreCleared();

        assertEquals(0, probe.residentRun(layout, d, 32, 0, 3));
    }

    @Test
    void shouldCountKeyErrorsAndNotCacheThem() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(11, 3);
        StoreDouble.setKeys(keys(layout, d, 0, 3));
        String hexOfBlock1 = layout.key(0, digest(d, 1)).substring(layout.prefixes().get(0).length());
        StoreDouble.setKeyError(hexOfBlock1, -900);

        assertEquals(1, probe.residentRun(layout, d, 32, 0, 3));
        assertEquals(1, probe.stats().errors());

        StoreDouble.setKeyError("", 0);
        assertEquals(3, probe.residentRun(layout, d, 32, 0, 3), "the failed block was asked again");
        assertEquals(2, StoreDouble.counter("batch_is_exist"));
    }

    @Test
    void shouldReturnCachedRunAndCountErrorWhenBatchCallFails() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(12, 6);
        StoreDouble.setKeys(keys(layout, d, 0, 6));
        assertEquals(2, probe.residentRun(layout, d, 32, 0, 2));
        StoreDouble.setRc("batch_is_exist", -1);

        int run = probe.residentRun(layout, d, 32, 0, 6);

        assertEquals(2, run, "what the cache knows, nothing from the failed call");
        assertEquals(1, probe.stats().errors());
    }

    @Test
    void shouldGiveSameAnswerAndKeysForWordDigests() {
        start(Map.of("tp_size", 2, "cache_ttl_ms", 0));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = digests(13, 5);
        long[] words = new long[5 * 4];
        ByteBuffer.wrap(d).asLongBuffer().get(words);
        StoreDouble.setKeys(keys(layout, d, 0, 3));

        int run = probe.residentRunOfWords(layout, words, 4, 0, 5);

        assertEquals(3, run);
        assertEquals(keys(layout, d, 0, 4).subList(0, 8), StoreDouble.lastKeys().subList(0, 8));
    }

    @Test
    void shouldUseSixteenByteDigestsOfXxhashModes() {
        start(Map.of("cache_ttl_ms", 0));
        StoreKeyLayout layout = probe.layoutFor("Qwen2.5-7B-Instruct");
        byte[] d = new byte[3 * 16];
        new java.util.Random(14).nextBytes(d);
        byte[] first = java.util.Arrays.copyOf(d, 16);
        StoreDouble.setKeys(List.of(layout.key(0, first)));

        assertEquals(1, probe.residentRun(layout, d, 16, 0, 3));
    }

    @Test
    void shouldKeepLayoutsOfModelsApart() {
        start(Map.of("cache_ttl_ms", 60_000));
        StoreKeyLayout a = probe.layoutFor("model-a");
        StoreKeyLayout b = probe.layoutFor("model-b");
        byte[] d = digests(15, 2);
        StoreDouble.setKeys(keys(a, d, 0, 2));

        assertEquals(2, probe.residentRun(a, d, 32, 0, 2));
        assertEquals(0, probe.residentRun(b, d, 32, 0, 2), "model-a's cached answer must not leak to model-b");
        assertTrue(a == probe.layoutFor("model-a"));
    }
}
