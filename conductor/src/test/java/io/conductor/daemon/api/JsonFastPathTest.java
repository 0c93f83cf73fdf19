package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The JSON fast path either gives up or yields exactly the tree Jackson's decoder yields: fixed edge cases, and
 * random mutations of typical bodies compared against Jackson.
 */
class JsonFastPathTest {
    private static final List<String> SAMPLES = List.of(
            "{\"model\":\"m\",\"block_size\":16,\"token_ids\":[1,2,3,-4,70000,0,-0]}",
            "{\"a\":[],\"b\":{},\"c\":[1,\"x\",true,false,null,[2,3],{\"d\":-7}],\"e\":\"\"}",
            " \t\r\n{ \"k\" : [ 1 , 2 ] , \"k\" : null } trailing",
            "{\"n\":123456789012345678,\"m\":-123456789012345678}",
            "{\"t\":[0,1,12,123,1234,12345,123456,1234567,12345678,123456789,1234567890,-5,-1234567,98765432 ,7]}",
            "{\"t\":[99999999,10000000,9999999,1000000,100000000]}",
            "{\"deep\":[[[[[[[[[[1]]]]]]]]]]}", "{\"a\":1}/**/ trailing bytes are ignored",
            "{\"s\":\"~ !#$%&'()*+,-./:;<=>?@[]^_`{|}\u007f\"}");

    /** Bodies outside the subset: the fast path must leave them to Jackson. */
    private static final List<String> OUTSIDE = List.of(
            "{\"s\":\"a\\\"b\"}", "{\"s\":\"h\u00e9\"}", "{\"f\":1.5}", "{\"f\":1e3}", "{\"z\":01}",
            "{\"big\":1234567890123456789}", "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":tru}", "{\"a\":truex}",
            "{\"a\":1", "", "   ", "\ufeff{}", "{'a':1}", "{\"a\":-}", "{\"a\":1a}",
            "{\"a\":[1]x}", "{a:1}", "{\"a\":\"x\ty\"}", "5", "[1]", "\"s\"");

    private static Value jackson(byte[] body) {
        return RequestDecoder.decodeJsonWithJackson(body);
    }

    /** A canonical text of a tree (records compare arrays by identity, so compare this instead). */
    private static String describe(Value v) {
        return switch (v) {
            case Value.IntArray a -> "I" + Arrays.toString(a.values());
            case Value.Array a -> "A" + a.elements().stream().map(JsonFastPathTest::describe).toList();
            case Value.MapValue m -> "M" + m.entries().stream()
                    .map(e -> describe(e.key()) + "=" + describe(e.value())).toList();
            case Value.Bin b -> "B" + Arrays.toString(Arrays.copyOfRange(b.source(), b.offset(), b.offset() + b.length()));
            default -> v.getClass().getSimpleName() + ":" + v;
        };
    }

    private static void assertSameAsJackson(byte[] body) {
        Value fast = JsonFastPath.decode(body);
        if (fast == null) {
            return;
        }
        Value slow;
        try {
            slow = jackson(body);
        } catch (ApiException e) {
            throw new AssertionError("fast path accepted what Jackson rejects: "
                    + new String(body, StandardCharsets.ISO_8859_1), e);
        }
        assertEquals(describe(slow), describe(fast), () -> new String(body, StandardCharsets.ISO_8859_1));
    }

    @Test
    void shouldYieldJacksonsTreeWhenBodyIsInTheSubset() {
        for (String sample : SAMPLES) {
            byte[] body = sample.getBytes(StandardCharsets.UTF_8);
            assertNotNull(JsonFastPath.decode(body), sample);
            assertSameAsJackson(body);
        }
    }

    @Test
    void shouldGiveUpWhenBodyIsOutsideTheSubset() {
        for (String sample : OUTSIDE) {
            assertNull(JsonFastPath.decode(sample.getBytes(StandardCharsets.UTF_8)), sample);
        }
        String tooDeep = "[".repeat(RequestDecoder.MAX_DEPTH + 1) + "]".repeat(RequestDecoder.MAX_DEPTH + 1);
        assertNull(JsonFastPath.decode(("{\"a\":" + tooDeep + "}").getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void shouldAgreeWithJacksonWhenBodiesAreMutated() {
        Random random = new Random(20261122);
        byte[] alphabet = "{}[]\",:-0123456789 \n.eEtrufalsn\\xA\u007f".getBytes(StandardCharsets.ISO_8859_1);
        int accepted = 0;
        for (int i = 0; i < 50_000; i++) {
            byte[] body = SAMPLES.get(random.nextInt(SAMPLES.size())).getBytes(StandardCharsets.UTF_8);
            int edits = 1 + random.nextInt(3);
            for (int k = 0; k < edits; k++) {
                int at = random.nextInt(body.length);
                switch (random.nextInt(3)) {
                    case 0 -> body[at] = alphabet[random.nextInt(alphabet.length)];
                    case 1 -> body = Arrays.copyOf(body, at);
                    default -> {
                        byte[] longer = new byte[body.length + 1];
                        System.arraycopy(body, 0, longer, 0, at);
                        longer[at] = alphabet[random.nextInt(alphabet.length)];
                        System.arraycopy(body, at, longer, at + 1, body.length - at);
                        body = longer;
                    }
                }
                if (body.length == 0) {
                    break;
                }
            }
            assertSameAsJackson(body);
            accepted += JsonFastPath.decode(body) != null ? 1 : 0;
        }
        // The mutations must exercise acceptance too, not only giving up.
        assertNotNull(accepted > 1000 ? "" : null, "fast path accepted only " + accepted + " mutated bodies");
    }
}
