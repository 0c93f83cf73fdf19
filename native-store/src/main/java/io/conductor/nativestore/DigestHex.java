package io.conductor.nativestore;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Lower-case hex of block digests (what vLLM's {@code BlockHash.hex()} puts in store keys) and their 64-bit
 * projection (the last 8 bytes, big-endian: what events and the prefix index carry). Works from digests packed in
 * a {@code byte[]} or as big-endian 64-bit words in a {@code long[]}; allocates nothing.
 *
 * <p>Stateless; thread-safe.
 */
final class DigestHex {
    private static final byte[] DIGITS = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final VarHandle LONG_BE =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    private DigestHex() {
    }

    /** Writes {@code 2 * length} hex bytes of {@code src[offset, offset + length)} to {@code dst[0..]}. */
    static void encode(byte[] src, int offset, int length, byte[] dst) {
        for (int i = 0; i < length; i++) {
            int b = src[offset + i] & 0xff;
            dst[2 * i] = DIGITS[b >>> 4];
            dst[2 * i + 1] = DIGITS[b & 0xf];
        }
    }

    /** Writes {@code 16 * count} hex bytes of big-endian words {@code src[offset, offset + count)} to {@code dst}. */
    static void encodeWords(long[] src, int offset, int count, byte[] dst) {
        int d = 0;
        for (int w = 0; w < count; w++) {
            long v = src[offset + w];
            for (int shift = 60; shift >= 0; shift -= 4) {
                dst[d++] = DIGITS[(int) (v >>> shift) & 0xf];
            }
        }
    }

    /** Returns the last 8 bytes of {@code src[offset, offset + length)} as a big-endian long. */
    static long low64(byte[] src, int offset, int length) {
        return (long) LONG_BE.get(src, offset + length - 8);
    }
}
