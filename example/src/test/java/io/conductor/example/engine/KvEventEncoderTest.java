package io.conductor.example.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The encoder must reproduce the bytes captured from vLLM's real publisher ({@code events.md} section 2.6). */
class KvEventEncoderTest {
    private static final HexFormat HEX = HexFormat.of();

    // Batch seq 0: one BlockStored, two blocks (the second hash above Long.MAX_VALUE), tokens 1..8, block size 4.
    private static final String STORED_MAP = String.join("",
        "93", "cb41d954fc40200000", "91", "8b",
        "a474797065", "ab426c6f636b53746f726564",
        "ac626c6f636b5f686173686573", "92", "cf1122334455667788", "cff122334455667788",
        "b1706172656e745f626c6f636b5f68617368", "c0",
        "a9746f6b656e5f696473", "980102030405060708",
        "aa626c6f636b5f73697a65", "04",
        "a76c6f72615f6964", "c0",
        "a66d656469756d", "a3475055",
        "a96c6f72615f6e616d65", "c0",
        "aa65787472615f6b657973", "92c0c0",
        "a967726f75705f696478", "00",
        "b26b765f63616368655f737065635f6b696e64", "ae66756c6c5f617474656e74696f6e",
        "00");
    private static final String STORED_ARRAY = String.join("",
        "93", "cb41d954fc40200000", "91", "9c",
        "ab426c6f636b53746f726564",
        "92cf1122334455667788cff122334455667788",
        "c0", "980102030405060708", "04", "c0", "a3475055", "c0", "92c0c0", "00",
        "ae66756c6c5f617474656e74696f6e", "c0",
        "00");
    private static final String REMOVED_CLEARED_MAP = String.join("",
        "93cb41d954fc40500000", "92",
        "84", "a474797065ac426c6f636b52656d6f766564",
        "ac626c6f636b5f68617368657391cf1122334455667788",
        "a66d656469756da3475055",
        "a967726f75705f69647800",
        "81", "a474797065b0416c6c426c6f636b73436c6561726564",
        "00");
    private static final String REMOVED_CLEARED_ARRAY = String.join("",
        "93cb41d954fc40500000", "92",
        "94ac426c6f636b52656d6f76656491cf1122334455667788a347505500",
        "91b0416c6c426c6f636b73436c6561726564",
        "00");

    private static List<KvEvent> storedBatch() {
        return List.of(new KvEvent.BlockStored(new long[] {0x1122334455667788L, 0xf122334455667788L}, null,
            new int[] {1, 2, 3, 4, 5, 6, 7, 8}, 4, null, "GPU", null, Arrays.asList(null, null)));
    }

    private static List<KvEvent> removedClearedBatch() {
        return List.of(new KvEvent.BlockRemoved(new long[] {0x1122334455667788L}, "GPU"),
            new KvEvent.AllBlocksCleared());
    }

    @Test
    void shouldMatchVllmMapCaptureWhenEncodingBlockStored() {
        byte[] bytes = new KvEventEncoder(EventEncoding.MAP).encodeBatch(1700000000.5, storedBatch(), 0);

        assertEquals(202, bytes.length);
        assertArrayEquals(HEX.parseHex(STORED_MAP), bytes, () -> HEX.formatHex(bytes));
    }

    @Test
    void shouldMatchVllmLegacyArrayCaptureWhenEncodingBlockStored() {
        byte[] bytes = new KvEventEncoder(EventEncoding.ARRAY).encodeBatch(1700000000.5, storedBatch(), 0);

        assertEquals(81, bytes.length);
        assertArrayEquals(HEX.parseHex(STORED_ARRAY), bytes, () -> HEX.formatHex(bytes));
    }

    @Test
    void shouldMatchVllmMapCaptureWhenEncodingRemovedAndCleared() {
        byte[] bytes = new KvEventEncoder(EventEncoding.MAP).encodeBatch(1700000001.25, removedClearedBatch(), 0);

        assertEquals(99, bytes.length);
        assertArrayEquals(HEX.parseHex(REMOVED_CLEARED_MAP), bytes, () -> HEX.formatHex(bytes));
    }

    @Test
    void shouldMatchVllmLegacyArrayCaptureWhenEncodingRemovedAndCleared() {
        byte[] bytes = new KvEventEncoder(EventEncoding.ARRAY).encodeBatch(1700000001.25, removedClearedBatch(), 0);

        assertEquals(59, bytes.length);
        assertArrayEquals(HEX.parseHex(REMOVED_CLEARED_ARRAY), bytes, () -> HEX.formatHex(bytes));
    }

    @Test
    void shouldWriteSmallestUintAndExtraKeysWhenHashIsSmallAndLoraIsSet() {
        List<KvEvent> batch = List.of(new KvEvent.BlockStored(new long[] {42L}, 7L, new int[] {1}, 1, 3, "GPU",
            "my-lora", List.of(List.of("my-lora", "tenant-a"))));

        byte[] bytes = new KvEventEncoder(EventEncoding.ARRAY).encodeBatch(0.0, batch, 1);

        // [tag, [42], 7, [1], 1, 3, "GPU", "my-lora", [["my-lora", "tenant-a"]], 0, kind, nil], rank 1
        String hex = HEX.formatHex(bytes);
        assertEquals("93cb0000000000000000919c" + "ab426c6f636b53746f726564" + "912a" + "07" + "9101" + "01" + "03"
            + "a3475055" + "a76d792d6c6f7261" + "9192a76d792d6c6f7261a874656e616e742d61" + "00"
            + "ae66756c6c5f617474656e74696f6e" + "c0" + "01", hex);
    }
}
