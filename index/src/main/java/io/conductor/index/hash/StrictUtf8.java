package io.conductor.index.hash;

import java.nio.charset.StandardCharsets;

/**
 * Strict UTF-8 checks for the texts that enter a hash (seed, LoRA name, cache salt). vLLM hashes Python {@code str}
 * values, which always encode to well-formed UTF-8, so anything else cannot match an engine's hash and is rejected
 * rather than silently replaced. Stateless and thread-safe.
 */
public final class StrictUtf8 {
    private StrictUtf8() {
    }

    /**
     * Tells whether a Java string encodes to well-formed UTF-8, i.e. has no unpaired surrogate.
     *
     * @param text the text
     * @return {@code true} if every surrogate is part of a high/low pair
     */
    public static boolean isWellFormed(String text) {
        final int length = text.length();
        for (int i = 0; i < length; i++) {
            final char c = text.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= length || !Character.isLowSurrogate(text.charAt(i + 1))) {
                    return false;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Encodes a string as UTF-8, refusing unpaired surrogates (which {@link String#getBytes} would turn into
     * {@code '?'}).
     *
     * @param text the text
     * @param what what the text is, for the message, e.g. {@code "lora_name"}
     * @return the UTF-8 bytes (a new array)
     * @throws IllegalArgumentException {@code "<what> must contain valid UTF-8"} if the text has an unpaired
     *                                  surrogate
     */
    public static byte[] encode(String text, String what) {
        if (!isWellFormed(text)) {
            throw new IllegalArgumentException(what + " must contain valid UTF-8");
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Tells whether bytes are well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates U+D800..U+DFFF, nothing
     * above U+10FFFF, no truncated sequence.
     *
     * @param bytes  the buffer
     * @param offset first byte
     * @param length number of bytes
     * @return {@code true} if the range is well-formed UTF-8
     */
    public static boolean isValid(byte[] bytes, int offset, int length) {
        final int end = offset + length;
        int i = offset;
        while (i < end) {
            final int b0 = bytes[i] & 0xff;
            if (b0 < 0x80) {
                i++;
                continue;
            }
            final int need;
            int lowest;
            int highest = 0xbf;
            if (b0 >= 0xc2 && b0 <= 0xdf) {
                need = 1;
                lowest = 0x80;
            } else if (b0 >= 0xe0 && b0 <= 0xef) {
                need = 2;
                lowest = b0 == 0xe0 ? 0xa0 : 0x80;      // E0 80..9F would be overlong
                highest = b0 == 0xed ? 0x9f : 0xbf;     // ED A0..BF would be a surrogate
            } else if (b0 >= 0xf0 && b0 <= 0xf4) {
                need = 3;
                lowest = b0 == 0xf0 ? 0x90 : 0x80;      // F0 80..8F would be overlong
                highest = b0 == 0xf4 ? 0x8f : 0xbf;     // F4 90.. would exceed U+10FFFF
            } else {
                return false;                           // continuation byte, C0/C1 overlong, or F5..FF
            }
            if (end - i <= need) {
                return false;
            }
            for (int k = 1; k <= need; k++) {
                final int b = bytes[i + k] & 0xff;
                if (b < lowest || b > highest) {
                    return false;
                }
                lowest = 0x80;
                highest = 0xbf;
            }
            i += need + 1;
        }
        return true;
    }
}
