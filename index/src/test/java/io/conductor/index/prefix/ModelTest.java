package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Contexts, profiles, LoRA isolation, shared pools, idempotence. */
class ModelTest extends IndexFixture {
    private static final long BASE = 5000;

    @Test
    void shouldRejectConflictingProfileWhenContextIsBound() {
        rank("a", 0);

        assertThrows(ProfileConflictException.class, () -> index.register(CTX, "other", "b", 0));

        assertEquals(List.of("a"), List.copyOf(index.contexts().getFirst().instances().keySet()));
        assertEquals(PROFILE, index.profile(CTX));
    }

    @Test
    void shouldFreeContextWhenLastRegistrationLeaves() throws Exception {
        RankHandle a0 = rank("a", 0);
        RankHandle a1 = rank("a", 1);
        store(a0, Tier.GPU, BASE, 0, 4);

        assertTrue(index.unregister(a0));
        assertEquals(1, index.stats().contexts());
        assertTrue(index.unregister(a1));

        assertEquals(0, index.stats().contexts());
        assertNull(index.profile(CTX));
        assertEquals(0, index.stats().blocks());
        assertFalse(index.unregister(a1), "unregister is idempotent");
        // A freed context can be bound to another profile.
        index.register(CTX, "other", "b", 0);
        assertEquals("other", index.profile(CTX));
    }

    @Test
    void shouldReturnSameHandleWhenRegisteringTwice() {
        RankHandle first = rank("a", 0);

        RankHandle second = rank("a", 0);

        assertSame(first, second);
    }

    @Test
    void shouldDropOpsWhenHandleWasUnregistered() {
        RankHandle a0 = rank("a", 0);
        rank("b", 0);
        index.unregister(a0);

        store(a0, Tier.GPU, BASE, 0, 3);

        assertEquals(0, index.stats().blocks());
        assertEquals(1, index.stats().droppedEvents());
    }

    @Test
    void shouldMatchOnlySameLoraWhenBlocksAreStoredUnderAdapter() {
        RankHandle a0 = rank("a", 0);
        store(a0, "sql-lora", Tier.GPU, BASE, 0, 3);

        index.query(CTX, new BlockHashArray(chain(BASE, 3)), "", null, match);
        long base = match.longestMatchedTokens(0);
        index.query(CTX, new BlockHashArray(chain(BASE, 3)), "sql-lora", null, match);
        long adapter = match.longestMatchedTokens(0);
        index.query(CTX, new BlockHashArray(chain(BASE, 3)), "other-lora", null, match);
        long other = match.longestMatchedTokens(0);
        int otherHashed = match.hashedBlocks();

        assertEquals(0, base);
        assertEquals(48, adapter);
        assertEquals(0, other);
        assertEquals(0, otherHashed, "an adapter the context never saw cannot match: nothing is hashed");
    }

    @Test
    void shouldKeepLoraVariantsApartWhenTheyShareAHash() {
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);
        store(a0, "x", Tier.GPU, BASE, 0, 2);
        store(b0, "", Tier.GPU, BASE, 0, 2);

        index.query(CTX, new BlockHashArray(chain(BASE, 2)), "x", null, match);

        assertEquals(32, match.longestMatchedTokens(instanceIndex(match, "a")));
        assertEquals(0, match.longestMatchedTokens(instanceIndex(match, "b")));
        assertEquals(4, index.stats().blocks(), "(hash, lora) entries");
    }

    @Test
    void shouldRemoveFromEveryLoraWhenBlockRemovedNamesNone() {
        RankHandle a0 = rank("a", 0);
        store(a0, "x", Tier.GPU, BASE, 0, 2);
        store(a0, "", Tier.GPU, BASE, 0, 2);

        remove(a0, Tier.GPU, BASE + 1);

        assertEquals(0, index.tiersOf(a0, "x", BASE + 1));
        assertEquals(0, index.tiersOf(a0, "", BASE + 1));
        assertEquals(Tier.GPU.bit(), index.tiersOf(a0, "x", BASE));
    }

    @Test
    void shouldBeIdempotentWhenStoresAndRemovesRepeat() {
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);
        store(a0, Tier.GPU, BASE, 0, 4);
        store(b0, Tier.GPU, BASE, 0, 4);
        store(a0, Tier.GPU, BASE, 0, 4);
        assertEquals(8, index.stats().pairs());

        remove(a0, Tier.GPU, BASE + 3);
        remove(a0, Tier.GPU, BASE + 3);
        remove(a0, Tier.GPU, 999_999);

        assertEquals(7, index.stats().pairs());
        assertEquals(4, index.stats().blocks());
        assertEquals(2, index.stats().unknownRemovals(), "the repeated and the never-stored removal");
    }

    @Test
    void shouldClearOneOwnerOnlyWhenAllBlocksCleared() {
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);
        store(a0, Tier.GPU, BASE, 0, 4);
        store(a0, Tier.CPU, BASE, 4, 6);
        store(b0, Tier.GPU, BASE, 0, 2);

        batch.clearOwner(a0, Tier.GPU);
        index.apply(batch);
        batch.clear();

        assertEquals(0, index.tiersOf(a0, "", BASE));
        assertEquals(Tier.CPU.bit(), index.tiersOf(a0, "", BASE + 4));
        assertEquals(Tier.GPU.bit(), index.tiersOf(b0, "", BASE));
        batch.clearOwner(a0);
        index.apply(batch);
        assertEquals(2, index.stats().pairs());
    }

    @Test
    void shouldCountPoolBlocksOnlyForReadersWhenPoolIsShared() {
        RankHandle a0 = rank("a", 0);
        RankHandle b0 = rank("b", 0);
        rank("c", 0);
        index.addPoolReader("a", "pool-1");
        index.addPoolReader("b", "pool-2");
        store(a0, Tier.GPU, BASE, 0, 1);
        store(b0, Tier.GPU, BASE, 0, 1);
        PoolStream s = index.openPoolStream("tcp://m:1");
        batch.poolStore(s, CTX, "", "pool-1", "obj-1", Tier.CPU, BASE + 1);
        batch.poolStore(s, CTX, "", "pool-1", "obj-2", Tier.DISK, BASE + 2);
        index.apply(batch);

        PrefixMatch m = query(BASE, 4);

        assertEquals(48, m.longestMatchedTokens(instanceIndex(m, "a")));
        assertEquals(16, m.longestMatchedTokens(instanceIndex(m, "b")), "b reads pool-2 only");
        assertEquals(0, m.longestMatchedTokens(instanceIndex(m, "c")), "c reads no pool and holds no GPU block");
        assertEquals(List.of("pool-1"), index.contexts().getFirst().backends());
        assertEquals(List.of(), List.copyOf(index.contexts().getFirst().instances().keySet()).stream()
                .filter(i -> i.startsWith("pool")).toList(), "backends never appear as instances");
    }

    @Test
    void shouldStartMatchingAtBlockZeroFromPoolWhenInstanceHasNoGpuBlocks() {
        rank("a", 0);
        index.addPoolReader("a", PrefixIndex.ANY_BACKEND);
        PoolStream s = index.openPoolStream("tcp://m:1");
        batch.poolStore(s, CTX, "", "pool-1", "o0", Tier.CPU, BASE);
        batch.poolStore(s, CTX, "", "pool-1", "o1", Tier.CPU, BASE + 1);
        index.apply(batch);

        PrefixMatch m = query(BASE, 3);

        assertEquals(0, m.gpuTokens(0));
        assertEquals(32, m.cpuTokens(0));
        assertEquals(32, m.longestMatchedTokens(0));
    }

    @Test
    void shouldFollowBindingsWhenMooncakeObjectsAreRemoved() {
        rank("a", 0);
        index.addPoolReader("a", "pool-1");
        PoolStream s = index.openPoolStream("tcp://m:1");
        // Two objects (TP ranks 0 and 1) of one logical block share the 64-bit key.
        batch.poolStore(s, CTX, "", "pool-1", "m@tp_rank:0@pcp0@dcp0@pp_rank:0@2a", Tier.CPU, BASE);
        batch.poolStore(s, CTX, "", "pool-1", "m@tp_rank:1@pcp0@dcp0@pp_rank:0@2a", Tier.CPU, BASE);
        batch.poolStore(s, CTX, "", "pool-1", "m@tp_rank:1@pcp0@dcp0@pp_rank:0@2a", Tier.CPU, BASE);
        index.apply(batch);
        batch.clear();

        batch.poolRemove(s, "default", "pool-1", "m@tp_rank:0@pcp0@dcp0@pp_rank:0@2a", Tier.CPU);
        index.apply(batch);
        batch.clear();
        long afterFirst = query(BASE, 1).cpuTokens(0);
        batch.poolRemove(s, "default", "pool-1", "m@tp_rank:1@pcp0@dcp0@pp_rank:0@2a", Tier.CPU);
        batch.poolRemove(s, "default", "pool-1", "never-stored", Tier.CPU);
        index.apply(batch);
        long afterSecond = query(BASE, 1).cpuTokens(0);

        assertEquals(16, afterFirst, "one object of the block is still stored");
        assertEquals(0, afterSecond);
        assertEquals(1, index.stats().unknownRemovals());
        assertEquals(0, index.stats().pairs());
    }

    @Test
    void shouldRemoveOnlyThatBackendAndTenantWhenCleared() {
        rank("a", 0);
        index.addPoolReader("a", PrefixIndex.ANY_BACKEND);
        PoolStream s = index.openPoolStream("tcp://m:1");
        batch.poolStore(s, CTX, "", "pool-1", "o1", Tier.CPU, BASE);
        batch.poolStore(s, CTX, "", "pool-2", "o2", Tier.CPU, BASE + 1);
        index.apply(batch);
        batch.clear();

        batch.poolClear(s, "other-tenant", "pool-1");
        index.apply(batch);
        batch.clear();
        long untouched = index.stats().pairs();
        batch.poolClear(s, "default", "pool-1");
        index.apply(batch);

        assertEquals(2, untouched);
        assertEquals(1, index.stats().pairs());
        index.closePoolStream(s);
        assertEquals(0, index.stats().pairs());
    }

    @Test
    void shouldDropPoolEventsWhenContextIsMissing() {
        PoolStream s = index.openPoolStream("tcp://m:1");

        batch.poolStore(s, CTX, "", "pool-1", "o1", Tier.CPU, BASE);
        index.apply(batch);

        assertEquals(0, index.stats().contexts(), "a pool never creates a context");
        assertEquals(1, index.stats().droppedEvents());
    }

    @Test
    void shouldRejectGpuTierWhenRecordingPoolStore() {
        PoolStream s = index.openPoolStream("tcp://m:1");

        assertThrows(IllegalArgumentException.class,
                () -> batch.poolStore(s, CTX, "", "pool-1", "o1", Tier.GPU, BASE));

        assertEquals(0, batch.size());
    }

    @Test
    void shouldReportInstancesAndPrefixCountInGlobalView() {
        RankHandle a0 = rank("a", 0);
        rank("a", 2);
        rank("b", 1);
        store(a0, Tier.GPU, BASE, 0, 5);

        ContextView<String> v = index.contexts().getFirst();

        assertEquals(CTX, v.key());
        assertEquals(PROFILE, v.profile());
        assertEquals(5, v.prefixCount());
        assertEquals(List.of(0, 2), v.instances().get("a"));
        assertEquals(List.of(1), v.instances().get("b"));
    }

    @Test
    void shouldMapMediaToTiersWhenParsingEventNames() {
        assertEquals(Tier.GPU, Tier.ofVllmMedium("GPU"));
        assertEquals(Tier.GPU, Tier.ofVllmMedium("gpu"));
        assertEquals(Tier.CPU, Tier.ofVllmMedium("CPU"));
        assertEquals(Tier.DISK, Tier.ofVllmMedium("FS"));
        assertEquals(Tier.DISK, Tier.ofVllmMedium("OBJ"));
        assertNull(Tier.ofVllmMedium("NVME?"));
        assertEquals(Tier.CPU, Tier.ofMooncakeMedium("cpu"));
        assertEquals(Tier.DISK, Tier.ofMooncakeMedium("disk"));
        assertNull(Tier.ofMooncakeMedium("gpu"));
    }
}
