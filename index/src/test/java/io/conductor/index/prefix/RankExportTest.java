package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link PrefixIndex#exportRank} and {@link PrefixIndex#restoreRank}: what a snapshot round trip relies on. */
class RankExportTest extends IndexFixture {

    /** (lora name, hash) -> "tiers/depth" of every block a rank holds, from its export. */
    private static Map<String, String> contents(RankBlocks b) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < b.size(); i++) {
            m.put(b.loraNames().get(b.loraOf(i)) + "/" + b.hash(i), b.tierBits(i) + "/" + b.depth(i));
        }
        return m;
    }

    @Test
    void shouldExportOnlyTheRanksBlocksWithTiersLoraAndDepth() {
        RankHandle a = rank("a", 0);
        RankHandle b = rank("b", 0);
        store(a, Tier.GPU, 1000, 0, 5);
        store(a, Tier.CPU, 1000, 0, 2);
        store(a, "adapter", Tier.GPU, 5000, 0, 3);
        store(b, Tier.GPU, 1000, 0, 8);
        store(b, Tier.GPU, 9000, 0, 4);

        RankBlocks exported = index.exportRank(a);

        Map<String, String> m = contents(exported);
        assertEquals(8, exported.size());
        assertEquals("3/1", m.get("/1000"), "GPU+CPU at depth 1");
        assertEquals("1/5", m.get("/1004"));
        assertEquals("1/3", m.get("adapter/5002"));
        assertEquals(null, m.get("/9000"), "b's blocks are not a's");
    }

    @Test
    void shouldAnswerTheSameQueriesAfterARestoreIntoAFreshIndex() {
        RankHandle a = rank("a", 0);
        RankHandle b = rank("b", 1);
        store(a, Tier.GPU, 1000, 0, 6);
        store(b, Tier.GPU, 1000, 0, 3);
        store(b, Tier.DISK, 1000, 0, 5);
        RankBlocks ea = index.exportRank(a);
        RankBlocks eb = index.exportRank(b);
        PrefixMatch before = query(1000, 6);
        long gpuA = before.gpuTokens(instanceIndex(before, "a"));
        long diskB = before.diskTokens(instanceIndex(before, "b"));

        index = new PrefixIndex<>(new PrefixIndexConfig(64L << 20, 0, 42));
        RankHandle a2 = rank("a", 0);
        RankHandle b2 = rank("b", 1);
        assertEquals(6, index.restoreRank(a2, ea));
        assertEquals(5, index.restoreRank(b2, eb));

        PrefixMatch after = query(1000, 6);
        assertEquals(gpuA, after.gpuTokens(instanceIndex(after, "a")));
        assertEquals(diskB, after.diskTokens(instanceIndex(after, "b")));
        assertEquals(contents(ea), contents(index.exportRank(a2)));
        assertEquals(6 + 5, index.stats().pairs());
    }

    @Test
    void shouldExportSeveralRanksInOneScanAsEachAlone() {
        RankHandle a = rank("a", 0);
        RankHandle b = rank("b", 0);
        RankHandle c = rank("c", 1);
        store(a, Tier.GPU, 1000, 0, 20);
        store(b, Tier.GPU, 1000, 5, 30);
        store(b, Tier.CPU, 1000, 0, 3);
        store(c, "adapter", Tier.DISK, 1000, 0, 7);

        List<RankBlocks> all = index.exportRanks(List.of(c, a, b));

        assertEquals(contents(index.exportRank(c)), contents(all.get(0)));
        assertEquals(contents(index.exportRank(a)), contents(all.get(1)));
        assertEquals(contents(index.exportRank(b)), contents(all.get(2)));
        assertEquals(20, all.get(1).size());
    }

    @Test
    void shouldRestoreLargeRanksInSlotOrderWithEveryBlockTierAndDepth() {
        // Large enough that the restore reorders by slot (more than 4096 blocks, a table of more than 4096
        // slots), and restored into an index with another seed, so the snapshot's order is not the new slot order.
        RankHandle a = rank("a", 0);
        RankHandle b = rank("b", 1);
        store(a, Tier.GPU, 1000, 0, 30_000);
        store(a, "adapter", Tier.CPU, 1000, 0, 5_000);
        store(b, Tier.DISK, 1000, 10_000, 40_000);
        store(b, Tier.GPU, 1000, 10_000, 12_000);
        RankBlocks ea = index.exportRank(a);
        RankBlocks eb = index.exportRank(b);
        long pairs = index.stats().pairs();

        index = new PrefixIndex<>(new PrefixIndexConfig(256L << 20, 0, 7));
        RankHandle a2 = rank("a", 0);
        RankHandle b2 = rank("b", 1);
        assertEquals(35_000, index.restoreRank(a2, ea));
        assertEquals(30_000, index.restoreRank(b2, eb));

        assertEquals(contents(ea), contents(index.exportRank(a2)));
        assertEquals(contents(eb), contents(index.exportRank(b2)));
        assertEquals(pairs, index.stats().pairs());
        PrefixMatch m = query(1000, 40_000);
        assertEquals(30_000L * 16, m.gpuTokens(instanceIndex(m, "a")), "a's chain walks whole after the restore");
    }

    @Test
    void shouldRestoreNothingIntoAnUnregisteredRank() {
        RankHandle a = rank("a", 0);
        store(a, Tier.GPU, 1000, 0, 3);
        RankBlocks e = index.exportRank(a);
        index.unregister(a);

        assertEquals(0, index.restoreRank(a, e));
        assertEquals(0, index.exportRank(a).size());
    }

    @Test
    void shouldRejectOutOfRangeValuesWhenFillingColumns() {
        RankBlocks b = new RankBlocks(0);
        assertThrows(IllegalArgumentException.class, () -> b.add(1, 5, 1, 1), "unknown LoRA");
        assertThrows(IllegalArgumentException.class, () -> b.add(0, 5, 0, 1), "no tier");
        assertThrows(IllegalArgumentException.class, () -> b.add(0, 5, 8, 1), "tier bits");
        assertThrows(IllegalArgumentException.class, () -> b.add(0, 5, 1, RankBlocks.MAX_DEPTH + 1), "depth");
        assertEquals(0, b.size());
        assertEquals(List.of(""), b.loraNames());
    }
}
