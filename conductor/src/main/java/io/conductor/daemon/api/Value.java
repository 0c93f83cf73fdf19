package io.conductor.daemon.api;

import java.math.BigInteger;
import java.util.List;

/**
 * The neutral field model both request decoders produce, so that one set of validators serves msgpack and JSON.
 * Only what validation must distinguish is kept: integers that fit a {@code long} apart from wider ones, strings
 * apart from their UTF-8 validity, and arrays of plain integers (token ids, hashes) as a primitive array so that
 * a long prompt costs one {@code long[]}, not an object per token. Values are immutable by convention (arrays are
 * not copied); one request's values belong to its thread.
 */
public sealed interface Value {
    /**
     * Returns the type name used in messages and by validators.
     *
     * @return a short name
     */
    String typeName();

    /** Nil / JSON null. */
    enum Nil implements Value {
        /** The only nil. */
        NIL;

        @Override
        public String typeName() {
            return "nil";
        }
    }

    /**
     * A boolean.
     *
     * @param value the value
     */
    record Bool(boolean value) implements Value {
        @Override
        public String typeName() {
            return "bool";
        }
    }

    /**
     * An integer that fits a signed 64-bit long.
     *
     * @param value the value
     */
    record Int(long value) implements Value {
        @Override
        public String typeName() {
            return "int";
        }
    }

    /**
     * An integer outside the signed 64-bit range (msgpack uint64 above {@code Long.MAX_VALUE}, big JSON numbers).
     *
     * @param value the value
     */
    record WideInt(BigInteger value) implements Value {
        @Override
        public String typeName() {
            return "int";
        }
    }

    /**
     * A floating-point number.
     *
     * @param value the value
     */
    @SuppressWarnings("JavaLangClash") // named after the JSON kind; always written Value.Float outside
    record Float(double value) implements Value {
        @Override
        public String typeName() {
            return "float";
        }
    }

    /**
     * A string.
     *
     * @param text the decoded text (malformed sequences replaced)
     * @param validUtf8 whether the raw bytes were valid UTF-8
     */
    record Str(String text, boolean validUtf8) implements Value {
        @Override
        public String typeName() {
            return "str";
        }
    }

    /**
     * A msgpack bin: a view of {@code length} bytes at {@code offset} of the request body, which it references
     * instead of copying (a 2048-token prompt is an 8 KiB bin; the body outlives the request's decoding).
     *
     * @param source the array holding the payload (not copied; never modified)
     * @param offset where the payload starts
     * @param length the payload size in bytes
     */
    record Bin(byte[] source, int offset, int length) implements Value {
        @Override
        public String typeName() {
            return "bin";
        }
    }

    /**
     * An array whose elements are all integers that fit a long, kept primitive.
     *
     * @param values the elements
     */
    record IntArray(long[] values) implements Value {
        @Override
        public String typeName() {
            return "array";
        }
    }

    /**
     * Any other array.
     *
     * @param elements the elements
     */
    record Array(List<Value> elements) implements Value {
        @Override
        public String typeName() {
            return "array";
        }
    }

    /**
     * A map, its entries in body order (duplicates kept; each route says which occurrence wins).
     *
     * @param entries the entries
     */
    record MapValue(List<Entry> entries) implements Value {
        @Override
        public String typeName() {
            return "map";
        }
    }

    /**
     * One map entry.
     *
     * @param key the key (a {@link Str} in valid requests)
     * @param value the value
     */
    record Entry(Value key, Value value) {
    }

    /** Anything else (msgpack ext). */
    enum Other implements Value {
        /** A msgpack extension value. */
        EXTENSION;

        @Override
        public String typeName() {
            return "ext";
        }
    }
}
