package io.conductor.nativestore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The mooncake.json reader: exact values, strictness, and a mutation fuzz loop (parse or documented error). */
class MooncakeJsonFileTest {
    private static final String SAMPLE = """
            {"local_hostname": "localhost", "metadata_server": "http://127.0.0.1:8080/metadata",
             "master_server_address": "127.0.0.1:50051", "protocol": "rdma", "device_name": "",
             "global_segment_size": "4gb", "local_buffer_size": 0, "enable_offload": false,
             "ratio": 0.5, "nested": {"a": [1, -2, "x\\u0041\\n", null, true]}}
            """;

    @Test
    void shouldReadEveryJsonTypeWhenFileIsValid() {
        com.fasterxml.jackson.databind.node.ObjectNode m = MooncakeJsonFile.parseObject(SAMPLE, "f");

        assertEquals("localhost", m.get("local_hostname").textValue());
        assertEquals(0L, m.get("local_buffer_size").longValue());
        assertEquals(Boolean.FALSE, m.get("enable_offload").booleanValue());
        assertEquals(new java.math.BigDecimal("0.5"), m.get("ratio").decimalValue());
        assertEquals(MooncakeJsonFile.tree(Map.of("a", Arrays.asList(1, -2, "xA\n", null, true))), m.get("nested"));
    }

    @Test
    void shouldRejectMalformedTextWithOffset() {
        for (String bad : List.of("", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":1,\"a\":2}",
                "{\"a\":tru}", "{\"a\":\"\\q\"}", "{\"a\":01x}", "[".repeat(10) + "{}")) {
            NativeStoreConfigException e = assertThrows(NativeStoreConfigException.class,
                    () -> MooncakeJsonFile.parseObject(bad, "f"), bad);

            assertEquals("f", e.field());
        }
    }

    @Test
    void shouldRefuseDeepNestingWithoutStackOverflow() {
        String deep = "{\"a\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}";

        assertThrows(NativeStoreConfigException.class, () -> MooncakeJsonFile.parseObject(deep, "f"));
    }

    @Test
    void shouldEitherParseOrThrowConfigExceptionWhenInputIsMutated() {
        Random random = new Random(20261122);
        char[] alphabet = "{}[]\":,\\ -0123456789.eEtruefalsnl\u0000\u00e9".toCharArray();
        for (int i = 0; i < 20_000; i++) {
            StringBuilder sb = new StringBuilder(SAMPLE);
            int edits = 1 + random.nextInt(4);
            for (int e = 0; e < edits; e++) {
                int at = random.nextInt(sb.length());
                switch (random.nextInt(3)) {
                    case 0 -> sb.deleteCharAt(at);
                    case 1 -> sb.insert(at, alphabet[random.nextInt(alphabet.length)]);
                    default -> sb.setCharAt(at, alphabet[random.nextInt(alphabet.length)]);
                }
            }
            try {
                MooncakeJsonFile.parseObject(sb.toString(), "f");
            } catch (NativeStoreConfigException expected) {
                // the documented failure; anything else fails the test
            }
        }
    }
}
