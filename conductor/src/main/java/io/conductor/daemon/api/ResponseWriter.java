package io.conductor.daemon.api;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * Writes one response body in msgpack or JSON through the same calls, so both formats have the same shapes by
 * construction. Maps and arrays announce their size (msgpack needs it) and are closed explicitly (JSON needs it).
 * Not thread-safe: one writer per response.
 */
abstract sealed class ResponseWriter {
    private static final JsonFactory JSON = new JsonFactory();

    /** Largest buffer a thread's reused msgpack writer keeps between responses. */
    static final int RETAINED_BYTES = 64 * 1024;

    private static final ThreadLocal<Msgpack> THREAD_MSGPACK = ThreadLocal.withInitial(Msgpack::new);

    static ResponseWriter create(WireFormat format) {
        return format == WireFormat.MSGPACK ? new Msgpack() : new Json();
    }

    /**
     * Returns a writer for one response: for msgpack the calling thread's reused writer, emptied (its bytes,
     * {@link #array()}, are valid until the thread's next call; a buffer grown past {@link #RETAINED_BYTES} by a
     * large answer is dropped here), for JSON a new one.
     */
    static ResponseWriter reusable(WireFormat format) {
        if (format != WireFormat.MSGPACK) {
            return new Json();
        }
        Msgpack w = THREAD_MSGPACK.get();
        w.reset();
        return w;
    }

    /**
     * Drops the calling thread's reused msgpack buffer if an answer grew it past {@link #RETAINED_BYTES}, so one
     * huge answer does not stay held by the thread until its next request. Call once the answer is written.
     */
    static void shrinkThreadWriter() {
        THREAD_MSGPACK.get().reset();
    }

    abstract ResponseWriter beginMap(int size);

    abstract ResponseWriter endMap();

    abstract ResponseWriter beginArray(int size);

    abstract ResponseWriter endArray();

    abstract ResponseWriter key(String key);

    abstract ResponseWriter string(String value);

    abstract ResponseWriter integer(long value);

    abstract ResponseWriter nil();

    abstract byte[] toBytes();

    /** The encoded bytes are {@code array()[0, length())}: no copy; valid until the writer is written again. */
    abstract byte[] array();

    /** The number of encoded bytes. */
    abstract int length();

    ResponseWriter field(String key, String value) {
        return key(key).string(value);
    }

    ResponseWriter field(String key, long value) {
        return key(key).integer(value);
    }

    /**
     * Encodes msgpack straight into one growable array, with the smallest encoding of every header and integer
     * (the bytes msgpack-java's packer writes). Replaces a buffer packer, whose object graph and per-string
     * {@code getBytes} copies showed in the {@code /query} allocation profile; ASCII strings (every key, and
     * instance ids in practice) are written char by char without an intermediate array.
     */
    private static final class Msgpack extends ResponseWriter {
        private byte[] buf = new byte[512];
        private int pos;

        void reset() {
            pos = 0;
            if (buf.length > RETAINED_BYTES) {
                buf = new byte[512];
            }
        }

        private void ensure(int more) {
            if (pos + more > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + more));
            }
        }

        private void put(int b) {
            buf[pos++] = (byte) b;
        }

        private void put16(int v) {
            buf[pos++] = (byte) (v >>> 8);
            buf[pos++] = (byte) v;
        }

        private void put32(int v) {
            put16(v >>> 16);
            put16(v);
        }

        private void put64(long v) {
            put32((int) (v >>> 32));
            put32((int) v);
        }

        /** fix / 16 / 32 header: maps and arrays. */
        private void header(int size, int fix, int code16) {
            ensure(5);
            if (size < 16) {
                put(fix | size);
            } else if (size < 65536) {
                put(code16);
                put16(size);
            } else {
                put(code16 + 1);
                put32(size);
            }
        }

        @Override
        ResponseWriter beginMap(int size) {
            header(size, 0x80, 0xde);
            return this;
        }

        @Override
        ResponseWriter endMap() {
            return this;
        }

        @Override
        ResponseWriter beginArray(int size) {
            header(size, 0x90, 0xdc);
            return this;
        }

        @Override
        ResponseWriter endArray() {
            return this;
        }

        @Override
        ResponseWriter key(String key) {
            return string(key);
        }

        @Override
        ResponseWriter string(String value) {
            int length = value.length();
            boolean ascii = true;
            for (int i = 0; i < length && ascii; i++) {
                ascii = value.charAt(i) < 0x80;
            }
            if (!ascii) {
                byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
                stringHeader(utf8.length);
                ensure(utf8.length);
                System.arraycopy(utf8, 0, buf, pos, utf8.length);
                pos += utf8.length;
                return this;
            }
            stringHeader(length);
            ensure(length);
            for (int i = 0; i < length; i++) {
                buf[pos++] = (byte) value.charAt(i);
            }
            return this;
        }

        private void stringHeader(int length) {
            ensure(5);
            if (length < 32) {
                put(0xa0 | length);
            } else if (length < 256) {
                put(0xd9);
                put(length);
            } else if (length < 65536) {
                put(0xda);
                put16(length);
            } else {
                put(0xdb);
                put32(length);
            }
        }

        @Override
        ResponseWriter integer(long v) {
            ensure(9);
            if (v < -(1L << 5)) {
                if (v < -(1L << 15)) {
                    if (v < -(1L << 31)) {
                        put(0xd3);
                        put64(v);
                    } else {
                        put(0xd2);
                        put32((int) v);
                    }
                } else if (v < -(1 << 7)) {
                    put(0xd1);
                    put16((int) v);
                } else {
                    put(0xd0);
                    put((int) v);
                }
            } else if (v < (1 << 7)) {
                put((int) v);
            } else if (v < (1L << 16)) {
                if (v < (1 << 8)) {
                    put(0xcc);
                    put((int) v);
                } else {
                    put(0xcd);
                    put16((int) v);
                }
            } else if (v < (1L << 32)) {
                put(0xce);
                put32((int) v);
            } else {
                put(0xcf);
                put64(v);
            }
            return this;
        }

        @Override
        ResponseWriter nil() {
            ensure(1);
            put(0xc0);
            return this;
        }

        @Override
        byte[] toBytes() {
            return Arrays.copyOf(buf, pos);
        }

        @Override
        byte[] array() {
            return buf;
        }

        @Override
        int length() {
            return pos;
        }
    }

    private static final class Json extends ResponseWriter {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        private final JsonGenerator generator;
        private byte @Nullable [] bytes;

        Json() {
            try {
                generator = JSON.createGenerator(out, JsonEncoding.UTF8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        ResponseWriter beginMap(int size) {
            try {
                generator.writeStartObject();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter endMap() {
            try {
                generator.writeEndObject();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter beginArray(int size) {
            try {
                generator.writeStartArray();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter endArray() {
            try {
                generator.writeEndArray();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter key(String key) {
            try {
                generator.writeFieldName(key);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter string(String value) {
            try {
                generator.writeString(value);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter integer(long value) {
            try {
                generator.writeNumber(value);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter nil() {
            try {
                generator.writeNull();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        byte[] toBytes() {
            try {
                generator.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return out.toByteArray();
        }

        @Override
        byte[] array() {
            byte[] b = bytes;
            if (b == null) {
                b = toBytes();
                bytes = b;
            }
            return b;
        }

        @Override
        int length() {
            return array().length;
        }
    }
}
