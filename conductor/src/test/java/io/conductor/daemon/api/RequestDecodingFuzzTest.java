package io.conductor.daemon.api;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.HexFormat;

/**
 * Coverage-guided fuzzing (Jazzer) of the HTTP request decoders: the msgpack and JSON body decoders
 * ({@link RequestDecoder}, with {@link JsonFastPath} checked against Jackson) and every request reader on top
 * ({@link QueryRequestReader}, {@link RegisterRequestReader}, {@link OtherRequestReaders}). Bad input must end in
 * an {@link ApiException} with a 4xx status; anything else (another exception, a 5xx, an out-of-memory error under
 * the fuzz JVM's small heap) fails the target.
 *
 * <p>Without {@code JAZZER_FUZZ} these replay the committed corpus as regression tests; with it (the {@code fuzz}
 * Maven profile, on in CI) each target is fuzzed for its {@code maxDuration}.
 */
class RequestDecodingFuzzTest {

    private static final ApiLimits LIMITS = ApiLimits.defaults();

    private static void readAll(Value.MapValue body) {
        accept(() -> QueryRequestReader.readQuery(body, QueryRequestReader.Kind.QUERY, LIMITS));
        accept(() -> QueryRequestReader.readQuery(body, QueryRequestReader.Kind.QUERY_BY_HASH, LIMITS));
        accept(() -> QueryRequestReader.readRoute(body, LIMITS));
        accept(() -> RegisterRequestReader.readRegister(body, LIMITS));
        accept(() -> OtherRequestReaders.readCache(body, LIMITS));
        accept(() -> OtherRequestReaders.readFeedback(body, LIMITS));
    }

    private static void accept(Runnable read) {
        try {
            read.run();
        } catch (ApiException e) {
            requireClientError(e);
        }
    }

    private static void requireClientError(ApiException e) {
        if (e.status() < 400 || e.status() >= 500) {
            throw new AssertionError("a bad request answered " + e.status() + ": " + e.getMessage(), e);
        }
    }

    /** A structural rendering (records holding arrays compare by identity). */
    private static String canonical(Value v) {
        final StringBuilder out = new StringBuilder();
        render(v, out);
        return out.toString();
    }

    private static void render(Value v, StringBuilder out) {
        switch (v) {
            case Value.IntArray a -> {
                out.append('[');
                for (final long x : a.values()) {
                    out.append("int:").append(x).append(',');
                }
                out.append(']');
            }
            case Value.Array a -> {
                out.append('[');
                for (final Value e : a.elements()) {
                    render(e, out);
                    out.append(',');
                }
                out.append(']');
            }
            case Value.MapValue m -> {
                out.append('{');
                for (final Value.Entry e : m.entries()) {
                    render(e.key(), out);
                    out.append(':');
                    render(e.value(), out);
                    out.append(',');
                }
                out.append('}');
            }
            case Value.Bin b -> out.append("bin:").append(HexFormat.of().formatHex(b.source(), b.offset(),
                    b.offset() + b.length()));
            case Value.Int i -> out.append("int:").append(i.value());
            default -> out.append(v);
        }
    }

    @FuzzTest(maxDuration = "20s")
    void msgpackRequests(byte[] body) {
        final Value.MapValue map;
        try {
            map = RequestDecoder.decodeRootMap(WireFormat.MSGPACK, body);
        } catch (ApiException e) {
            requireClientError(e);
            return;
        }
        readAll(map);
    }

    @FuzzTest(maxDuration = "20s")
    void jsonRequests(byte[] body) {
        // The fast path must agree with Jackson wherever it answers (it declines what it does not handle).
        final Value fast = JsonFastPath.decode(body);
        if (fast != null) {
            final Value full;
            try {
                full = RequestDecoder.decodeJsonWithJackson(body);
            } catch (ApiException e) {
                throw new AssertionError("the fast path accepted a body Jackson rejects", e);
            }
            final String a = canonical(fast);
            final String b = canonical(full);
            if (!a.equals(b)) {
                throw new AssertionError("fast path " + a + " != Jackson " + b);
            }
        }
        final Value.MapValue map;
        try {
            map = RequestDecoder.decodeRootMap(WireFormat.JSON, body);
        } catch (ApiException e) {
            requireClientError(e);
            return;
        }
        readAll(map);
    }
}
