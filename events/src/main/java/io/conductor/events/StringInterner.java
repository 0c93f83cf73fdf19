package io.conductor.events;

import java.nio.charset.StandardCharsets;

/**
 * Turns UTF-8 byte slices into {@code String}s, reusing the instance made for equal bytes last time: LoRA names,
 * media, tenant and backend ids repeat on every event, so a steady stream allocates nothing. Direct-mapped cache;
 * a collision just replaces the slot.
 *
 * <p>Not thread-safe: one per decoder.
 */
final class StringInterner {

    private static final int SLOTS = 64;

    private final byte[][] keys = new byte[SLOTS][];
    private final String[] values = new String[SLOTS];

    String intern(byte[] buffer, int offset, int length) {
        int h = 1;
        for (int i = 0; i < length; i++) {
            h = 31 * h + buffer[offset + i];
        }
        final int slot = (h ^ (h >>> 16)) & (SLOTS - 1);
        final byte[] key = keys[slot];
        if (key != null && key.length == length && equalBytes(key, buffer, offset)) {
            return values[slot];
        }
        final byte[] copy = new byte[length];
        System.arraycopy(buffer, offset, copy, 0, length);
        final String value = new String(copy, StandardCharsets.UTF_8);
        keys[slot] = copy;
        values[slot] = value;
        return value;
    }

    private static boolean equalBytes(byte[] key, byte[] buffer, int offset) {
        for (int i = 0; i < key.length; i++) {
            if (key[i] != buffer[offset + i]) {
                return false;
            }
        }
        return true;
    }
}
