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

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH + 1).build())
            .build();

    private RequestDecoder() {
    }

    /**
     * Decodes a body whose root must be a map.
     *
     * @param format the body format
     * @param body the raw bytes
     * @return the root map
     * @throws ApiException 400 {@code invalid_msgpack} / {@code invalid_json} if the body is not one value or
     *     its root is not a map
     */
    public static Value.MapValue decodeRootMap(WireFormat format, byte[] body) {
        Value root = format == WireFormat.MSGPACK ? decodeMsgpack(body) : decodeJson(body);
        if (root instanceof Value.MapValue map) {
            return map;
        }
        throw format == WireFormat.MSGPACK
                ? ApiException.badRequest(Reason.INVALID_MSGPACK, null, "request body must be a msgpack map")
                : ApiException.badRequest(Reason.INVALID_JSON, null, "request body must be a JSON object");
    }

    // ---------------------------------------------------------------- msgpack

    private static Value decodeMsgpack(byte[] body) {
        try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(body)) {
            return readMsgpack(unpacker, body, 0);
        } catch (IOException | MessagePackException | MalformedBodyException e) {
            throw ApiException.badRequest(Reason.INVALID_MSGPACK, null, "Invalid msgpack object");
        }
    }

    private static Value readMsgpack(MessageUnpacker in, byte[] body, int depth) throws IOException {
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
                int length = in.unpackRawStringHeader();
                requireAvailable(in, length, body.length);
                return utf8(in.readPayload(length));
            }
            case BINARY -> {
                int length = in.unpackBinaryHeader();
                requireAvailable(in, length, body.length);
                // The unpacker reads straight from the body array, so its position is the payload's offset.
                int offset = (int) in.getTotalReadBytes();
                in.readPayloadAsReference(length); // advances past the payload without copying it
                return new Value.Bin(body, offset, length);
            }
            case ARRAY -> {
                return readMsgpackArray(in, body, depth);
            }
            case MAP -> {
                checkDepth(depth);
                int size = in.unpackMapHeader();
                requireAvailable(in, 2L * size, body.length);
                List<Value.Entry> entries = new ArrayList<>(size);
                for (int i = 0; i < size; i++) {
                    Value key = readMsgpack(in, body, depth + 1);
                    entries.add(new Value.Entry(key, readMsgpack(in, body, depth + 1)));
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
    private static Value readMsgpackArray(MessageUnpacker in, byte[] body, int depth) throws IOException {
        checkDepth(depth);
        int size = in.unpackArrayHeader();
        requireAvailable(in, size, body.length);
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
        List<Value> elements = new ArrayList<>(size);
        for (int j = 0; j < i; j++) {
            elements.add(new Value.Int(ints[j]));
        }
        for (; i < size; i++) {
            elements.add(readMsgpack(in, body, depth + 1));
        }
        return new Value.Array(elements);
    }

    /** A header announcing more bytes or elements than the body holds is malformed (and must not allocate). */
    private static void requireAvailable(MessageUnpacker in, long needed, int bodyLength) {
        if (needed < 0 || needed > bodyLength - in.getTotalReadBytes()) {
            throw new MalformedBodyException();
        }
    }

    // ---------------------------------------------------------------- JSON

    private static Value decodeJson(byte[] body) {
        Value fast = JsonFastPath.decode(body);
        return fast != null ? fast : decodeJsonWithJackson(body);
    }

    /** The complete JSON decoder (acceptance and errors); {@link JsonFastPath} takes the plain subset first. */
    static Value decodeJsonWithJackson(byte[] body) {
        try (JsonParser parser = JSON.createParser(body)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                throw new MalformedBodyException();
            }
            return readJson(parser, first, 0);
        } catch (IOException | MalformedBodyException | IllegalStateException e) {
            throw ApiException.badRequest(Reason.INVALID_JSON, null, "Invalid JSON object");
        }
    }

    private static Value readJson(JsonParser in, JsonToken token, int depth) throws IOException {
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
                        ints = Arrays.copyOf(ints, count * 2);
                    }
                    ints[count++] = in.getLongValue();
                    next = in.nextToken();
                }
                if (next == JsonToken.END_ARRAY) {
                    return new Value.IntArray(count == ints.length ? ints : Arrays.copyOf(ints, count));
                }
                List<Value> elements = new ArrayList<>(count + 8);
                for (int j = 0; j < count; j++) {
                    elements.add(new Value.Int(ints[j]));
                }
                while (next != JsonToken.END_ARRAY) {
                    if (next == null) {
                        throw new MalformedBodyException();
                    }
                    elements.add(readJson(in, next, depth + 1));
                    next = in.nextToken();
                }
                return new Value.Array(elements);
            }
            case START_OBJECT -> {
                checkDepth(depth);
                List<Value.Entry> entries = new ArrayList<>();
                JsonToken next = in.nextToken();
                while (next == JsonToken.FIELD_NAME) {
                    Value key = new Value.Str(in.currentName(), true);
                    JsonToken valueToken = in.nextToken();
                    if (valueToken == null) {
                        throw new MalformedBodyException();
                    }
                    entries.add(new Value.Entry(key, readJson(in, valueToken, depth + 1)));
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
        boolean ascii = true;
        for (byte b : bytes) {
            ascii &= b >= 0;
        }
        if (ascii) {
            return new Value.Str(new String(bytes, StandardCharsets.US_ASCII), true);
        }
        try {
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes));
            return new Value.Str(chars.toString(), true);
        } catch (CharacterCodingException e) {
            return new Value.Str(new String(bytes, StandardCharsets.UTF_8), false);
        }
    }

    /** Internal signal for structurally malformed input; never leaves this class. */
    private static final class MalformedBodyException extends RuntimeException {
        MalformedBodyException() {
            super(null, null, false, false);
        }
    }
}
