package io.conductor.example.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Behaviour of the block pool: prefix hits, the vLLM hit cap, LRU eviction order, events and back-pressure. */
class PrefixCacheTest {
    private static final int B = 4;
    private final VllmBlockHasher hasher = new VllmBlockHasher("sha256_cbor", "0", B);

    private static int[] tokens(int from, int count) {
        int[] t = new int[count];
        for (int i = 0; i < count; i++) {
            t[i] = from + i;
        }
        return t;
    }

    private PrefixCache.Allocation allocate(PrefixCache cache, int[] tokens, List<KvEvent> events) {
        PrefixCache.Allocation a = cache.allocate(hasher.hashBlocks(tokens, tokens.length, null, null), tokens,
            tokens.length, null, null, null, events);
        assertNotNull(a);
        return a;
    }

    @Test
    void shouldHitSharedPrefixAndStoreOnlyNewBlocksWhenPromptExtendsCachedOne() {
        PrefixCache cache = new PrefixCache(16, B);
        List<KvEvent> events = new ArrayList<>();
        int[] first = tokens(1, 9);
        cache.release(allocate(cache, first, events));
        events.clear();

        int[] second = tokens(1, 13);
        PrefixCache.Allocation a = allocate(cache, second, events);

        assertEquals(8, a.cachedTokens());
        assertEquals(1, events.size());
        KvEvent.BlockStored stored = assertInstanceOf(KvEvent.BlockStored.class, events.getFirst());
        long[] hashes = hasher.hashBlocks(second, second.length, null, null);
        assertArrayEquals(new long[] {hashes[2]}, stored.blockHashes());
        assertEquals(hashes[1], stored.parentBlockHash());
        assertArrayEquals(tokens(9, 4), stored.tokenIds());
    }

    @Test
    void shouldCapHitOneTokenShortWhenWholePromptIsCached() {
        PrefixCache cache = new PrefixCache(16, B);
        List<KvEvent> events = new ArrayList<>();
        int[] prompt = tokens(1, 8);
        cache.release(allocate(cache, prompt, events));

        PrefixCache.Allocation again = allocate(cache, prompt, new ArrayList<>());

        // vLLM always computes the last prompt token, so a fully cached 2-block prompt hits one block.
        assertEquals(4, again.cachedTokens());
        assertEquals(4, cache.hitTokens());
        assertEquals(16, cache.queryTokens());
    }

    @Test
    void shouldEvictLeastRecentlyUsedTailFirstWhenPoolIsFull() {
        PrefixCache cache = new PrefixCache(4, B);
        List<KvEvent> events = new ArrayList<>();
        int[] a = tokens(100, 8);
        int[] b = tokens(200, 8);
        cache.release(allocate(cache, a, events));
        cache.release(allocate(cache, b, events));
        cache.release(allocate(cache, tokens(100, 5), new ArrayList<>())); // touches a's first block
        events.clear();

        cache.release(allocate(cache, tokens(300, 8), events));

        long[] ha = hasher.hashBlocks(a, 8, null, null);
        long[] hb = hasher.hashBlocks(b, 8, null, null);
        // The touching request's unhashed tail block is reused first (no event), then the LRU hashed block: b's tail,
        // because a request frees its blocks tail first.
        KvEvent.BlockRemoved removed = assertInstanceOf(KvEvent.BlockRemoved.class, events.getFirst());
        assertArrayEquals(new long[] {hb[1]}, removed.blockHashes());
        assertEquals("GPU", removed.medium());
        assertTrue(cache.contains(ha[0]));
        assertTrue(cache.contains(hb[0]));
        assertFalse(cache.contains(hb[1]));
    }

    @Test
    void shouldRefuseAllocationWithoutChangesWhenBlocksAreHeld() {
        PrefixCache cache = new PrefixCache(4, B);
        PrefixCache.Allocation held = allocate(cache, tokens(1, 12), new ArrayList<>());
        List<KvEvent> events = new ArrayList<>();

        PrefixCache.Allocation refused = cache.allocate(hasher.hashBlocks(tokens(50, 8), 8, null, null),
            tokens(50, 8), 8, null, null, null, events);

        assertNull(refused);
        assertTrue(events.isEmpty());
        assertEquals(0.75, cache.usage());
        cache.release(held);
        assertEquals(0.0, cache.usage());
        assertEquals(3, cache.cachedBlocks());
    }

    @Test
    void shouldRejectPromptLargerThanPool() {
        PrefixCache cache = new PrefixCache(2, B);

        assertThrows(IllegalArgumentException.class, () -> cache.allocate(new long[3], tokens(1, 12), 12, null,
            null, null, new ArrayList<>()));
    }

    @Test
    void shouldClearEverythingAndEmitAllBlocksClearedWhenIdle() {
        PrefixCache cache = new PrefixCache(8, B);
        cache.release(allocate(cache, tokens(1, 8), new ArrayList<>()));
        List<KvEvent> events = new ArrayList<>();

        assertTrue(cache.reset(events));

        assertEquals(List.of(new KvEvent.AllBlocksCleared()), events);
        assertEquals(0, cache.cachedBlocks());
        assertEquals(0, allocate(cache, tokens(1, 9), new ArrayList<>()).cachedTokens());
    }

    @Test
    void shouldPutSaltOnBlockZeroAndLoraOnEveryBlockWhenStoring() {
        PrefixCache cache = new PrefixCache(8, B);
        int[] t = tokens(1, 8);
        List<KvEvent> events = new ArrayList<>();

        cache.allocate(hasher.hashBlocks(t, 8, "adapter-A", "tenant-salt"), t, 8, 1, "adapter-A", "tenant-salt",
            events);

        KvEvent.BlockStored s = assertInstanceOf(KvEvent.BlockStored.class, events.getFirst());
        assertEquals(List.of(List.of("adapter-A", "tenant-salt"), List.of("adapter-A")), s.extraKeys());
        assertEquals(1, s.loraId());
        assertEquals("adapter-A", s.loraName());
    }
}
