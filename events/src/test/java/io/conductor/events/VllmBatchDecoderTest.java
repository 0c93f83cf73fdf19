package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** vLLM decoding against the spec's captured bytes (events.md 2.6) and generated cases for every encoding. */
class VllmBatchDecoderTest {

    private static final long H1 = 0x1122334455667788L;
    private static final long H2 = 0xf122334455667788L; // above Long.MAX_VALUE

    @Test
    void shouldDecodeCapturedMapBatchWhenCurrentVllmPublishes() {
        final List<byte[]> frames = Captures.frames("vllm-map-seq0.txt");

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, frames.get(2));

        assertEquals("kv-events", new String(frames.get(0), StandardCharsets.UTF_8));
        assertArrayEquals(new byte[8], frames.get(1));
        assertEquals(202, frames.get(2).length);
        assertCapturedStore(batch);
    }

    @Test
    void shouldDecodeCapturedArrayBatchWhenLegacyVllmPublishes() {
        final byte[] payload = Captures.payload("vllm-array-seq0.txt");

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, payload);

        assertEquals(81, payload.length);
        assertCapturedStore(batch);
    }

    @ParameterizedTest
    @ValueSource(strings = {"vllm-map-seq1.txt", "vllm-array-seq1.txt"})
    void shouldDecodeRemoveAndClearWhenSecondCapturedBatchArrives(String capture) {
        final byte[] payload = Captures.payload(capture);

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, payload);

        assertEquals(capture.contains("map") ? 99 : 59, payload.length);
        assertNull(batch.batchDrop());
        assertEquals(1_700_000_001.25, batch.timestampSeconds());
        assertEquals(2, batch.events().size());
        final DecodedEvent removed = batch.event(0);
        assertEquals(EventKind.BLOCKS_REMOVED, removed.kind());
        assertArrayEquals(new long[] {H1}, removed.hashes());
        assertEquals(Medium.GPU, removed.medium());
        assertEquals(0, removed.groupIdx());
        assertEquals(EventKind.ALL_BLOCKS_CLEARED, batch.event(1).kind());
    }

    @Test
    void shouldGenerateByteIdenticalPayloadsWhenEncodingTheCapturedBatch() {
        // The generator behind the transport tests and the JMH benchmark writes what vLLM's msgspec writes.
        final Payloads.Stored stored = Payloads.Stored.gpu(new long[] {H1, H2}, 4);

        final byte[] map = Payloads.batch(1_700_000_000.5, 0, stored.map());
        final byte[] array = Payloads.batch(1_700_000_000.5, 0, stored.array(12));
        final byte[] second = Payloads.batch(1_700_000_001.25, 0, Payloads.Removed.gpu(H1).map(),
                Payloads.clearedMap());
        final byte[] secondArray = Payloads.batch(1_700_000_001.25, 0, Payloads.Removed.gpu(H1).array(4),
                Payloads.clearedArray());

        assertArrayEquals(Captures.payload("vllm-map-seq0.txt"), map);
        assertArrayEquals(Captures.payload("vllm-array-seq0.txt"), array);
        assertArrayEquals(Captures.payload("vllm-map-seq1.txt"), second);
        assertArrayEquals(Captures.payload("vllm-array-seq1.txt"), secondArray);
    }

    private static void assertCapturedStore(DecodedBatch batch) {
        assertNull(batch.batchDrop());
        assertEquals(1_700_000_000.5, batch.timestampSeconds());
        assertEquals(0, batch.dpRank());
        assertEquals(1, batch.events().size());
        final DecodedEvent e = batch.event(0);
        assertEquals(EventKind.BLOCKS_STORED, e.kind());
        assertArrayEquals(new long[] {H1, H2}, e.hashes());
        assertEquals("f122334455667788", Long.toUnsignedString(e.hashes()[1], 16));
        assertNull(e.parent());
        assertArrayEquals(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, e.tokens());
        assertEquals(4, e.blockSize());
        assertEquals(KvEvent.NO_LORA_ID, e.loraId());
        assertNull(e.loraName());
        assertEquals(Medium.GPU, e.medium());
        assertEquals("GPU", e.mediumName());
        assertArrayEquals(Captures.hex("92 c0 c0"), e.extraKeys());
        assertEquals(0, e.groupIdx());
        assertEquals(SpecKind.FULL_ATTENTION, e.specKind());
        assertEquals(KvEvent.ABSENT_INT, e.slidingWindow());
        assertTrue(e.primary());
    }

    @ParameterizedTest
    @ValueSource(ints = {6, 7, 8, 9, 10, 11, 12, 13, 15})
    void shouldReadEveryFieldPresentWhenBlockStoredArrayHasHistoricalLength(int length) {
        final Payloads.Stored stored = Payloads.Stored.gpu(new long[] {5, H2}, 2).withParent(-7L)
                .withLora(3, "adapter").withGroup(1, "sliding_window");
        final byte[] payload = Payloads.batch(1.0, 0, stored.array(length));

        final DecodedEvent e = DecodedBatch.decode(PublisherType.VLLM, payload).event(0);

        assertArrayEquals(new long[] {5, H2}, e.hashes());
        assertEquals(-7L, e.parent());
        assertArrayEquals(new int[] {1, 2, 3, 4}, e.tokens());
        assertEquals(2, e.blockSize());
        assertEquals(3, e.loraId());
        assertEquals(length >= 7 ? Medium.GPU : Medium.ABSENT, e.medium());
        assertEquals(length >= 8 ? "adapter" : null, e.loraName());
        assertEquals(length >= 9, e.extraKeys() != null);
        assertEquals(length >= 10 ? 1 : 0, e.groupIdx());
        assertEquals(length >= 11 ? SpecKind.SLIDING_WINDOW : SpecKind.ABSENT, e.specKind());
        assertEquals(length < 10, e.primary());
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4, 5})
    void shouldReadEveryFieldPresentWhenBlockRemovedArrayHasHistoricalLength(int length) {
        final byte[] payload = Payloads.batch(1.0, 0, new Payloads.Removed(new long[] {H2}, "CPU", 2).array(length));

        final DecodedEvent e = DecodedBatch.decode(PublisherType.VLLM, payload).event(0);

        assertEquals(EventKind.BLOCKS_REMOVED, e.kind());
        assertArrayEquals(new long[] {H2}, e.hashes());
        assertEquals(length >= 3 ? Medium.CPU : Medium.ABSENT, e.medium());
        assertEquals(length >= 4 ? 2 : 0, e.groupIdx());
    }

    @Test
    void shouldDecodeIdenticallyWhenSameEventIsArrayOrMapEncoded() {
        final Payloads.Stored stored = Payloads.Stored.gpu(new long[] {1, -1, Long.MIN_VALUE}, 16)
                .withLora(9, "lora-9");

        final DecodedEvent fromMap = DecodedBatch.decode(PublisherType.VLLM, Payloads.batch(2.0, 0, stored.map()))
                .event(0);
        final DecodedEvent fromArray = DecodedBatch.decode(PublisherType.VLLM,
                Payloads.batch(2.0, 0, stored.array(12))).event(0);

        assertArrayEquals(fromMap.hashes(), fromArray.hashes());
        assertArrayEquals(fromMap.tokens(), fromArray.tokens());
        assertEquals(fromMap.loraId(), fromArray.loraId());
        assertEquals("lora-9", fromArray.loraName());
        assertEquals(fromMap.loraName(), fromArray.loraName());
        assertEquals(fromMap.medium(), fromArray.medium());
        assertEquals(fromMap.specKind(), fromArray.specKind());
        assertArrayEquals(fromMap.extraKeys(), fromArray.extraKeys());
    }

    @Test
    void shouldUseLastEightBytesWhenHashesAreBin() {
        // c4 20 + 32 bytes (sha256) and c4 10 + 16 bytes (xxhash); parent as a bin too
        final String sha = "c4 20 " + "00 ".repeat(24) + "f1 22 33 44 55 66 77 88";
        final String xx = "c4 10 " + "ff ".repeat(8) + "01 02 03 04 05 06 07 08";
        final byte[] event = Captures.hex("83 a4 74 79 70 65 ab 42 6c 6f 63 6b 53 74 6f 72 65 64"
                + " ac 62 6c 6f 63 6b 5f 68 61 73 68 65 73 92 " + sha + " " + xx
                + " b1 70 61 72 65 6e 74 5f 62 6c 6f 63 6b 5f 68 61 73 68 c4 08 00 00 00 00 00 00 00 2a");

        final DecodedEvent e = DecodedBatch.decode(PublisherType.VLLM, Payloads.batch(1.0, 0, Payloads.raw(event)))
                .event(0);

        assertArrayEquals(new long[] {H2, 0x0102030405060708L}, e.hashes());
        assertEquals(42L, e.parent());
    }

    @ParameterizedTest
    @ValueSource(strings = {"05", "cc ff", "cd ff ff", "ce ff ff ff ff", "cf ff ff ff ff ff ff ff ff", "e0", "d0 80",
        "d1 80 00", "d2 80 00 00 00", "d3 80 00 00 00 00 00 00 00"})
    void shouldKeepSixtyFourBitPatternWhenHashUsesAnyIntegerForm(String hashBytes) {
        final byte[] event = Captures.hex("92 ac 42 6c 6f 63 6b 52 65 6d 6f 76 65 64 91 " + hashBytes);
        final long expected = switch (hashBytes) {
            case "05" -> 5;
            case "cc ff" -> 0xff;
            case "cd ff ff" -> 0xffff;
            case "ce ff ff ff ff" -> 0xffff_ffffL;
            case "cf ff ff ff ff ff ff ff ff" -> -1L;
            case "e0" -> -32;
            case "d0 80" -> -128;
            case "d1 80 00" -> -32768;
            case "d2 80 00 00 00" -> Integer.MIN_VALUE;
            default -> Long.MIN_VALUE;
        };

        final DecodedEvent e = DecodedBatch.decode(PublisherType.VLLM, Payloads.batch(1.0, 0, Payloads.raw(event)))
                .event(0);

        assertArrayEquals(new long[] {expected}, e.hashes());
    }

    @Test
    void shouldIgnoreUnknownKeysWhenMapEventCarriesThem() {
        // "type" not first, an unknown nested key, a non-string key, and locality (map form only)
        final byte[] event = Payloads.pack(p -> {
            p.packMapHeader(6);
            p.packString("block_hashes").packArrayHeader(1).packLong(77);
            p.packString("future_field").packMapHeader(1).packString("x").packArrayHeader(2).packNil().packNil();
            p.packInt(12).packString("non-string key");
            p.packString("type").packString("BlockStored");
            p.packString("medium").packString("FS");
            p.packString("locality").packString("REMOTE");
        });

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, Payloads.batch(1.0, 0,
                Payloads.raw(event)));

        assertEquals(List.of(), batch.eventDrops());
        final DecodedEvent e = batch.event(0);
        assertArrayEquals(new long[] {77}, e.hashes());
        assertEquals(Medium.FS, e.medium());
        assertEquals(Locality.REMOTE, e.locality());
        assertEquals(KvEvent.ABSENT_INT, e.blockSize());
    }

    @Test
    void shouldDecodeEnvelopeWhenBatchHasTwoElementsNilRankOrMapForm() {
        final Payloads.EventWriter cleared = Payloads.clearedMap();

        final DecodedBatch two = DecodedBatch.decode(PublisherType.VLLM,
                Payloads.batch(3.5, Payloads.NO_RANK_ELEMENT, cleared), 4);
        final DecodedBatch nil = DecodedBatch.decode(PublisherType.VLLM,
                Payloads.batch(3.5, Payloads.NIL_RANK, cleared), 4);
        final DecodedBatch map = DecodedBatch.decode(PublisherType.VLLM, Payloads.mapBatch(3.5, 4, cleared), 4);

        for (final DecodedBatch b : List.of(two, nil, map)) {
            assertNull(b.batchDrop());
            assertEquals(3.5, b.timestampSeconds());
            assertEquals(EventKind.ALL_BLOCKS_CLEARED, b.event(0).kind());
        }
        assertEquals(KvBatch.NO_DP_RANK, two.dpRank());
        assertEquals(KvBatch.NO_DP_RANK, nil.dpRank());
        assertEquals(4, map.dpRank());
    }

    @Test
    void shouldMarkNonPrimaryWhenGroupOrAttentionKindDiffers() {
        final long[] h = {1};

        final DecodedEvent group1 = decodeOne(Payloads.Stored.gpu(h, 1).withGroup(1, "full_attention").map());
        final DecodedEvent mamba = decodeOne(Payloads.Stored.gpu(h, 1).withGroup(0, "mamba").map());
        final DecodedEvent mla = decodeOne(Payloads.Stored.gpu(h, 1).withGroup(0, "mla_attention").map());
        final DecodedEvent odd = decodeOne(Payloads.Stored.gpu(h, 1).withGroup(0, "brand_new_kind").map());

        assertFalse(group1.primary());
        assertEquals(SpecKind.MAMBA, mamba.specKind());
        assertFalse(mamba.primary());
        assertTrue(mla.primary());
        assertEquals(SpecKind.UNKNOWN, odd.specKind());
        assertFalse(odd.primary());
    }

    private static DecodedEvent decodeOne(Payloads.EventWriter event) {
        return DecodedBatch.decode(PublisherType.VLLM, Payloads.batch(1.0, 0, event)).event(0);
    }
}
