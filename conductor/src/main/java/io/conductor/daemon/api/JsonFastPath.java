package io.conductor.daemon.api;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A fast decoder for the plain subset of JSON that proxies send: objects, arrays, ASCII strings without escapes,
 * integers of at most 18 digits, {@code true}, {@code false}, {@code null}. Anything else (escapes, non-ASCII,
 * fractions, exponents, long numbers, a leading zero, nesting deeper than {@link RequestDecoder#MAX_DEPTH},
 * malformed or truncated input) makes it give up and return {@code null}, and the caller decodes the body with
 * Jackson instead, which then decides acceptance and errors. So for every body it accepts it yields the same
 * {@link Value} tree Jackson's path does, and it never reports an error of its own.
 *
 * <p>Why: a 2048-token prompt is an array of 2048 numbers; Jackson's token-by-token parse of it cost about three
 * times the whole msgpack request. Here an integer array is one tight loop over the bytes.
 *
 * <p>Thread-safe: stateless; each call keeps its cursor in its own instance.
 */
final class JsonFastPath {
    /** Longest integer literal taken here: 18 digits always fit a long (Jackson's long path agrees). */
    private static final int MAX_DIGITS = 18;

    private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class,
            ByteOrder.LITTLE_ENDIAN);

    private final byte[] in;
    /** End of the body in {@link #in} (a reused request buffer may be longer than the body). */
    private final int end;
    private final RequestDecoder.Bounds bounds;
    private int pos;

    private JsonFastPath(byte[] in, int end, RequestDecoder.Bounds bounds) {
        this.in = in;
        this.end = end;
        this.bounds = bounds;
    }

    /**
     * Decodes the body's first value if it is an object in the subset.
     *
     * @param body the raw bytes
     * @return the value, or {@code null} if the body is outside the subset or not an object (decode it with
     *     Jackson)
     */
    static @Nullable Value decode(byte[] body) {
        try (MemoryBudget.Charge charge = MemoryBudget.unlimited().open()) {
            return decode(body, new RequestDecoder.Bounds(ApiLimits.defaults(), charge));
        }
    }

    /**
     * As {@link #decode(byte[])}, checking array and map sizes and charging allocations as the decoder does (those
     * failures are errors, not a reason to give up).
     *
     * @param body the raw bytes
     * @param bounds the decoding's limits and memory charge
     * @return the value, or {@code null} to decode with Jackson
     * @throws ApiException 400 {@code out_of_range} for an array or map above its limit; 413 / 503 from the charge
     */
    static @Nullable Value decode(byte[] body, RequestDecoder.Bounds bounds) {
        return decode(body, body.length, bounds);
    }

    /**
     * As {@link #decode(byte[], RequestDecoder.Bounds)} for the body in {@code body[0, length)}.
     *
     * @param body the buffer holding the raw bytes
     * @param length the body's length
     * @param bounds the decoding's limits and memory charge
     * @return the value, or {@code null} to decode with Jackson
     */
    static @Nullable Value decode(byte[] body, int length, RequestDecoder.Bounds bounds) {
        JsonFastPath p = new JsonFastPath(body, length, bounds);
        try {
            // Only an object at the root (the one shape requests have): Jackson checks what follows a root-level
            // scalar differently from a nested one.
            return p.next() == '{' ? p.value(0) : null;
        } catch (GiveUp e) {
            return null;
        }
    }

    /** How many of the 8 bytes at {@code p} are ASCII digits before the first non-digit (8: all are). */
    private static int digitsOf8(byte[] a, int p) {
        long x = (long) LONG_LE.get(a, p) ^ 0x3030303030303030L; // digit bytes become 0..9
        // A lane is flagged when x >= 10 (x + 0x76 reaches 0x80) or x >= 0x80. Carries only run into higher
        // lanes, which lie after the first flagged one, so the lowest flag is exact.
        long flags = (x | (x + 0x7676767676767676L)) & 0x8080808080808080L;
        return Long.numberOfTrailingZeros(flags) >>> 3; // 64 >>> 3 = 8 when no lane is flagged
    }

    /** The value of the {@code k} (fewer than 8) digits at {@code p}: right-align them, combine lanes pairwise. */
    private static long swarValue(byte[] a, int p, int k) {
        if (k == 0) {
            return 0;
        }
        long x = ((long) LONG_LE.get(a, p) ^ 0x3030303030303030L) & ((1L << (k << 3)) - 1);
        x <<= (Long.BYTES - k) << 3; // leading zero digits in the low (first-read) lanes
        x = (x * 10 + (x >>> 8)) & 0x00FF00FF00FF00FFL;
        x = (x * 100 + (x >>> 16)) & 0x0000FFFF0000FFFFL;
        return (x * 10000 + (x >>> 32)) & 0xFFFFFFFFL;
    }

    private static boolean isWhitespace(byte b) {
        return b == ' ' || b == '\n' || b == '\r' || b == '\t';
    }

    private void skipWhitespace() {
        while (pos < end && isWhitespace(in[pos])) {
            pos++;
        }
    }

    private byte next() {
        skipWhitespace();
        if (pos >= end) {
            throw GiveUp.INSTANCE;
        }
        return in[pos];
    }

    private Value value(int depth) {
        byte b = next();
        switch (b) {
            case '{' -> {
                return object(depth);
            }
            case '[' -> {
                return array(depth);
            }
            case '"' -> {
                return new Value.Str(string(), true);
            }
            case 't' -> {
                literal("true");
                return new Value.Bool(true);
            }
            case 'f' -> {
                literal("false");
                return new Value.Bool(false);
            }
            case 'n' -> {
                literal("null");
                return Value.Nil.NIL;
            }
            default -> {
                if (b == '-' || (b >= '0' && b <= '9')) {
                    return new Value.Int(integer());
                }
                throw GiveUp.INSTANCE;
            }
        }
    }

    private void literal(String word) {
        int n = word.length();
        if (pos + n > end) {
            throw GiveUp.INSTANCE;
        }
        for (int i = 0; i < n; i++) {
            if (in[pos + i] != word.charAt(i)) {
                throw GiveUp.INSTANCE;
            }
        }
        pos += n;
        requireDelimiter();
    }

    /** After a scalar: end of input, whitespace, or a structural character (else Jackson decides). */
    private void requireDelimiter() {
        if (pos < end) {
            byte b = in[pos];
            if (b != ',' && b != ']' && b != '}' && b != ' ' && b != '\n' && b != '\r' && b != '\t') {
                throw GiveUp.INSTANCE;
            }
        }
    }

    /** At a quote: printable ASCII up to the closing quote; escapes, control and non-ASCII bytes give up. */
    private String string() {
        int start = ++pos;
        while (pos < end) {
            byte b = in[pos];
            if (b == '"') {
                bounds.string(pos - start);
                String s = new String(in, start, pos - start, java.nio.charset.StandardCharsets.US_ASCII);
                pos++;
                return s;
            }
            if (b < 0x20 || b == '\\') { // negative bytes (non-ASCII) are < 0x20 too
                throw GiveUp.INSTANCE;
            }
            pos++;
        }
        throw GiveUp.INSTANCE;
    }

    /** An integer literal: {@code -?(0|[1-9][0-9]*)}, at most {@value #MAX_DIGITS} digits, no fraction/exponent. */
    private long integer() {
        boolean negative = in[pos] == '-';
        if (negative) {
            pos++;
        }
        int start = pos;
        long v = 0;
        while (pos < end) {
            int d = in[pos] - '0';
            if (d < 0 || d > 9) {
                break;
            }
            v = v * 10 + d;
            pos++;
        }
        int digits = pos - start;
        if (digits == 0 || digits > MAX_DIGITS || (digits > 1 && in[start] == '0')) {
            throw GiveUp.INSTANCE;
        }
        requireDelimiter(); // rejects '.', 'e', 'E' and anything else glued to the number
        return negative ? -v : v;
    }

    private Value array(int depth) {
        if (depth >= RequestDecoder.MAX_DEPTH) {
            throw GiveUp.INSTANCE;
        }
        pos++; // '['
        long[] ints = new long[64];
        int count = 0;
        byte b = next();
        if (b == ']') {
            pos++;
            return new Value.IntArray(new long[0]);
        }
        // The common case: integers only, parsed in one loop over locals (no field traffic per byte).
        byte[] a = in;
        int n = end;
        int p = pos;
        while (b == '-' || (b >= '0' && b <= '9')) {
            boolean negative = b == '-';
            if (negative) {
                p++;
            }
            int digitsStart = p;
            long v = 0;
            int swar = p + Long.BYTES <= n ? digitsOf8(a, p) : Long.BYTES;
            if (swar < Long.BYTES) {
                // Up to 7 digits followed by a non-digit: convert them in a few multiplications.
                v = swarValue(a, p, swar);
                p += swar;
            } else {
                while (p < n) {
                    int d = a[p] - '0';
                    if (d < 0 || d > 9) {
                        break;
                    }
                    v = v * 10 + d;
                    p++;
                }
            }
            int digits = p - digitsStart;
            if (digits == 0 || digits > MAX_DIGITS || (digits > 1 && a[digitsStart] == '0')) {
                throw GiveUp.INSTANCE;
            }
            if (count == ints.length) {
                bounds.array(count * 2L, RequestDecoder.LONG_BYTES);
                ints = Arrays.copyOf(ints, count * 2);
                bounds.replaced(count * RequestDecoder.LONG_BYTES);
            }
            ints[count++] = negative ? -v : v;
            while (p < n && isWhitespace(a[p])) {
                p++;
            }
            if (p >= n) {
                throw GiveUp.INSTANCE;
            }
            b = a[p++];
            if (b == ']') {
                pos = p;
                if (count > 64) {
                    bounds.grow(count * RequestDecoder.LONG_BYTES);
                    long[] exact = Arrays.copyOf(ints, count);
                    bounds.replaced((long) ints.length * RequestDecoder.LONG_BYTES);
                    return new Value.IntArray(exact);
                }
                return new Value.IntArray(Arrays.copyOf(ints, count));
            }
            if (b != ',') {
                throw GiveUp.INSTANCE; // also a number glued to '.', 'e', a letter ...
            }
            while (p < n && isWhitespace(a[p])) {
                p++;
            }
            if (p >= n) {
                throw GiveUp.INSTANCE;
            }
            b = a[p];
        }
        pos = p;
        bounds.grow((count + 8) * RequestDecoder.NODE_BYTES);
        List<Value> elements = new ArrayList<>(count + 8);
        for (int j = 0; j < count; j++) {
            elements.add(new Value.Int(ints[j]));
        }
        while (true) {
            if (elements.size() >= bounds.maxElements()) {
                bounds.array(elements.size() + 1L, 0);
            }
            bounds.grow(RequestDecoder.NODE_BYTES);
            elements.add(value(depth + 1));
            b = next();
            pos++;
            if (b == ']') {
                return new Value.Array(elements);
            }
            if (b != ',') {
                throw GiveUp.INSTANCE;
            }
        }
    }

    private Value object(int depth) {
        if (depth >= RequestDecoder.MAX_DEPTH) {
            throw GiveUp.INSTANCE;
        }
        pos++; // '{'
        List<Value.Entry> entries = new ArrayList<>();
        byte b = next();
        if (b == '}') {
            pos++;
            return new Value.MapValue(entries);
        }
        while (true) {
            if (b != '"') {
                throw GiveUp.INSTANCE;
            }
            if (entries.size() >= RequestDecoder.MAX_MAP_ENTRIES) {
                bounds.map(entries.size() + 1L);
            }
            bounds.grow(RequestDecoder.NODE_BYTES);
            String name = string();
            Value key = new Value.Str(name, true);
            if (depth == 0) {
                bounds.rootField(name);
            }
            if (next() != ':') {
                throw GiveUp.INSTANCE;
            }
            pos++;
            entries.add(new Value.Entry(key, value(depth + 1)));
            b = next();
            pos++;
            if (b == '}') {
                return new Value.MapValue(entries);
            }
            if (b != ',') {
                throw GiveUp.INSTANCE;
            }
            b = next();
        }
    }

    /** Internal signal: the body is outside the subset. Never leaves this class. */
    private static final class GiveUp extends RuntimeException {
        // Preallocated and stackless (never leaves this class): giving up costs the fast path no allocation.
        @SuppressWarnings("StaticAssignmentOfThrowable")
        static final GiveUp INSTANCE = new GiveUp();

        private GiveUp() {
            super(null, null, false, false);
        }
    }
}
