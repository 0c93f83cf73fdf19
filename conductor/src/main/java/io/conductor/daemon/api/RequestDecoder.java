package io.conductor.daemon.api;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessageUnpacker;

/**
 * Decodes a request body (msgpack or JSON) into the neutral {@link Value} model, applying the body checks of
 * mooncake-api.md §3.1 steps 2 and 3: one complete value (trailing bytes ignored), whose root is a map. Key types
 * (step 4) and unknown keys (step 5) are left to the route's reader, whose scan order differs per route.
 *
 * <p>Thread-safe and stateless; each call uses its own unpacker or parser.
 */
public final class RequestDecoder {
    /** Deepest nesting accepted; deeper input is malformed for our purposes (and would risk the stack). */
    public static final int MAX_DEPTH = 32;
    /** Most entries one map may have; requests have a dozen keys, {@code loads} one per instance. */
    public static final int MAX_MAP_ENTRIES = 65_536;
    /** Longest JSON string Jackson may buffer (our fields are at most {@link ApiLimits#maxStringBytes()}). */
    static final int MAX_JSON_STRING = 1 << 20;
    /** Charged per element of an array of mixed values and per map entry: a reference plus a small object. */
    static final long NODE_BYTES = 32;
    /** Charged for a {@code long[]} of n elements: 8 bytes each plus its header. */
    static final long LONG_BYTES = 8;

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH + 1)
                    .maxStringLength(MAX_JSON_STRING).build())
            .build();

    /**
     * What one decoding may allocate: every array and map is bounded by its declared size, checked before anything
     * is allocated, and every allocation is charged to the request's memory budget first. Belongs to one decoding.
     */
    static final class Bounds {
        private final ApiLimits limits;
        private final MemoryBudget.Charge charge;
        private @Nullable String rootField;

        Bounds(ApiLimits limits, MemoryBudget.Charge charge) {
            this.limits = limits;
            this.charge = charge;
        }

        /** Checks an array's declared length against the element limit and charges {@code bytesEach} per element. */
        void array(long length, long bytesEach) {
            if (length > limits.maxTokens()) {
                String field = rootField == null ? "array" : rootField;
                throw ApiException.badRequest(Reason.OUT_OF_RANGE, rootField,
                        field + " must have at most " + limits.maxTokens() + " elements");
            }
            charge.charge(16 + length * bytesEach);
        }

        /** Checks a map's declared size and charges its entries. */
        void map(long size) {
            if (size > MAX_MAP_ENTRIES) {
                throw ApiException.badRequest(Reason.OUT_OF_RANGE, rootField,
                        "a map must have at most " + MAX_MAP_ENTRIES + " entries");
            }
            charge.charge(16 + size * NODE_BYTES);
        }

        /** Charges a string of {@code length} bytes or chars (its bytes and the String made of them). */
        void string(long length) {
            charge.charge(48 + 2 * length);
        }

        /** Charges {@code bytes} of growth. */
        void grow(long bytes) {
            charge.charge(bytes);
        }

        /** Gives back what a replaced array cost (the request keeps holding its peak). */
        void replaced(long bytes) {
            charge.refund(bytes);
        }

        /** The most elements one array may have. */
        int maxElements() {
            return limits.maxTokens();
        }

        /** Names the root key whose value is being decoded (for limit errors). */
        void rootField(@Nullable String name) {
            rootField = name;
        }
    }

    private RequestDecoder() {
    }

    /**
     * Decodes a body whose root must be a map, with the default limits and no memory budget (tools and tests).
     *
     * @param format the body format
     * @param body the raw bytes
     * @return the root map
     * @throws ApiException as {@link #decodeRootMap(WireFormat, byte[], ApiLimits, MemoryBudget.Charge)}
     */
    public static Value.MapValue decodeRootMap(WireFormat format, byte[] body) {
        try (MemoryBudget.Charge charge = MemoryBudget.unlimited().open()) {
            return decodeRootMap(format, body, ApiLimits.defaults(), charge);
        }
    }

    /**
     * Decodes a body whose root must be a map. Every array's and map's declared size is checked against the
     * limits before it is allocated, and every allocation is charged to {@code charge} first.
     *
     * @param format the body format
     * @param body the raw bytes
     * @param limits the element limit ({@link ApiLimits#maxTokens()} bounds every array)
     * @param charge the request's memory charge
     * @return the root map
     * @throws ApiException 400 {@code invalid_msgpack} / {@code invalid_json} if the body is not one value or
     *     its root is not a map; 400 {@code out_of_range} if an array or map is larger than its limit; 413 / 503
     *     from {@code charge}
     */
    public static Value.MapValue decodeRootMap(WireFormat format, byte[] body, ApiLimits limits,
            MemoryBudget.Charge charge) {
        return decodeRootMap(format, body, body.length, limits, charge);
    }

    /**
     * As {@link #decodeRootMap(WireFormat, byte[], ApiLimits, MemoryBudget.Charge)} for the body in
     * {@code body[0, length)} (a reused request buffer). Values that view the body ({@link Value.Bin}) are valid
     * only while the buffer holds it.
     *
     * @param format the body format
     * @param body the buffer holding the raw bytes
     * @param length the body's length, {@code <= body.length}
     * @param limits the element limit
     * @param charge the request's memory charge
     * @return the root map
     * @throws ApiException as {@link #decodeRootMap(WireFormat, byte[], ApiLimits, MemoryBudget.Charge)}
     */
    static Value.MapValue decodeRootMap(WireFormat format, byte[] body, int length, ApiLimits limits,
            MemoryBudget.Charge charge) {
        Bounds bounds = new Bounds(limits, charge);
        Value root = format == WireFormat.MSGPACK ? decodeMsgpack(body, length, bounds)
                : decodeJson(body, length, bounds);
        if (root instanceof Value.MapValue map) {
            return map;
        }
        throw format == WireFormat.MSGPACK
                ? ApiException.badRequest(Reason.INVALID_MSGPACK, null, "request body must be a msgpack map")
                : ApiException.badRequest(Reason.INVALID_JSON, null, "request body must be a JSON object");
    }

    // ---------------------------------------------------------------- msgpack

    private static Value decodeMsgpack(byte[] body, int length, Bounds bounds) {
        try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(body, 0, length)) {
            return readMsgpack(unpacker, body, length, 0, bounds);
        } catch (IOException | MessagePackException | MalformedBodyException e) {
            throw ApiException.badRequest(Reason.INVALID_MSGPACK, null, "Invalid msgpack object");
        }
    }

    private static Value readMsgpack(MessageUnpacker in, byte[] body, int bodyLength, int depth, Bounds bounds)
            throws IOException {
        MessageFormat format = in.getNextFormat();
        switch (format.getValueType()) {
            case NIL -> {
                in.unpackNil();
                return Value.Nil.NIL;
            }
            case BOOLEAN -> {
                return new Value.Bool(in.unpackBoolean());
            }
            case INTEGER -> {
                return readMsgpackInteger(in, format);
            }
            case FLOAT -> {
                return new Value.Float(in.unpackDouble());
            }
            case STRING -> {
                // The unpacker reads straight from the body array: the text is decoded from there (no payload
                // copy), and the unpacker skips it.
                int at = (int) in.getTotalReadBytes();
                int length = payloadLength(format, body, at, bodyLength);
                bounds.string(length);
                in.skipValue();
                return utf8(body, at + headerLength(format), length);
            }
            case BINARY -> {
                int at = (int) in.getTotalReadBytes();
                int length = payloadLength(format, body, at, bodyLength);
                in.skipValue(); // advances past the payload without copying it
                return new Value.Bin(body, at + headerLength(format), length);
            }
            case ARRAY -> {
                return readMsgpackArray(in, body, bodyLength, depth, bounds);
            }
            case MAP -> {
                checkDepth(depth);
                int size = in.unpackMapHeader();
                requireAvailable(in, 2L * size, bodyLength);
                bounds.map(size);
                List<Value.Entry> entries = new ArrayList<>(size);
                for (int i = 0; i < size; i++) {
                    Value key = readMsgpack(in, body, bodyLength, depth + 1, bounds);
                    if (depth == 0) {
                        bounds.rootField(key instanceof Value.Str s ? s.text() : null);
                    }
                    entries.add(new Value.Entry(key, readMsgpack(in, body, bodyLength, depth + 1, bounds)));
                }
                return new Value.MapValue(entries);
            }
            case EXTENSION -> {
                in.skipValue();
                return Value.Other.EXTENSION;
            }
            default -> throw new MalformedBodyException();
        }
    }

    private static Value readMsgpackInteger(MessageUnpacker in, MessageFormat format) throws IOException {
        if (format == MessageFormat.UINT64) {
            BigInteger big = in.unpackBigInteger();
            return big.bitLength() < Long.SIZE ? new Value.Int(big.longValue()) : new Value.WideInt(big);
        }
        return new Value.Int(in.unpackLong());
    }

    /** Reads an array; all-integer arrays (token ids, hashes) stay a primitive {@code long[]}. */
    private static Value readMsgpackArray(MessageUnpacker in, byte[] body, int bodyLength, int depth,
            Bounds bounds) throws IOException {
        checkDepth(depth);
        int size = in.unpackArrayHeader();
        requireAvailable(in, size, bodyLength);
        bounds.array(size, LONG_BYTES);
        long[] ints = new long[size];
        int i = 0;
        while (i < size) {
            MessageFormat next = in.getNextFormat();
            if (next.getValueType() != org.msgpack.value.ValueType.INTEGER || next == MessageFormat.UINT64) {
                break;
            }
            ints[i++] = in.unpackLong();
        }
        if (i == size) {
            return new Value.IntArray(ints);
        }
        bounds.grow(size * NODE_BYTES);
        List<Value> elements = new ArrayList<>(size);
        for (int j = 0; j < i; j++) {
            elements.add(new Value.Int(ints[j]));
        }
        for (; i < size; i++) {
            elements.add(readMsgpack(in, body, bodyLength, depth + 1, bounds));
        }
        return new Value.Array(elements);
    }

    /** Bytes of a str / bin header. */
    private static int headerLength(MessageFormat format) {
        return switch (format) {
            case FIXSTR -> 1;
            case STR8, BIN8 -> 2;
            case STR16, BIN16 -> 3;
            default -> 5; // STR32, BIN32
        };
    }

    /**
     * The payload length of the str / bin whose header starts at {@code body[at]}, checked against what the body
     * holds after the header (more is malformed, and nothing is allocated for it).
     */
    private static int payloadLength(MessageFormat format, byte[] body, int at, int bodyLength) {
        int header = headerLength(format);
        if (at + header > bodyLength) {
            throw new MalformedBodyException();
        }
        long length = switch (format) {
            case FIXSTR -> body[at] & 0x1f;
            case STR8, BIN8 -> body[at + 1] & 0xff;
            case STR16, BIN16 -> ((body[at + 1] & 0xff) << 8) | (body[at + 2] & 0xff);
            default -> ((long) (body[at + 1] & 0xff) << 24) | ((body[at + 2] & 0xff) << 16)
                    | ((body[at + 3] & 0xff) << 8) | (body[at + 4] & 0xff);
        };
        if (length > bodyLength - at - header) {
            throw new MalformedBodyException();
        }
        return (int) length;
    }

    /** A header announcing more bytes or elements than the body holds is malformed (and must not allocate). */
    private static void requireAvailable(MessageUnpacker in, long needed, int bodyLength) {
        if (needed < 0 || needed > bodyLength - in.getTotalReadBytes()) {
            throw new MalformedBodyException();
        }
    }

    // ---------------------------------------------------------------- JSON

    private static Value decodeJson(byte[] body, int length, Bounds bounds) {
        long before = bounds.charge.used();
        Value fast = JsonFastPath.decode(body, length, bounds);
        if (fast != null) {
            return fast;
        }
        bounds.charge.refund(bounds.charge.used() - before); // what the fast path built before giving up is garbage
        bounds.rootField(null);
        return decodeJsonWithJackson(body, length, bounds);
    }

    /** The complete JSON decoder (acceptance and errors); {@link JsonFastPath} takes the plain subset first. */
    static Value decodeJsonWithJackson(byte[] body) {
        try (MemoryBudget.Charge charge = MemoryBudget.unlimited().open()) {
            return decodeJsonWithJackson(body, body.length, new Bounds(ApiLimits.defaults(), charge));
        }
    }

    private static Value decodeJsonWithJackson(byte[] body, int length, Bounds bounds) {
        try (JsonParser parser = JSON.createParser(body, 0, length)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                throw new MalformedBodyException();
            }
            return readJson(parser, first, 0, bounds);
        } catch (IOException | MalformedBodyException | IllegalStateException e) {
            throw ApiException.badRequest(Reason.INVALID_JSON, null, "Invalid JSON object");
        }
    }

    private static Value readJson(JsonParser in, JsonToken token, int depth, Bounds bounds) throws IOException {
        switch (token) {
            case VALUE_NULL -> {
                return Value.Nil.NIL;
            }
            case VALUE_TRUE -> {
                return new Value.Bool(true);
            }
            case VALUE_FALSE -> {
                return new Value.Bool(false);
            }
            case VALUE_STRING -> {
                bounds.string(in.getTextLength());
                return new Value.Str(in.getText(), true);
            }
            case VALUE_NUMBER_INT -> {
                if (in.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    return new Value.WideInt(in.getBigIntegerValue());
                }
                return new Value.Int(in.getLongValue());
            }
            case VALUE_NUMBER_FLOAT -> {
                return new Value.Float(in.getDoubleValue());
            }
            case START_ARRAY -> {
                checkDepth(depth);
                long[] ints = new long[16];
                int count = 0;
                JsonToken next = in.nextToken();
                while (next == JsonToken.VALUE_NUMBER_INT && in.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    if (count == ints.length) {
                        bounds.array(count * 2L, LONG_BYTES);
                        ints = Arrays.copyOf(ints, count * 2);
                        bounds.replaced(count * LONG_BYTES);
                    }
                    ints[count++] = in.getLongValue();
                    next = in.nextToken();
                }
                if (next == JsonToken.END_ARRAY) {
                    if (count == ints.length) {
                        return new Value.IntArray(ints);
                    }
                    bounds.grow(count * LONG_BYTES);
                    long[] exact = Arrays.copyOf(ints, count);
                    bounds.replaced((long) ints.length * LONG_BYTES);
                    return new Value.IntArray(exact);
                }
                bounds.grow((count + 8) * NODE_BYTES);
                List<Value> elements = new ArrayList<>(count + 8);
                for (int j = 0; j < count; j++) {
                    elements.add(new Value.Int(ints[j]));
                }
                while (next != JsonToken.END_ARRAY) {
                    if (next == null) {
                        throw new MalformedBodyException();
                    }
                    if (elements.size() >= bounds.maxElements()) {
                        bounds.array(elements.size() + 1L, 0);
                    }
                    bounds.grow(NODE_BYTES);
                    elements.add(readJson(in, next, depth + 1, bounds));
                    next = in.nextToken();
                }
                return new Value.Array(elements);
            }
            case START_OBJECT -> {
                checkDepth(depth);
                List<Value.Entry> entries = new ArrayList<>();
                JsonToken next = in.nextToken();
                while (next == JsonToken.FIELD_NAME) {
                    if (entries.size() >= MAX_MAP_ENTRIES) {
                        bounds.map(entries.size() + 1L);
                    }
                    String name = in.currentName();
                    bounds.grow(NODE_BYTES + 48 + 2L * name.length());
                    Value key = new Value.Str(name, true);
                    if (depth == 0) {
                        bounds.rootField(name);
                    }
                    JsonToken valueToken = in.nextToken();
                    if (valueToken == null) {
                        throw new MalformedBodyException();
                    }
                    entries.add(new Value.Entry(key, readJson(in, valueToken, depth + 1, bounds)));
                    next = in.nextToken();
                }
                if (next != JsonToken.END_OBJECT) {
                    throw new MalformedBodyException();
                }
                return new Value.MapValue(entries);
            }
            default -> throw new MalformedBodyException();
        }
    }

    // ---------------------------------------------------------------- shared

    private static void checkDepth(int depth) {
        if (depth >= MAX_DEPTH) {
            throw new MalformedBodyException();
        }
    }

    /** Decodes strictly; invalid UTF-8 keeps a replaced text and is flagged (it cannot be hashed). */
    static Value.Str utf8(byte[] bytes) {
        return utf8(bytes, 0, bytes.length);
    }

    /** As {@link #utf8(byte[])} for {@code bytes[offset, offset + length)}; short ASCII texts come from a cache. */
    static Value.Str utf8(byte[] bytes, int offset, int length) {
        boolean ascii = true;
        int hash = 0;
        for (int i = offset; i < offset + length; i++) {
            byte b = bytes[i];
            ascii &= b >= 0;
            hash = 31 * hash + b;
        }
        if (ascii) {
            return length <= ShortTexts.MAX_LENGTH ? ShortTexts.get(bytes, offset, length, hash)
                    : new Value.Str(new String(bytes, offset, length, StandardCharsets.US_ASCII), true);
        }
        try {
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, offset, length));
            return new Value.Str(chars.toString(), true);
        } catch (CharacterCodingException e) {
            return new Value.Str(new String(bytes, offset, length, StandardCharsets.UTF_8), false);
        }
    }

    /**
     * Recently decoded short ASCII texts (keys, model and instance names), so the common request decodes them
     * without allocating: a fixed table of {@link #SLOTS} values, each slot holding the last text that hashed to it.
     * Thread-safe without locks: slots hold immutable values, and a lost update only costs a later allocation.
     */
    private static final class ShortTexts {
        static final int MAX_LENGTH = 48;
        static final int SLOTS = 256;
        private static final Value.Str[] TABLE = new Value.Str[SLOTS];

        private ShortTexts() {
        }

        static Value.Str get(byte[] bytes, int offset, int length, int hash) {
            int slot = (hash ^ (hash >>> 8) ^ (hash >>> 16)) & (SLOTS - 1);
            Value.Str cached = TABLE[slot];
            if (cached != null && same(cached.text(), bytes, offset, length)) {
                return cached;
            }
            Value.Str fresh = new Value.Str(new String(bytes, offset, length, StandardCharsets.US_ASCII), true);
            TABLE[slot] = fresh;
            return fresh;
        }

        private static boolean same(String text, byte[] bytes, int offset, int length) {
            if (text.length() != length) {
                return false;
            }
            for (int i = 0; i < length; i++) {
                if (text.charAt(i) != bytes[offset + i]) {
                    return false;
                }
            }
            return true;
        }
    }

    /** Internal signal for structurally malformed input; never leaves this class. */
    private static final class MalformedBodyException extends RuntimeException {
        MalformedBodyException() {
            super(null, null, false, false);
        }
    }
}
