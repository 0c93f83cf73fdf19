package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The table against a plain map model: adds, removals, owner clears, growth, list/bitmap forms. */
class BlockTableTest {
    private final BlockTable table = new BlockTable(7);
    /** key to ((lora, owner) to tier bits). */
    private final Map<Long, Map<List<Integer>, Integer>> model = new HashMap<>();

    private void add(long key, int lora, int owner, int tiers) {
        grow();
        table.add(key, lora, owner, tiers, 1);
        model.computeIfAbsent(key, k -> new HashMap<>()).merge(List.of(lora, owner), tiers, (a, b) -> a | b);
    }

    private void grow() {
        while (table.needsSlotGrowth() || table.needsArenaGrowth()) {
            if (table.needsSlotGrowth()) {
                table.growSlots();
            } else {
                table.growArena();
            }
        }
    }

    private void removeAnyLora(long key, int owner, int tiers) {
        table.removeTiers(key, -1, owner, tiers);
        Map<List<Integer>, Integer> m = model.get(key);
        if (m != null) {
            m.replaceAll((k, v) -> k.get(1) == owner ? v & ~tiers : v);
            m.values().removeIf(v -> v == 0);
        }
    }

    private void assertMatchesModel() {
        assertEquals(List.of(), table.invariantViolations());
        long pairs = model.values().stream().mapToLong(Map::size).sum();
        assertEquals(pairs, table.pairs());
        for (Map.Entry<Long, Map<List<Integer>, Integer>> e : model.entrySet()) {
            for (Map.Entry<List<Integer>, Integer> p : e.getValue().entrySet()) {
                assertEquals((int) p.getValue(), table.tiersOf(e.getKey(), p.getKey().get(0), p.getKey().get(1)),
                        "tiers of " + e.getKey() + " " + p.getKey());
            }
        }
    }

    @Test
    void shouldAgreeWithModelWhenRandomOpsRun() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int step = 0; step < 60_000; step++) {
            long key = rnd.nextInt(3000) * 0x9E3779B97F4A7C15L;
            int owner = rnd.nextInt(rnd.nextBoolean() ? 3 : 150);
            int tiers = 1 + rnd.nextInt(7);
            switch (rnd.nextInt(10)) {
                case 0, 1, 2, 3, 4, 5 -> add(key, rnd.nextInt(3) == 0 ? 1 : 0, owner, tiers);
                case 6, 7, 8 -> removeAnyLora(key, owner, tiers);
                default -> {
                    if (rnd.nextInt(200) == 0) {
                        table.clearOwner(owner, tiers);
                        for (Map<List<Integer>, Integer> m : model.values()) {
                            m.replaceAll((k, v) -> k.get(1) == owner ? v & ~tiers : v);
                            m.values().removeIf(v -> v == 0);
                        }
                    }
                }
            }
            if (step % 5000 == 0) {
                assertMatchesModel();
            }
        }
        assertMatchesModel();
    }

    @Test
    void shouldSwitchToBitmapAndBackWhenOwnersComeAndGo() {
        for (int o = 0; o < 200; o++) {
            add(42, 0, o, BlockTable.GPU);
        }
        assertMatchesModel();
        ReadBuffer buf = new ReadBuffer();
        buf.prepare(4);

        assertTrue(table.read(42, 0, buf));
        assertEquals(-1L, buf.gpu[0]);
        assertEquals(-1L, buf.gpu[1]);
        assertEquals(-1L, buf.gpu[2]);
        assertEquals((1L << 8) - 1, buf.gpu[3]);
        for (int o = 199; o >= 1; o--) {
            removeAnyLora(42, o, BlockTable.GPU);
        }
        assertMatchesModel();
        assertTrue(table.read(42, 0, buf));
        assertEquals(1L, buf.gpu[0]);
        removeAnyLora(42, 0, BlockTable.GPU);
        assertFalse(table.read(42, 0, buf));
        assertEquals(0, table.size());
    }

    @Test
    void shouldKeepEveryKeyReachableWhenDeletingFromLongRuns() {
        for (long k = 0; k < 10_000; k++) {
            add(k, 0, 0, BlockTable.GPU);
        }
        for (long k = 0; k < 10_000; k += 3) {
            removeAnyLora(k, 0, BlockTable.GPU);
        }

        assertMatchesModel();

        ReadBuffer buf = new ReadBuffer();
        buf.prepare(1);
        for (long k = 0; k < 10_000; k++) {
            assertEquals(k % 3 != 0, table.read(k, 0, buf), "key " + k);
        }
    }

    @Test
    void shouldKeepContentWhenCompactedAfterEviction() {
        for (long k = 1; k <= 4000; k++) {
            add(k, 0, (int) (k % 5), BlockTable.GPU);
            add(k, 0, 5 + (int) (k % 3), BlockTable.CPU);
        }
        int[] hist = new int[BlockTable.UNKNOWN_DEPTH + 1];

        DeepestFirstEviction.evictEntries(table, 3000, hist);
        table.compact(BlockTable.capacityFor(table.size()));

        assertEquals(1000, table.size());
        assertEquals(2000, table.pairs());
        assertEquals(List.of(), table.invariantViolations());
        assertEquals(0, table.freeArenaLongs());
    }
}
