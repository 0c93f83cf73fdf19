package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every malformed shape the spec names (events.md 1.2, 2.1 to 2.4, 6) has one scope: a bad batch is dropped whole
 * with nothing applied; a bad event is dropped alone and its batch-mates still decode, in order.
 */
class MalformedInputTest {

    private static final Payloads.EventWriter GOOD_FIRST = Payloads.Removed.gpu(1).map();
    private static final Payloads.EventWriter GOOD_LAST = Payloads.Removed.gpu(2).array(4);

    static Stream<Arguments> malformedBatches() {
        final byte[] good = Payloads.batch(1.0, 0, GOOD_FIRST);
        return Stream.of(
                Arguments.of("nil instead of a batch", Captures.hex("c0"), DropReason.BATCH_SHAPE),
                Arguments.of("string instead of a batch", Captures.hex("a1 78"), DropReason.BATCH_SHAPE),
                Arguments.of("array of 1", Captures.hex("91 cb 41 d9 54 fc 40 20 00 00"), DropReason.BATCH_SHAPE),
                Arguments.of("array of 4", Captures.hex("94 cb 41 d9 54 fc 40 20 00 00 90 00 00"),
                        DropReason.BATCH_SHAPE),
                Arguments.of("timestamp is a string", Captures.hex("93 a2 74 73 90 00"), DropReason.BATCH_TIMESTAMP),
                Arguments.of("timestamp is NaN", Captures.hex("93 cb 7f f8 00 00 00 00 00 00 90 00"),
                        DropReason.BATCH_TIMESTAMP),
                Arguments.of("timestamp is infinite", Captures.hex("93 cb 7f f0 00 00 00 00 00 00 90 00"),
                        DropReason.BATCH_TIMESTAMP),
                Arguments.of("events is a map", Captures.hex("93 cb 41 d9 54 fc 40 20 00 00 80 00"),
                        DropReason.BATCH_EVENTS),
                Arguments.of("events is nil", Captures.hex("92 cb 41 d9 54 fc 40 20 00 00 c0"),
                        DropReason.BATCH_EVENTS),
                Arguments.of("rank differs from the subscription", Payloads.batch(1.0, 3, GOOD_FIRST),
                        DropReason.DP_RANK_MISMATCH),
                Arguments.of("rank is negative", Captures.hex("93 cb 41 d9 54 fc 40 20 00 00 90 ff"),
                        DropReason.BATCH_SHAPE),
                Arguments.of("rank is a string", Captures.hex("93 cb 41 d9 54 fc 40 20 00 00 90 a1 30"),
                        DropReason.BATCH_SHAPE),
                Arguments.of("map batch without events", Captures.hex("81 a2 74 73 cb 41 d9 54 fc 40 20 00 00"),
                        DropReason.BATCH_SHAPE),
                Arguments.of("map batch without ts", Captures.hex("81 a6 65 76 65 6e 74 73 90"),
                        DropReason.BATCH_SHAPE),
                Arguments.of("trailing bytes after the batch", concat(good, Captures.hex("c0")),
                        DropReason.TRAILING_BYTES),
                Arguments.of("truncated batch", Arrays.copyOf(good, good.length - 1), DropReason.TRUNCATED),
                Arguments.of("array header claims more than the bytes", Captures.hex("dd 7f ff ff ff c0"),
                        DropReason.TRUNCATED),
                Arguments.of("reserved type byte c1 inside", Captures.hex("93 cb 41 d9 54 fc 40 20 00 00 91 c1 00"),
                        DropReason.TRUNCATED),
                Arguments.of("empty payload", new byte[0], DropReason.TRUNCATED));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedBatches")
    void shouldDropWholeBatchWhenEnvelopeIsMalformed(String shape, byte[] payload, DropReason reason) {
        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, payload, 0);

        assertEquals(reason, batch.batchDrop(), shape);
        assertEquals(List.of(), batch.events());
    }

    static Stream<Arguments> malformedEvents() {
        return Stream.of(
                Arguments.of("event is an int", Captures.hex("05"), DropReason.EVENT_SHAPE),
                Arguments.of("event is nil", Captures.hex("c0"), DropReason.EVENT_SHAPE),
                Arguments.of("empty array event", Captures.hex("90"), DropReason.EVENT_SHAPE),
                Arguments.of("array tag is not a string", Captures.hex("92 01 90"), DropReason.EVENT_SHAPE),
                Arguments.of("map without type", Captures.hex("81 ac 62 6c 6f 63 6b 5f 68 61 73 68 65 73 90"),
                        DropReason.EVENT_SHAPE),
                Arguments.of("map type is an int", Captures.hex("81 a4 74 79 70 65 01"), DropReason.EVENT_SHAPE),
                Arguments.of("unknown tag", tagged("BlockUpdated"), DropReason.UNKNOWN_EVENT_TAG),
                Arguments.of("BlockStored array of 5",
                        Payloads.pack(Payloads.Stored.gpu(new long[] {1}, 1).array(5)), DropReason.EVENT_SHAPE),
                Arguments.of("BlockRemoved array of 1", Captures.hex("91 ac 42 6c 6f 63 6b 52 65 6d 6f 76 65 64"),
                        DropReason.EVENT_SHAPE),
                Arguments.of("BlockStored map without block_hashes", Payloads.pack(p -> p.packMapHeader(2)
                        .packString("type").packString("BlockStored").packString("block_size").packInt(16)),
                        DropReason.MISSING_FIELD),
                Arguments.of("block_hashes nil", Payloads.pack(p -> p.packMapHeader(2)
                        .packString("type").packString("BlockRemoved").packString("block_hashes").packNil()),
                        DropReason.MISSING_FIELD),
                Arguments.of("block_hashes a string", Payloads.pack(p -> p.packMapHeader(2)
                        .packString("type").packString("BlockRemoved").packString("block_hashes").packString("1")),
                        DropReason.FIELD_TYPE),
                Arguments.of("hash is a string", Payloads.pack(p -> p.packArrayHeader(2)
                        .packString("BlockRemoved").packArrayHeader(1).packString("0x1")), DropReason.HASH_FORM),
                Arguments.of("hash is a 7-byte bin", Payloads.pack(p -> p.packArrayHeader(2)
                        .packString("BlockRemoved").packArrayHeader(1).packBinaryHeader(7)
                        .writePayload(new byte[7])), DropReason.HASH_FORM),
                Arguments.of("hash is a float", Payloads.pack(p -> p.packArrayHeader(2)
                        .packString("BlockRemoved").packArrayHeader(1).packDouble(1.0)), DropReason.HASH_FORM),
                Arguments.of("block_size is a string", Payloads.pack(p -> p.packMapHeader(3)
                        .packString("type").packString("BlockStored").packString("block_hashes").packArrayHeader(0)
                        .packString("block_size").packString("16")), DropReason.FIELD_TYPE),
                Arguments.of("block_size is zero", Payloads.pack(p -> p.packMapHeader(3)
                        .packString("type").packString("BlockStored").packString("block_hashes").packArrayHeader(0)
                        .packString("block_size").packInt(0)), DropReason.FIELD_RANGE),
                Arguments.of("token id above 2^32", Payloads.pack(p -> p.packMapHeader(3)
                        .packString("type").packString("BlockStored").packString("block_hashes").packArrayHeader(0)
                        .packString("token_ids").packArrayHeader(1).packLong(1L << 33)), DropReason.FIELD_RANGE),
                Arguments.of("medium is an int", Payloads.pack(p -> p.packMapHeader(3)
                        .packString("type").packString("BlockRemoved").packString("block_hashes").packArrayHeader(0)
                        .packString("medium").packInt(1)), DropReason.FIELD_TYPE),
                Arguments.of("group_idx negative", Payloads.pack(p -> p.packMapHeader(3)
                        .packString("type").packString("BlockRemoved").packString("block_hashes").packArrayHeader(0)
                        .packString("group_idx").packInt(-1)), DropReason.FIELD_RANGE),
                Arguments.of("lora_id uint64 above 2^63", Payloads.pack(p -> {
                    p.packMapHeader(3).packString("type").packString("BlockStored").packString("block_hashes")
                            .packArrayHeader(0).packString("lora_id");
                    Payloads.hash(p, -1L);
                }), DropReason.FIELD_RANGE));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedEvents")
    void shouldDropOnlyTheEventAndKeepBatchMatesInOrderWhenOneEventIsMalformed(String shape, byte[] badEvent,
                                                                                DropReason reason) {
        final byte[] payload = Payloads.batch(1.0, 0, GOOD_FIRST, Payloads.raw(badEvent), GOOD_LAST);

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, payload, 0);

        assertNull(batch.batchDrop(), shape);
        assertEquals(List.of(reason), batch.eventDrops(), shape);
        assertEquals(2, batch.events().size(), shape);
        assertArrayEquals(new long[] {1}, batch.event(0).hashes());
        assertArrayEquals(new long[] {2}, batch.event(1).hashes());
    }

    @Test
    void shouldKeepDecodingWhenSeveralEventsOfOneBatchAreMalformed() {
        final byte[] payload = Payloads.batch(1.0, 0, Payloads.raw(Captures.hex("c0")), GOOD_FIRST,
                Payloads.raw(tagged("Nope")), Payloads.raw(Captures.hex("90")), GOOD_LAST, Payloads.clearedArray());

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.VLLM, payload, 0);

        assertEquals(List.of(DropReason.EVENT_SHAPE, DropReason.UNKNOWN_EVENT_TAG, DropReason.EVENT_SHAPE),
                batch.eventDrops());
        assertEquals(List.of(EventKind.BLOCKS_REMOVED, EventKind.BLOCKS_REMOVED, EventKind.ALL_BLOCKS_CLEARED),
                batch.events().stream().map(DecodedEvent::kind).toList());
        assertEquals(6, batch.eventCount());
    }

    private static byte[] tagged(String tag) {
        return Payloads.pack(p -> p.packArrayHeader(2).packString(tag).packArrayHeader(0));
    }

    private static byte[] concat(byte[] a, byte[] b) {
        final byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
