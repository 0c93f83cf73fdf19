package io.conductor.events;

import org.msgpack.core.MessagePack.Code;

/**
 * A bounds-checked msgpack cursor over a byte array that decodes in place: no allocation on any path except the
 * failure path ({@link DecodeException}).
 *
 * <p>Why not {@code org.msgpack.core.MessageUnpacker}: it allocates a {@code String} per string read, and its
 * {@code unpackLong} rejects {@code uint64} values above {@code Long.MAX_VALUE}, which are normal block hashes. This
 * reader keeps the 64-bit pattern ({@link #readIntBits()}) and compares strings against byte literals in place. The
 * type bytes come from msgpack-core's {@link Code}.
 *
 * <p>Not thread-safe: one instance belongs to one decoder, which belongs to one poller thread.
 */
final class MsgpackReader {

    /** Total size (type byte included) of each fixed-size scalar type byte; 0 for containers, strings, bins,
     *  variable-size ext types and the reserved byte. */
    private static final byte[] SCALAR_SIZE = scalarSizes();

    private static final byte[] EMPTY = new byte[0];
    private byte[] buffer = EMPTY;
    private int position;
    private int limit;

    /** Offset of the bytes of the last string or bin read. */
    private int lastRawOffset;

    void wrap(byte[] buffer, int offset, int length) {
        if (offset < 0 || length < 0 || offset + length > buffer.length) {
            throw new IllegalArgumentException("bad slice " + offset + "+" + length + " of " + buffer.length);
        }
        this.buffer = buffer;
        this.position = offset;
        this.limit = offset + length;
    }

    /** Forgets the wrapped buffer (a large payload must not stay reachable from here). */
    void release() {
        this.buffer = EMPTY;
        this.position = 0;
        this.limit = 0;
    }

    byte[] buffer() {
        return buffer;
    }

    int position() {
        return position;
    }

    void position(int newPosition) {
        position = newPosition;
    }

    int limit() {
        return limit;
    }

    boolean hasRemaining() {
        return position < limit;
    }

    int lastRawOffset() {
        return lastRawOffset;
    }

    /** The next type byte, not consumed. */
    byte peek() {
        if (position >= limit) {
            throw DecodeException.of(DropReason.TRUNCATED, "value expected at end of input");
        }
        return buffer[position];
    }

    boolean isNilNext() {
        return peek() == Code.NIL;
    }

    boolean isArrayNext() {
        final byte b = peek();
        return Code.isFixedArray(b) || b == Code.ARRAY16 || b == Code.ARRAY32;
    }

    boolean isMapNext() {
        final byte b = peek();
        return Code.isFixedMap(b) || b == Code.MAP16 || b == Code.MAP32;
    }

    boolean isStrNext() {
        final byte b = peek();
        return Code.isFixStr(b) || b == Code.STR8 || b == Code.STR16 || b == Code.STR32;
    }

    boolean isBinNext() {
        final byte b = peek();
        return b == Code.BIN8 || b == Code.BIN16 || b == Code.BIN32;
    }

    boolean isIntNext() {
        final byte b = peek();
        return Code.isFixInt(b) || (b >= Code.UINT8 && b <= Code.INT64);
    }

    boolean isFloatNext() {
        final byte b = peek();
        return b == Code.FLOAT32 || b == Code.FLOAT64;
    }

    /** Consumes a nil if one is next. */
    boolean tryReadNil() {
        if (peek() == Code.NIL) {
            position++;
            return true;
        }
        return false;
    }

    /**
     * Reads an array header.
     *
     * @return the element count, checked against the remaining bytes (each element needs at least one)
     * @throws DecodeException {@link DropReason#FIELD_TYPE} if the next value is not an array
     */
    int readArrayHeader() {
        final byte b = peek();
        final long count;
        if (Code.isFixedArray(b)) {
            position++;
            count = b & 0x0f;
        } else if (b == Code.ARRAY16) {
            position++;
            count = readUnsigned(2);
        } else if (b == Code.ARRAY32) {
            position++;
            count = readUnsigned(4);
        } else {
            throw DecodeException.of(DropReason.FIELD_TYPE, "array expected, found type byte 0x%02x", b & 0xff);
        }
        return checkedCount(count, 1);
    }

    /**
     * Reads a map header.
     *
     * @return the entry count, checked against the remaining bytes (each entry needs at least two)
     * @throws DecodeException {@link DropReason#FIELD_TYPE} if the next value is not a map
     */
    int readMapHeader() {
        final byte b = peek();
        final long count;
        if (Code.isFixedMap(b)) {
            position++;
            count = b & 0x0f;
        } else if (b == Code.MAP16) {
            position++;
            count = readUnsigned(2);
        } else if (b == Code.MAP32) {
            position++;
            count = readUnsigned(4);
        } else {
            throw DecodeException.of(DropReason.FIELD_TYPE, "map expected, found type byte 0x%02x", b & 0xff);
        }
        return checkedCount(count, 2);
    }

    /**
     * Reads any msgpack integer and returns its 64-bit two's-complement pattern: {@code uint64} values above
     * {@code Long.MAX_VALUE} come back negative, with every bit kept.
     *
     * @throws DecodeException {@link DropReason#FIELD_TYPE} if the next value is not an integer
     */
    long readIntBits() {
        final byte b = peek();
        if (Code.isPosFixInt(b) || Code.isNegFixInt(b)) {
            position++;
            return b;
        }
        position++;
        return switch (b) {
            case Code.UINT8 -> readUnsigned(1);
            case Code.UINT16 -> readUnsigned(2);
            case Code.UINT32 -> readUnsigned(4);
            case Code.UINT64, Code.INT64 -> readUnsigned(8);
            case Code.INT8 -> (byte) readUnsigned(1);
            case Code.INT16 -> (short) readUnsigned(2);
            case Code.INT32 -> (int) readUnsigned(4);
            default -> {
                position--;
                throw DecodeException.of(DropReason.FIELD_TYPE, "integer expected, found type byte 0x%02x", b & 0xff);
            }
        };
    }

    /** Reads an integer that must lie in {@code [min, max]} (signed comparison; uint64 above 2^63 fails). */
    long readLongInRange(long min, long max, String field) {
        final boolean unsigned64 = peek() == Code.UINT64;
        final long v = readIntBits();
        if ((unsigned64 && v < 0) || v < min || v > max) {
            throw DecodeException.of(DropReason.FIELD_RANGE, "%s out of range: %s", field,
                    unsigned64 ? Long.toUnsignedString(v) : Long.toString(v));
        }
        return v;
    }

    int readIntInRange(int min, int max, String field) {
        return (int) readLongInRange(min, max, field);
    }

    /** Reads a float32, float64 or integer as a double. */
    double readNumber() {
        final byte b = peek();
        if (b == Code.FLOAT64) {
            position++;
            return Double.longBitsToDouble(readUnsigned(8));
        }
        if (b == Code.FLOAT32) {
            position++;
            return Float.intBitsToFloat((int) readUnsigned(4));
        }
        if (isIntNext()) {
            final boolean unsigned64 = b == Code.UINT64;
            final long v = readIntBits();
            return unsigned64 && v < 0 ? Math.scalb((double) (v >>> 1), 1) : (double) v;
        }
        throw DecodeException.of(DropReason.FIELD_TYPE, "number expected, found type byte 0x%02x", b & 0xff);
    }

    /**
     * Reads a string header and skips its bytes.
     *
     * @return the byte length; the bytes start at {@link #lastRawOffset()}
     */
    int readStr() {
        final byte b = peek();
        final long length;
        if (Code.isFixStr(b)) {
            position++;
            length = b & 0x1f;
        } else if (b == Code.STR8) {
            position++;
            length = readUnsigned(1);
        } else if (b == Code.STR16) {
            position++;
            length = readUnsigned(2);
        } else if (b == Code.STR32) {
            position++;
            length = readUnsigned(4);
        } else {
            throw DecodeException.of(DropReason.FIELD_TYPE, "string expected, found type byte 0x%02x", b & 0xff);
        }
        return skipRaw(length);
    }

    /**
     * Reads a bin header and skips its bytes.
     *
     * @return the byte length; the bytes start at {@link #lastRawOffset()}
     */
    int readBin() {
        final byte b = peek();
        final long length;
        if (b == Code.BIN8) {
            position++;
            length = readUnsigned(1);
        } else if (b == Code.BIN16) {
            position++;
            length = readUnsigned(2);
        } else if (b == Code.BIN32) {
            position++;
            length = readUnsigned(4);
        } else {
            throw DecodeException.of(DropReason.FIELD_TYPE, "bin expected, found type byte 0x%02x", b & 0xff);
        }
        return skipRaw(length);
    }

    /**
     * Reads a block hash in any wire form (events.md 2.4): any integer width and sign gives its 64-bit pattern;
     * a {@code bin} of at least 8 bytes gives its last 8 bytes, big-endian.
     *
     * @throws DecodeException {@link DropReason#HASH_FORM} for a short bin or any other type
     */
    long readHash() {
        if (isIntNext()) {
            return readIntBits();
        }
        if (isBinNext()) {
            final int length = readBin();
            if (length < 8) {
                throw DecodeException.of(DropReason.HASH_FORM, "bin hash of %d bytes, at least 8 needed", length);
            }
            return getLongBigEndian(buffer, lastRawOffset + length - 8);
        }
        throw DecodeException.of(DropReason.HASH_FORM, "hash must be an integer or bin, found type byte 0x%02x",
                peek() & 0xff);
    }

    /** True if the last string or bin read equals {@code literal} byte for byte. */
    boolean lastRawEquals(int length, byte[] literal) {
        if (length != literal.length) {
            return false;
        }
        final byte[] buffer = this.buffer;
        final int offset = lastRawOffset;
        for (int i = 0; i < length; i++) {
            if (buffer[offset + i] != literal[i]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Skips one complete value, however nested, without recursion.
     *
     * @throws DecodeException {@link DropReason#TRUNCATED} if the value runs past the end or uses a reserved byte
     */
    void skipValue() {
        // Fast path: a fixed-size scalar that fits is skipped by a table lookup on a local cursor (token-id arrays
        // are most of a vLLM batch, and begin() skips every batch once); anything else, or a scalar that would run
        // past the end, takes skipHeader, which also produces the exact error.
        final byte[] buf = buffer;
        final int lim = limit;
        int p = position;
        long pending = 1;
        while (pending > 0) {
            pending--;
            if (p < lim) {
                final int size = SCALAR_SIZE[buf[p] & 0xff];
                if (size != 0 && size <= lim - p) {
                    p += size;
                    continue;
                }
            }
            position = p;
            pending += skipHeader();
            p = position;
        }
        position = p;
    }

    /** Skips one scalar, string, bin or ext, or the header of a container; returns the values the header opens. */
    private long skipHeader() {
        long pending = 0;
        final byte b = peek();
        if (Code.isFixInt(b)) {
            position++;
        } else if (Code.isFixedArray(b) || b == Code.ARRAY16 || b == Code.ARRAY32) {
            pending += readArrayHeader();
        } else if (Code.isFixedMap(b) || b == Code.MAP16 || b == Code.MAP32) {
            pending += 2L * readMapHeader();
        } else if (Code.isFixStr(b) || (b >= Code.STR8 && b <= Code.STR32)) {
            readStr();
        } else {
            position++;
            switch (b) {
                case Code.NIL, Code.FALSE, Code.TRUE -> { }
                case Code.BIN8 -> skipRaw(readUnsigned(1));
                case Code.BIN16 -> skipRaw(readUnsigned(2));
                case Code.BIN32 -> skipRaw(readUnsigned(4));
                case Code.EXT8 -> skipRaw(1 + readUnsigned(1));
                case Code.EXT16 -> skipRaw(1 + readUnsigned(2));
                case Code.EXT32 -> skipRaw(1 + readUnsigned(4));
                case Code.FLOAT32, Code.UINT32, Code.INT32 -> skipRaw(4);
                case Code.FLOAT64, Code.UINT64, Code.INT64 -> skipRaw(8);
                case Code.UINT8, Code.INT8 -> skipRaw(1);
                case Code.UINT16, Code.INT16 -> skipRaw(2);
                case Code.FIXEXT1 -> skipRaw(2);
                case Code.FIXEXT2 -> skipRaw(3);
                case Code.FIXEXT4 -> skipRaw(5);
                case Code.FIXEXT8 -> skipRaw(9);
                case Code.FIXEXT16 -> skipRaw(17);
                default -> throw DecodeException.of(DropReason.TRUNCATED, "reserved type byte 0x%02x", b & 0xff);
            }
        }
        return pending;
    }

    /**
     * Reads {@code n} integers in {@code [Integer.MIN_VALUE, 0xFFFF_FFFF]} into {@code dst[0..n)} as their low 32
     * bits (token ids: u32 on the hashing side), exactly as {@code n} calls of
     * {@code (int) readLongInRange(Integer.MIN_VALUE, 0xFFFF_FFFFL, field)} would, with a fast path for the
     * unsigned encodings a tokenizer's ids use.
     *
     * @throws DecodeException as {@link #readLongInRange}
     */
    void readUint32s(int[] dst, int n, String field) {
        final byte[] buf = buffer;
        final int lim = limit;
        int p = position;
        for (int i = 0; i < n; i++) {
            if (lim - p >= 5) {
                final byte b = buf[p];
                if (b >= 0) {
                    dst[i] = b;
                    p++;
                    continue;
                }
                if (b == Code.UINT16) {
                    dst[i] = (buf[p + 1] & 0xff) << 8 | (buf[p + 2] & 0xff);
                    p += 3;
                    continue;
                }
                if (b == Code.UINT32) {
                    dst[i] = (buf[p + 1] & 0xff) << 24 | (buf[p + 2] & 0xff) << 16 | (buf[p + 3] & 0xff) << 8
                            | (buf[p + 4] & 0xff);
                    p += 5;
                    continue;
                }
                if (b == Code.UINT8) {
                    dst[i] = buf[p + 1] & 0xff;
                    p += 2;
                    continue;
                }
            }
            position = p;
            dst[i] = (int) readLongInRange(Integer.MIN_VALUE, 0xFFFF_FFFFL, field);
            p = position;
        }
        position = p;
    }

    private static byte[] scalarSizes() {
        final byte[] sizes = new byte[256];
        for (int b = 0x00; b <= 0x7f; b++) {
            sizes[b] = 1; // positive fixint
        }
        for (int b = 0xe0; b <= 0xff; b++) {
            sizes[b] = 1; // negative fixint
        }
        sizes[Code.NIL & 0xff] = 1;
        sizes[Code.FALSE & 0xff] = 1;
        sizes[Code.TRUE & 0xff] = 1;
        sizes[Code.UINT8 & 0xff] = 2;
        sizes[Code.INT8 & 0xff] = 2;
        sizes[Code.UINT16 & 0xff] = 3;
        sizes[Code.INT16 & 0xff] = 3;
        sizes[Code.UINT32 & 0xff] = 5;
        sizes[Code.INT32 & 0xff] = 5;
        sizes[Code.FLOAT32 & 0xff] = 5;
        sizes[Code.UINT64 & 0xff] = 9;
        sizes[Code.INT64 & 0xff] = 9;
        sizes[Code.FLOAT64 & 0xff] = 9;
        sizes[Code.FIXEXT1 & 0xff] = 3;
        sizes[Code.FIXEXT2 & 0xff] = 4;
        sizes[Code.FIXEXT4 & 0xff] = 6;
        sizes[Code.FIXEXT8 & 0xff] = 10;
        sizes[Code.FIXEXT16 & 0xff] = 18;
        return sizes;
    }

    static long getLongBigEndian(byte[] bytes, int offset) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (bytes[offset + i] & 0xff);
        }
        return v;
    }

    private long readUnsigned(int bytes) {
        if (limit - position < bytes) {
            throw DecodeException.of(DropReason.TRUNCATED, "%d bytes expected, %d left", bytes, limit - position);
        }
        final byte[] buffer = this.buffer;
        long v = 0;
        for (int i = 0; i < bytes; i++) {
            v = (v << 8) | (buffer[position + i] & 0xff);
        }
        position += bytes;
        return v;
    }

    private int skipRaw(long length) {
        if (length > limit - position) {
            throw DecodeException.of(DropReason.TRUNCATED, "%d bytes expected, %d left", length, limit - position);
        }
        lastRawOffset = position;
        position += (int) length;
        return (int) length;
    }

    private int checkedCount(long count, int minBytesPerElement) {
        if (count * minBytesPerElement > limit - position) {
            throw DecodeException.of(DropReason.TRUNCATED, "container of %d elements in %d bytes", count,
                    limit - position);
        }
        return (int) count;
    }
}
