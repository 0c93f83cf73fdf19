package io.conductor.index.hash;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Writes the canonical CBOR of one vLLM block, {@code [parent, [tokens...], null | [extras...]]}, straight into a
 * reused buffer (hashing.md section 5). Every header takes its shortest form; the canonical flag of cbor2 only
 * affects maps and floats, which never occur. Not thread-safe: one instance per thread (inside a
 * {@link BlockDigester}); the static {@link #writeHeader} is stateless.
 */
final class CborBlockEncoder {
    static final int MAJOR_UNSIGNED = 0;
    static final int MAJOR_NEGATIVE = 1;
    static final int MAJOR_BYTES = 2;
    static final int MAJOR_TEXT = 3;
    static final int MAJOR_ARRAY = 4;
    private static final byte ARRAY_OF_3 = (byte) 0x83;
    private static final byte NULL = (byte) 0xf6;
    private static final VarHandle SHORT_BE = MethodHandles.byteArrayViewVarHandle(short[].class,
            ByteOrder.BIG_ENDIAN);
    private static final VarHandle INT_BE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);

    private byte[] buffer = new byte[1024];

    byte[] buffer() {
        return buffer;
    }

    /**
     * Encodes one block into {@link #buffer()}.
     *
     * @param parent       buffer holding the parent digest
     * @param parentOffset offset of the parent digest
     * @param parentLength parent digest length (32)
     * @param tokens       token ids
     * @param from         first token of the block
     * @param count        tokens in the block
     * @param lora         UTF-8 LoRA name, empty for none
     * @param salt         UTF-8 salt for this block (empty unless block 0 with a salt)
     * @return the encoded length
     */
    int encode(byte[] parent, int parentOffset, int parentLength, int[] tokens, int from, int count,
               byte[] lora, byte[] salt) {
        final long bound = 64 + 5L * count + lora.length + salt.length + parentLength;
        if (bound > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("block too large to encode: about " + bound + " bytes");
        }
        if (buffer.length < bound) {
            buffer = new byte[(int) Math.min(Integer.MAX_VALUE - 64, Math.max(bound, 2L * buffer.length))];
        }
        final byte[] b = buffer;
        b[0] = ARRAY_OF_3;
        int p = writeHeader(b, 1, MAJOR_BYTES, parentLength);
        System.arraycopy(parent, parentOffset, b, p, parentLength);
        p += parentLength;
        p = writeHeader(b, p, MAJOR_ARRAY, count);
        final int end = from + count;
        for (int i = from; i < end; i++) {
            final int v = tokens[i];
            final int sign = v >> 31;                               // 0, or -1 for a negative token
            final int major = sign & (MAJOR_NEGATIVE << 5);
            final int argument = v ^ sign;                          // v, or -1 - v: never negative
            if (argument < 24) {
                b[p++] = (byte) (major | argument);
            } else if (argument <= 0xff) {
                b[p] = (byte) (major | 24);
                b[p + 1] = (byte) argument;
                p += 2;
            } else if (argument <= 0xffff) {
                b[p] = (byte) (major | 25);
                SHORT_BE.set(b, p + 1, (short) argument);
                p += 3;
            } else {
                b[p] = (byte) (major | 26);
                INT_BE.set(b, p + 1, argument);
                p += 5;
            }
        }
        final int extras = (lora.length > 0 ? 1 : 0) + (salt.length > 0 ? 1 : 0);
        if (extras == 0) {
            b[p++] = NULL;
            return p;
        }
        p = writeHeader(b, p, MAJOR_ARRAY, extras);
        if (lora.length > 0) {
            p = writeText(b, p, lora);
        }
        if (salt.length > 0) {
            p = writeText(b, p, salt);
        }
        return p;
    }

    private static int writeText(byte[] b, int position, byte[] utf8) {
        final int p = writeHeader(b, position, MAJOR_TEXT, utf8.length);
        System.arraycopy(utf8, 0, b, p, utf8.length);
        return p + utf8.length;
    }

    /**
     * Writes a major-type header with an unsigned argument in the shortest form.
     *
     * @param out      buffer with at least 9 bytes free at {@code offset}
     * @param offset   where to write
     * @param major    major type 0..7
     * @param argument the argument, read as unsigned
     * @return the offset after the header
     */
    static int writeHeader(byte[] out, int offset, int major, long argument) {
        final int m = major << 5;
        if (argument >= 0 && argument < 24) {
            out[offset] = (byte) (m | (int) argument);
            return offset + 1;
        }
        if (argument >= 0 && argument <= 0xff) {
            out[offset] = (byte) (m | 24);
            out[offset + 1] = (byte) argument;
            return offset + 2;
        }
        if (argument >= 0 && argument <= 0xffff) {
            out[offset] = (byte) (m | 25);
            out[offset + 1] = (byte) (argument >>> 8);
            out[offset + 2] = (byte) argument;
            return offset + 3;
        }
        if (argument >= 0 && argument <= 0xffff_ffffL) {
            out[offset] = (byte) (m | 26);
            out[offset + 1] = (byte) (argument >>> 24);
            out[offset + 2] = (byte) (argument >>> 16);
            out[offset + 3] = (byte) (argument >>> 8);
            out[offset + 4] = (byte) argument;
            return offset + 5;
        }
        out[offset] = (byte) (m | 27);
        for (int i = 0; i < 8; i++) {
            out[offset + 1 + i] = (byte) (argument >>> (56 - 8 * i));
        }
        return offset + 9;
    }
}
