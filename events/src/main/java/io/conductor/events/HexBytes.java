package io.conductor.events;

/** Hex rendering of offending bytes for drop logs, truncated. Stateless; thread-safe. */
final class HexBytes {

    /** Bytes shown before the dump is cut with {@code ...}. */
    static final int MAX_LOGGED_BYTES = 64;

    private static final char[] DIGITS = "0123456789abcdef".toCharArray();

    private HexBytes() {
    }

    static String truncated(byte[] bytes, int offset, int length) {
        final int shown = Math.min(length, MAX_LOGGED_BYTES);
        final StringBuilder sb = new StringBuilder(shown * 3 + 16);
        for (int i = 0; i < shown; i++) {
            final int b = bytes[offset + i] & 0xff;
            if (i > 0) {
                sb.append(' ');
            }
            sb.append(DIGITS[b >>> 4]).append(DIGITS[b & 0xf]);
        }
        if (shown < length) {
            sb.append(" ... (").append(length).append(" bytes)");
        }
        return sb.toString();
    }
}
