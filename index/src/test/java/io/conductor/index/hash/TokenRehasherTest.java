package io.conductor.index.hash;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenRehasherTest {
    private static final int[] TOKENS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    private static final long[] ENGINE = {0x1122334455667788L, 0xf122334455667788L, 42L, 0L};

    @ParameterizedTest
    @EnumSource(HashAlgorithm.class)
    void shouldProduceTheQueryChainWhenEventsArriveInParts(HashAlgorithm algorithm) {
        final HashProfile own = HashProfile.forAnySeedText(algorithm, "0");
        final HashExtras extras = HashExtras.of("adapter-A", "tenant-salt");
        final TokenRehasher rehasher = new TokenRehasher(own, 100);
        final long[] out = new long[4];

        final int first = rehasher.onBlockStored(false, 0, ENGINE, 0, 2, TOKENS, 0, 8, 4, extras, out, 0);
        final int second = rehasher.onBlockStored(true, ENGINE[1], ENGINE, 2, 2, TOKENS, 8, 8, 4, extras, out, 2);

        assertEquals(2, first);
        assertEquals(2, second);
        final BlockHashChain query = new BlockHashChain().reset(own, 4, TOKENS, extras);
        for (int i = 0; i < 4; i++) {
            assertEquals(query.blockHash(i), out[i], "block " + i);
            assertEquals(query.blockHash(i), rehasher.ownHashOrDefault(ENGINE[i], -1));
        }
        assertEquals(4, rehasher.size());
    }

    @Test
    void shouldTranslateRemovalsAndChainChildrenAfterARestoreFromAnExport() {
        final HashProfile own = HashProfile.of(HashAlgorithm.SHA256, "0");
        final TokenRehasher saved = new TokenRehasher(own, 100);
        final long[] out = new long[4];
        saved.onBlockStored(false, 0, ENGINE, 0, 2, TOKENS, 0, 8, 4, HashExtras.NONE, out, 0);
        saved.onBlockStored(false, 0, ENGINE, 0, 1, TOKENS, 0, 4, 4, HashExtras.NONE, new long[1], 0);
        final RehashEntries copy = saved.exportEntries();
        final TokenRehasher restored = new TokenRehasher(own, 100);

        assertTrue(restored.restoreEntries(copy));
        assertFalse(restored.restoreEntries(copy), "only into an empty map");
        assertEquals(2, restored.size());
        final long[] child = new long[2];
        assertEquals(2, restored.onBlockStored(true, ENGINE[1], ENGINE, 2, 2, TOKENS, 8, 8, 4, HashExtras.NONE,
                child, 0));
        final BlockHashChain query = new BlockHashChain().reset(own, 4, TOKENS, HashExtras.NONE);
        assertEquals(query.blockHash(2), child[0]);
        final long[] removed = new long[1];
        assertEquals(1, restored.onBlockRemoved(ENGINE, 0, 1, removed, 0));
        assertEquals(out[0], removed[0]);
        assertTrue(restored.contains(ENGINE[0]), "stored twice: one reference left");
        assertEquals(1, restored.onBlockRemoved(ENGINE, 0, 1, removed, 0));
        assertFalse(restored.contains(ENGINE[0]));
        assertFalse(new TokenRehasher(own, 1).restoreEntries(copy), "over capacity");
        final RehashEntries forged = new RehashEntries(copy.digestLength(), copy.engineHashes(),
                new long[] {1, 2}, copy.counts(), copy.digests());
        assertThrows(IllegalArgumentException.class, () -> new TokenRehasher(own, 100).restoreEntries(forged));
    }

    @Test
    void shouldChangeNothingWhenParentIsUnknown() {
        final TokenRehasher rehasher = new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256, "0"), 100);
        final long[] out = new long[4];

        final int result = rehasher.onBlockStored(true, 99L, ENGINE, 0, 2, TOKENS, 0, 8, 4, HashExtras.NONE, out, 0);

        assertEquals(TokenRehasher.UNKNOWN_PARENT, result);
        assertEquals(0, rehasher.size());
        assertFalse(rehasher.contains(ENGINE[0]));
    }

    @Test
    void shouldChangeNothingWhenTokenCountDoesNotMatchBlocks() {
        final TokenRehasher rehasher = new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256, "0"), 100);
        final long[] out = new long[4];

        final int result = rehasher.onBlockStored(false, 0, ENGINE, 0, 2, TOKENS, 0, 9, 4, HashExtras.NONE, out, 0);

        assertEquals(TokenRehasher.TOKEN_COUNT_MISMATCH, result);
        assertEquals(0, rehasher.size());
    }

    @Test
    void shouldChangeNothingWhenTableWouldOverflow() {
        final TokenRehasher rehasher = new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256, "0"), 3);
        final long[] out = new long[4];
        rehasher.onBlockStored(false, 0, ENGINE, 0, 2, TOKENS, 0, 8, 4, HashExtras.NONE, out, 0);

        final int result = rehasher.onBlockStored(true, ENGINE[1], ENGINE, 2, 2, TOKENS, 8, 8, 4, HashExtras.NONE,
                out, 2);

        assertEquals(TokenRehasher.TABLE_FULL, result);
        assertEquals(2, rehasher.size());
        assertFalse(rehasher.contains(ENGINE[2]));
    }

    @Test
    void shouldTranslateRemovalsAndForgetOnlyAfterTheLastReference() {
        final TokenRehasher rehasher = new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256, "0"), 100);
        final long[] stored = new long[2];
        final long[] removed = new long[4];
        rehasher.onBlockStored(false, 0, ENGINE, 0, 2, TOKENS, 0, 8, 4, HashExtras.NONE, stored, 0);
        rehasher.onBlockStored(false, 0, ENGINE, 0, 1, TOKENS, 0, 4, 4, HashExtras.NONE, new long[1], 0);   // repeat

        final int firstRemoval = rehasher.onBlockRemoved(new long[] {ENGINE[0], 12345L, ENGINE[1]}, 0, 3, removed, 0);

        assertEquals(2, firstRemoval);
        assertEquals(stored[0], removed[0]);
        assertEquals(stored[1], removed[1]);
        assertTrue(rehasher.contains(ENGINE[0]));          // stored twice, removed once
        assertFalse(rehasher.contains(ENGINE[1]));
        assertEquals(1, rehasher.onBlockRemoved(ENGINE, 0, 1, removed, 0));
        assertFalse(rehasher.contains(ENGINE[0]));
        assertEquals(0, rehasher.size());
    }

    @Test
    void shouldForgetEverythingWhenCleared() {
        final TokenRehasher rehasher = new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256_CBOR, "0"), 100);
        rehasher.onBlockStored(false, 0, ENGINE, 0, 4, TOKENS, 0, 16, 4, HashExtras.NONE, new long[4], 0);

        rehasher.clear();

        assertEquals(0, rehasher.size());
        assertFalse(rehasher.contains(ENGINE[3]));
        assertEquals(TokenRehasher.UNKNOWN_PARENT,
                rehasher.onBlockStored(true, ENGINE[3], ENGINE, 0, 1, TOKENS, 0, 4, 4, HashExtras.NONE,
                        new long[1], 0));
    }

    @Test
    void shouldAgreeWithHashMapWhenStoresAndRemovalsAreRandom() {
        // Small table, many collisions: exercises probing and backward-shift deletion.
        final HashProfile own = HashProfile.of(HashAlgorithm.XXH3, "7");
        final TokenRehasher rehasher = new TokenRehasher(own, 64);
        final Map<Long, long[]> model = new HashMap<>();           // engine hash -> {own hash, count}
        final SplittableRandom random = new SplittableRandom(5);
        final long[] one = new long[1];
        final int[] block = new int[2];
        for (int step = 0; step < 20_000; step++) {
            final long engine = random.nextInt(100) - 50;          // small key space: repeats and removals collide
            if (random.nextBoolean()) {
                block[0] = (int) engine;
                block[1] = step;
                final int result = rehasher.onBlockStored(false, 0, new long[] {engine}, 0, 1, block, 0, 2, 2,
                        HashExtras.NONE, one, 0);
                if (model.size() + 1 > 64) {
                    assertEquals(TokenRehasher.TABLE_FULL, result);
                    continue;
                }
                assertEquals(1, result);
                model.computeIfAbsent(engine, k -> new long[] {one[0], 0})[1]++;
            } else {
                final int written = rehasher.onBlockRemoved(new long[] {engine}, 0, 1, one, 0);
                final long[] entry = model.get(engine);
                assertEquals(entry == null ? 0 : 1, written);
                if (entry != null) {
                    assertEquals(entry[0], one[0]);
                    if (--entry[1] == 0) {
                        model.remove(engine);
                    }
                }
            }
            assertEquals(model.size(), rehasher.size());
        }
        for (long engine = -50; engine < 50; engine++) {
            final long[] entry = model.get(engine);
            assertEquals(entry != null, rehasher.contains(engine));
            if (entry != null) {
                assertEquals(entry[0], rehasher.ownHashOrDefault(engine, -1));
            }
        }
    }

    @Test
    void shouldRejectCapacityWhenOutOfRange() {
        final HashProfile own = HashProfile.of(HashAlgorithm.SHA256, "0");

        assertThrows(IllegalArgumentException.class, () -> new TokenRehasher(own, 0));
        assertThrows(IllegalArgumentException.class, () -> new TokenRehasher(own, TokenRehasher.MAX_CAPACITY + 1));
    }

    @Test
    void shouldStartSmallAndGrowOnDemandKeepingEveryMappingWhenBlocksArrive() {
        final HashProfile own = HashProfile.of(HashAlgorithm.SHA256, "0");
        final long[] taken = new long[1];
        final TokenRehasher.MemoryGate gate = new TokenRehasher.MemoryGate() {
            @Override
            public boolean tryTake(long bytes) {
                taken[0] += bytes;
                return true;
            }

            @Override
            public void giveBack(long bytes) {
                taken[0] -= bytes;
            }
        };
        final TokenRehasher rehasher = new TokenRehasher(own, 1 << 15, gate);
        final long initial = rehasher.tableBytes();
        assertTrue(initial < 16 * 1024, "a new stream's table is small: " + initial);
        assertEquals(initial, taken[0]);
        final long[] out = new long[1];
        final int[] block = new int[2];
        final Map<Long, Long> own64 = new HashMap<>();
        for (long engine = 1; engine <= 10_000; engine++) {
            block[0] = (int) engine;
            assertEquals(1, rehasher.onBlockStored(false, 0, new long[] {engine}, 0, 1, block, 0, 2, 2,
                    HashExtras.NONE, out, 0));
            own64.put(engine, out[0]);
        }
        assertEquals(10_000, rehasher.size());
        assertTrue(rehasher.tableBytes() > initial, "grew");
        assertTrue(rehasher.tableBytes() < TokenRehasher.fullTableBytes(1 << 15, 32), "not to its full capacity");
        assertEquals(rehasher.tableBytes(), taken[0]);
        for (Map.Entry<Long, Long> e : own64.entrySet()) {
            assertEquals(e.getValue(), rehasher.ownHashOrDefault(e.getKey(), -1));
        }
        rehasher.clear();
        assertEquals(initial, rehasher.tableBytes(), "clear shrinks back");
        assertEquals(initial, taken[0]);
        rehasher.release();
        assertEquals(0, taken[0]);
    }

    @Test
    void shouldAnswerTableFullAndChangeNothingWhenTheGateRefusesGrowth() {
        final long[] budget = {20_000};
        final TokenRehasher.MemoryGate gate = new TokenRehasher.MemoryGate() {
            @Override
            public boolean tryTake(long bytes) {
                if (bytes > budget[0]) {
                    return false;
                }
                budget[0] -= bytes;
                return true;
            }

            @Override
            public void giveBack(long bytes) {
                budget[0] += bytes;
            }
        };
        final TokenRehasher rehasher = new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256, "0"), 1 << 15, gate);
        final long[] out = new long[1];
        final int[] block = new int[2];
        int stored = 0;
        int full = 0;
        for (long engine = 1; engine <= 1_000; engine++) {
            final int r = rehasher.onBlockStored(false, 0, new long[] {engine}, 0, 1, block, 0, 2, 2,
                    HashExtras.NONE, out, 0);
            if (r == TokenRehasher.TABLE_FULL) {
                full++;
            } else {
                stored++;
            }
        }
        assertEquals(TokenRehasher.INITIAL_SLOTS / 2, stored, "kept to the initial table, half full");
        assertEquals(1_000 - stored, full);
        assertEquals(stored, rehasher.size());
        assertThrows(IllegalStateException.class, () -> new TokenRehasher(HashProfile.of(HashAlgorithm.SHA256, "0"),
                1 << 15, new TokenRehasher.MemoryGate() {
                    @Override
                    public boolean tryTake(long bytes) {
                        return false;
                    }

                    @Override
                    public void giveBack(long bytes) {
                    }
                }));
    }
}
