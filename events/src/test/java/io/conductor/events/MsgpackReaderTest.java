package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

/** The reader's fast paths (token-id arrays, table-driven skipping) against its general per-value paths. */
class MsgpackReaderTest {

    private static final long[] VALUES = {0, 1, 127, 128, 255, 256, 65_535, 65_536, 128_255, Integer.MAX_VALUE,
        1L << 31, 0xFFFF_FFFFL, -1, -32, -33, -128, -129, -32_768, -32_769, Integer.MIN_VALUE};

    /** Every value in its minimal encoding, then a few in wider ones (int64 / uint64 / int32 of small values). */
    private static byte[] tokenArray() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(VALUES.length + 3);
            for (long v : VALUES) {
                p.packLong(v);
            }
            out.write(p.toByteArray());
        }
        out.write(new byte[] {(byte) 0xd3, 0, 0, 0, 0, 0, 0, 0, 7});          // int64 7
        out.write(new byte[] {(byte) 0xcf, 0, 0, 0, 0, (byte) 0xff, 0, 0, 1}); // uint64 0xff000001
        out.write(new byte[] {(byte) 0xd2, 0, 0, 0, 9});                       // int32 9
        return out.toByteArray();
    }

    @Test
    void shouldMatchPerValueReadsWhenReadingTokenIdsInBulk() throws IOException {
        byte[] bytes = tokenArray();
        MsgpackReader general = new MsgpackReader();
        general.wrap(bytes, 0, bytes.length);
        int n = general.readArrayHeader();
        int[] expected = new int[n];
        for (int i = 0; i < n; i++) {
            expected[i] = (int) general.readLongInRange(Integer.MIN_VALUE, 0xFFFF_FFFFL, "token id");
        }
        MsgpackReader fast = new MsgpackReader();
        fast.wrap(bytes, 0, bytes.length);
        int[] actual = new int[fast.readArrayHeader()];
        fast.readUint32s(actual, n, "token id");

        assertArrayEquals(expected, actual);
        assertEquals((int) 0xFFFF_FFFFL, actual[11]);
        assertEquals(0xff00_0001, actual[n - 2]);
        assertEquals(bytes.length, fast.position());
    }

    @Test
    void shouldRejectWhenATokenIdIsOutOfRangeOrTruncated() throws IOException {
        byte[] tooBig;
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(2).packLong(5).packLong(1L << 32);
            tooBig = p.toByteArray();
        }
        MsgpackReader r = new MsgpackReader();
        r.wrap(tooBig, 0, tooBig.length);
        int[] dst = new int[r.readArrayHeader()];
        DecodeException e = assertThrows(DecodeException.class, () -> r.readUint32s(dst, 2, "token id"));
        assertEquals(DropReason.FIELD_RANGE, e.reason());

        byte[] truncated = {(byte) 0x92, 1, (byte) 0xce, 0, 1};
        MsgpackReader t = new MsgpackReader();
        t.wrap(truncated, 0, truncated.length);
        int[] two = new int[t.readArrayHeader()];
        assertEquals(DropReason.TRUNCATED,
                assertThrows(DecodeException.class, () -> t.readUint32s(two, 2, "token id")).reason());
    }

    @Test
    void shouldSkipEveryScalarWhenSkippingANestedValue() throws IOException {
        byte[] bytes;
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(4).packNil().packBoolean(true).packDouble(1.5).packFloat(2.5f);
            p.packMapHeader(2).packString("a").packLong(-5_000_000_000L).packString("b").packBinaryHeader(3);
            p.writePayload(new byte[] {1, 2, 3});
            p.packExtensionTypeHeader((byte) 1, 4).writePayload(new byte[] {1, 2, 3, 4});   // fixext4
            p.packLong(42);
            bytes = p.toByteArray();
        }
        MsgpackReader r = new MsgpackReader();
        r.wrap(bytes, 0, bytes.length);
        r.skipValue();  // the array of 4
        r.skipValue();  // the map
        r.skipValue();  // the ext
        assertEquals(42, r.readIntBits());
        assertEquals(bytes.length, r.position());

        byte[] cut = {(byte) 0x92, 1, (byte) 0xcb, 0, 0};   // a float64 cut short inside an array
        MsgpackReader c = new MsgpackReader();
        c.wrap(cut, 0, cut.length);
        assertEquals(DropReason.TRUNCATED, assertThrows(DecodeException.class, c::skipValue).reason());
    }
}
