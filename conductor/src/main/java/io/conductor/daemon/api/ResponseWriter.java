package io.conductor.daemon.api;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

/**
 * Writes one response body in msgpack or JSON through the same calls, so both formats have the same shapes by
 * construction. Maps and arrays announce their size (msgpack needs it) and are closed explicitly (JSON needs it).
 * Not thread-safe: one writer per response.
 */
abstract sealed class ResponseWriter {
    private static final JsonFactory JSON = new JsonFactory();

    static ResponseWriter create(WireFormat format) {
        return format == WireFormat.MSGPACK ? new Msgpack() : new Json();
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

    ResponseWriter field(String key, String value) {
        return key(key).string(value);
    }

    ResponseWriter field(String key, long value) {
        return key(key).integer(value);
    }

    private static final class Msgpack extends ResponseWriter {
        /** Small first buffer: most answers are a few hundred bytes (the default would allocate 8 KiB each). */
        private static final MessagePack.PackerConfig CONFIG = new MessagePack.PackerConfig().withBufferSize(512);
        private final MessageBufferPacker packer = CONFIG.newBufferPacker();

        @Override
        ResponseWriter beginMap(int size) {
            try {
                packer.packMapHeader(size);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter endMap() {
            return this;
        }

        @Override
        ResponseWriter beginArray(int size) {
            try {
                packer.packArrayHeader(size);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
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
            try {
                packer.packString(value);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter integer(long value) {
            try {
                packer.packLong(value);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        ResponseWriter nil() {
            try {
                packer.packNil();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        @Override
        byte[] toBytes() {
            return packer.toByteArray();
        }
    }

    private static final class Json extends ResponseWriter {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        private final JsonGenerator generator;

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
    }
}
