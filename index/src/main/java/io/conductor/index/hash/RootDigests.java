package io.conductor.index.hash;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Computes chain roots ({@code NONE_HASH}) from seed texts, as {@code hashing.md} section 2 defines them:
 * {@code SHA-256(encode(seed_text))} with the chain's own serializer, or, for XXH3, the seed {@code S} itself.
 * Called when a profile is resolved, never per block. Stateless and thread-safe.
 */
final class RootDigests {
    private static final HexFormat HEX = HexFormat.of();
    /** CPython's {@code _FRAME_SIZE_TARGET}: payloads this long bypass framing. */
    static final int PICKLE_FRAME_SIZE_TARGET = 64 * 1024;

    private RootDigests() {
    }

    /**
     * Returns the root of a chain as lowercase hex.
     *
     * @param algorithm the chain's algorithm
     * @param seedText  the seed text; for XXH3 unsigned decimal text of {@code S}
     * @return 64 hex digits (SHA-256 algorithms) or 16 (XXH3, {@code S} big-endian)
     * @throws IllegalArgumentException if the text has an unpaired surrogate, or is not decimal u64 for XXH3
     */
    static String rootHex(HashAlgorithm algorithm, String seedText) {
        return HEX.formatHex(root(algorithm, seedText));
    }

    static byte[] root(HashAlgorithm algorithm, String seedText) {
        return switch (algorithm) {
            case SHA256 -> sha256(pickleStr(StrictUtf8.encode(seedText, HashProfileException.PYTHON_HASH_SEED)));
            case SHA256_CBOR -> sha256(cborText(StrictUtf8.encode(seedText, HashProfileException.PYTHON_HASH_SEED)));
            case XXH3 -> {
                final long seed = parseUnsignedDecimal64(seedText);
                final byte[] bytes = new byte[8];
                for (int i = 0; i < 8; i++) {
                    bytes[i] = (byte) (seed >>> (56 - 8 * i));
                }
                yield bytes;
            }
        };
    }

    /**
     * Parses the XXH3 seed {@code S}: 1..20 ASCII digits, value at most 2^64-1.
     *
     * @param text decimal text
     * @return the seed, as a (possibly negative) long holding the unsigned value
     * @throws IllegalArgumentException if the text is not ASCII decimal in 0..18446744073709551615
     */
    static long parseUnsignedDecimal64(String text) {
        boolean digits = !text.isEmpty();
        for (int i = 0; i < text.length() && digits; i++) {
            final char c = text.charAt(i);
            digits = c >= '0' && c <= '9';
        }
        if (digits) {
            try {
                return Long.parseUnsignedLong(text);
            } catch (NumberFormatException tooLarge) {
                // fall through to the common message
            }
        }
        throw new IllegalArgumentException(
                "python_hash_seed must be ASCII decimal text in 0..18446744073709551615 for xxh3 (it is the seed S)");
    }

    /** CPython {@code pickle.dumps(str, protocol=5)}, including the unframed large-payload path. */
    static byte[] pickleStr(byte[] utf8) {
        final int n = utf8.length;
        final boolean large = n >= PICKLE_FRAME_SIZE_TARGET;
        final int header = n <= 0xff ? 2 : 5;
        if (large) {
            // PROTO, then the str bypasses framing; the trailing MEMOIZE STOP is a 2-byte final frame: no header.
            final byte[] out = new byte[2 + header + n + 2];
            out[0] = (byte) 0x80;
            out[1] = 5;
            out[2] = 0x58;
            putIntLe(out, 3, n);
            System.arraycopy(utf8, 0, out, 7, n);
            out[7 + n] = (byte) 0x94;
            out[8 + n] = 0x2e;
            return out;
        }
        final int body = header + n + 2;
        final byte[] out = new byte[2 + 9 + body];
        out[0] = (byte) 0x80;
        out[1] = 5;
        out[2] = (byte) 0x95;
        putIntLe(out, 3, body);                      // u64 LE: the upper four bytes stay zero
        int p = 11;
        if (n <= 0xff) {
            out[p++] = (byte) 0x8c;
            out[p++] = (byte) n;
        } else {
            out[p++] = 0x58;
            putIntLe(out, p, n);
            p += 4;
        }
        System.arraycopy(utf8, 0, out, p, n);
        p += n;
        out[p++] = (byte) 0x94;
        out[p] = 0x2e;
        return out;
    }

    /** Canonical CBOR of a text string: major type 3 header in shortest form, then the bytes. */
    static byte[] cborText(byte[] utf8) {
        final byte[] header = new byte[9];
        final int headerLength = CborBlockEncoder.writeHeader(header, 0, 3, utf8.length);
        final byte[] out = new byte[headerLength + utf8.length];
        System.arraycopy(header, 0, out, 0, headerLength);
        System.arraycopy(utf8, 0, out, headerLength, utf8.length);
        return out;
    }

    static byte[] sha256(byte[] bytes) {
        return newSha256().digest(bytes);
    }

    static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform must provide SHA-256", e);
        }
    }

    private static void putIntLe(byte[] out, int offset, int value) {
        out[offset] = (byte) value;
        out[offset + 1] = (byte) (value >>> 8);
        out[offset + 2] = (byte) (value >>> 16);
        out[offset + 3] = (byte) (value >>> 24);
    }
}
