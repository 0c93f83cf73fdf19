package io.conductor.index.hash;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A slow, obviously-correct canonical CBOR writer over a small object model: {@code byte[]}, {@code String},
 * {@code Integer} / {@code Long}, {@code null} and {@code Object[]} (array). Independent of the production writer.
 */
final class ReferenceCbor {
    private ReferenceCbor() {
    }

    static byte[] encode(Object value) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        write(out, value);
        return out.toByteArray();
    }

    private static void write(ByteArrayOutputStream out, Object value) {
        if (value == null) {
            out.write(0xf6);
        } else if (value instanceof Integer i) {
            writeInteger(out, i);
        } else if (value instanceof Long l) {
            writeInteger(out, l);
        } else if (value instanceof byte[] bytes) {
            header(out, 2, bytes.length);
            out.writeBytes(bytes);
        } else if (value instanceof String s) {
            final byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            header(out, 3, utf8.length);
            out.writeBytes(utf8);
        } else if (value instanceof Object[] array) {
            header(out, 4, array.length);
            for (Object element : array) {
                write(out, element);
            }
        } else {
            throw new IllegalArgumentException("unsupported: " + value.getClass());
        }
    }

    private static void writeInteger(ByteArrayOutputStream out, long v) {
        if (v >= 0) {
            header(out, 0, v);
        } else {
            header(out, 1, -1 - v);
        }
    }

    /** Shortest of: immediate (< 24), then 1, 2, 4 or 8 argument bytes. */
    private static void header(ByteArrayOutputStream out, int major, long argument) {
        if (argument < 24) {
            out.write((major << 5) | (int) argument);
            return;
        }
        int bytes = 1;
        int info = 24;
        while (bytes < 8 && Long.compareUnsigned(argument, (1L << (8 * bytes)) - 1) > 0) {
            bytes *= 2;
            info++;
        }
        out.write((major << 5) | info);
        for (int i = bytes - 1; i >= 0; i--) {
            out.write((int) (argument >>> (8 * i)) & 0xff);
        }
    }
}
