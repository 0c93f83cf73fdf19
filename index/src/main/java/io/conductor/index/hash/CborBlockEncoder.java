package io.conductor.index.hash;

/**
 * Canonical CBOR header writer (RFC 8949 shortest form), shared by the root and block encoders.
 * Stateless and thread-safe.
 */
final class CborBlockEncoder {
    static final int MAJOR_UNSIGNED = 0;
    static final int MAJOR_NEGATIVE = 1;
    static final int MAJOR_BYTES = 2;
    static final int MAJOR_TEXT = 3;
    static final int MAJOR_ARRAY = 4;

    private CborBlockEncoder() {
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
