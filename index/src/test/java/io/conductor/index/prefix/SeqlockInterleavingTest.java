package io.conductor.index.prefix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Deterministic worst-case interleavings of the table's read protocol: writes are injected between a reader's probe
 * and its copy of the owners (through {@link SeqlockSlots#readHook}), so the reader holds a stale meta word. Without
 * validation each case would return another block's owners or a half-moved entry.
 */
class SeqlockInterleavingTest {
    private static final long X = 0x1111L;
    private static final long Y = 0x2222L;
    private final BlockTable table = new BlockTable(5);
    private final ReadBuffer buf = new ReadBuffer();

    @AfterEach
    void clearHook() {
        SeqlockSlots.readHook = null;
        assertEquals(java.util.List.of(), table.invariantViolations());
    }

    private void runOnce(Runnable writes) {
        boolean[] done = new boolean[1];
        SeqlockSlots.readHook = () -> {
            if (!done[0]) {
                done[0] = true;
                writes.run();
            }
        };
    }

    private void add(long key, int owner) {
        while (table.needsSlotGrowth() || table.needsArenaGrowth()) {
            if (table.needsSlotGrowth()) {
                table.growSlots();
            } else {
                table.growArena();
            }
        }
        table.add(key, 0, owner, BlockTable.GPU, 1);
    }

    @Test
    void shouldRetryWhenArenaBlockIsRecycledForAnotherBlockMidRead() {
        add(X, 1);
        add(X, 2);
        buf.prepare(1);
        // X's list block is freed (X drops to one inline owner) and handed to Y for owners 5 and 6.
        runOnce(() -> {
            table.removeTiers(X, 0, 2, BlockTable.GPU);
            add(Y, 5);
            add(Y, 6);
        });

        assertTrue(table.read(X, 0, buf));

        assertEquals(1L << 1, buf.gpu[0], "X's owners as they are now, never Y's");
        assertTrue(buf.retries > 0);
    }

    @Test
    void shouldRetryOnNewViewWhenTableGrowsAndEntryChangesMidRead() {
        add(X, 1);
        add(X, 2);
        buf.prepare(1);
        // The slot table is rebuilt (new view), then X changes in the shared arena: only the retired stripes of the
        // old view tell the reader.
        runOnce(() -> {
            table.growSlots();
            table.removeTiers(X, 0, 2, BlockTable.GPU);
            add(Y, 5);
            add(Y, 6);
        });

        assertTrue(table.read(X, 0, buf));

        assertEquals(1L << 1, buf.gpu[0]);
        assertTrue(buf.retries > 0);
    }

    @Test
    void shouldSeeRemovalWhenEntryIsDeletedMidRead() {
        add(X, 3);
        buf.prepare(1);
        runOnce(() -> table.removeTiers(X, 0, 3, BlockTable.GPU));

        assertFalse(table.read(X, 0, buf));

        assertEquals(0L, buf.gpu[0]);
    }
}
