package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static io.conductor.daemon.api.ApiTestServer.registration;
import static io.conductor.daemon.api.ContractAssertions.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.Tier;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code POST /query} and {@code POST /query_by_hash} against mooncake-api.md §3.4 and §5.3. */
class QueryContractTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);
    private static final List<Integer> PROMPT = new ArrayList<>();
    private static long[] hashes;
    private static ApiTestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = new ApiTestServer();
        for (int i = 0; i < 70; i++) {
            PROMPT.add(1000 + i);
        }
        int[] tokens = PROMPT.stream().mapToInt(Integer::intValue).toArray();
        assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                registration("inst-b", 0, "tcp://127.0.0.1:7101")).status());
        assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                registration("inst-a", 1, "tcp://127.0.0.1:7102")).status());
        assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                registration("inst-a", 0, "tcp://127.0.0.1:7103")).status());
        hashes = server.hashes(CONTEXT, tokens);
        // The spec's example: blocks 0-1 on GPU of inst-a rank 0, block 2 CPU only, block 3 disk only.
        server.storeGpu(CONTEXT, "inst-a", 0, hashes[0], hashes[1]);
        server.storePool(CONTEXT, Tier.CPU, hashes[2]);
        server.storePool(CONTEXT, Tier.DISK, hashes[3]);
        // inst-a rank 1 holds block 1 only: ranks are never concatenated, so it matches nothing on GPU.
        server.storeGpu(CONTEXT, "inst-a", 1, hashes[1]);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static Map<String, Object> expectedA() {
        return map("longest_matched", 64L, "dp", map("0", 32L, "1", 0L),
                "rank_matches", map("0", map("gpu", 32L, "cpu", 48L, "disk", 64L),
                        "1", map("gpu", 0L, "cpu", 0L, "disk", 0L)),
                "gpu", 32L, "cpu", 48L, "disk", 64L);
    }

    private static Map<String, Object> expectedB() {
        return map("longest_matched", 0L, "dp", map("0", 0L), "rank_matches",
                map("0", map("gpu", 0L, "cpu", 0L, "disk", 0L)), "gpu", 0L, "cpu", 0L, "disk", 0L);
    }

    private static byte[] bin(List<Integer> tokens) {
        ByteBuffer b = ByteBuffer.allocate(tokens.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
        tokens.forEach(b::putInt);
        return b.array();
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldWalkGpuThenCpuThenDiskWhenTiersFollowEachOther(WireFormat format) throws Exception {
        ApiTestServer.Response r = server.post("/query", format, map("model", "qwen", "block_size", 16,
                "token_ids", PROMPT));

        assertEquals(200, r.status());
        assertEquals(format.mediaType(), r.contentType());
        assertEquals(map("instances", map("inst-a", expectedA(), "inst-b", expectedB())), r.body());
        assertEquals(List.of("inst-a", "inst-b"), new ArrayList<>(((Map<?, ?>) r.map().get("instances")).keySet()));
    }

    @Test
    void shouldReadTokenIdsAsLittleEndianInt32WhenSentAsBin() throws Exception {
        ApiTestServer.Response r = server.post("/query", WireFormat.MSGPACK, map("model", "qwen", "block_size", 16,
                "token_ids", bin(PROMPT), "instance_id", "inst-a"));

        assertEquals(map("instances", map("inst-a", expectedA())), r.body());
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldAnswerEmptyInstancesWhenNothingCanMatch(WireFormat format) throws Exception {
        Map<String, Object> empty = map("instances", map());

        assertEquals(empty, server.post("/query", format, map("model", "other", "block_size", 16, "token_ids",
                PROMPT)).body());
        assertEquals(empty, server.post("/query", format, map("model", "qwen", "block_size", 32, "token_ids",
                PROMPT)).body());
        assertEquals(empty, server.post("/query", format, map("model", "qwen", "block_size", 16, "token_ids",
                PROMPT, "instance_id", "nobody")).body());
        assertEquals(empty, server.post("/query", format, map("model", "qwen", "block_size", 16, "token_ids",
                PROMPT, "tenant_id", "t2")).body());
    }

    @Test
    void shouldAnswerEmptyWhenTheLoraNameIsNotValidUtf8() throws Exception {
        // A raw msgpack str with invalid UTF-8 cannot be hashed: 200 with no instances, as the reference does.
        org.msgpack.core.MessageBufferPacker p = org.msgpack.core.MessagePack.newDefaultBufferPacker();
        p.packMapHeader(4);
        p.packString("model").packString("qwen").packString("block_size").packInt(16);
        p.packString("token_ids").packArrayHeader(0);
        p.packString("lora_name").packRawStringHeader(2);
        p.writePayload(new byte[] {(byte) 0xc3, (byte) 0x28});

        ApiTestServer.Response r = server.send("/query", "POST", "application/msgpack", p.toByteArray(), Map.of());

        assertEquals(200, r.status());
        assertEquals(map("instances", map()), r.body());
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldDefaultAndNormalizeOptionalFieldsWhenTheyAreEmptyOrNull(WireFormat format) throws Exception {
        ApiTestServer.Response r = server.post("/query", format, map("model", "qwen", "block_size", 16, "token_ids",
                PROMPT, "tenant_id", "", "lora_name", "", "cache_salt", null, "instance_id", "inst-a"));
        ApiTestServer.Response emptySalt = server.post("/query", format, map("model", "qwen", "block_size", 16,
                "token_ids", PROMPT, "cache_salt", "", "instance_id", "inst-a"));
        ApiTestServer.Response salted = server.post("/query", format, map("model", "qwen", "block_size", 16,
                "token_ids", PROMPT, "cache_salt", "s", "instance_id", "inst-a"));

        assertEquals(map("instances", map("inst-a", expectedA())), r.body());
        assertEquals(r.body(), emptySalt.body());
        // A salt changes block 0 and so every block: only the shared tiers cannot match either.
        assertEquals(0L, ((Map<?, ?>) ((Map<?, ?>) salted.map().get("instances")).get("inst-a")).get("gpu"));
    }

    static Stream<Arguments> invalidQueries() {
        List<Object> badElement = new ArrayList<>(List.of(1, 2, "x", 4));
        List<Object> bigElement = new ArrayList<>(List.of(1, 2147483648L));
        return Stream.of(
                Arguments.of(map("block_size", 16, "token_ids", List.of()), "model is required", "missing", "model",
                        -1),
                Arguments.of(map("model", 1, "block_size", 16, "token_ids", List.of()), "model must be a string",
                        "invalid_type", "model", -1),
                Arguments.of(map("model", "", "block_size", 16, "token_ids", List.of()), "model must not be empty",
                        "invalid_value", "model", -1),
                Arguments.of(map("model", "m", "token_ids", List.of()), "block_size is required", "missing",
                        "block_size", -1),
                Arguments.of(map("model", "m", "block_size", 0, "token_ids", List.of()),
                        "block_size must be a positive integer", "out_of_range", "block_size", -1),
                Arguments.of(map("model", "m", "block_size", -3, "token_ids", List.of()),
                        "block_size must be a positive integer", "out_of_range", "block_size", -1),
                Arguments.of(map("model", "m", "block_size", new BigInteger("18446744073709551615"), "token_ids",
                        List.of()), "block_size must be a positive integer", "out_of_range", "block_size", -1),
                Arguments.of(map("model", "m", "block_size", 16.5, "token_ids", List.of()),
                        "block_size must be an integer", "invalid_type", "block_size", -1),
                Arguments.of(map("model", "m", "block_size", 16), "token_ids is required", "missing", "token_ids",
                        -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", "1 2"),
                        "token_ids must be a bin or an array", "invalid_type", "token_ids", -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", badElement),
                        "token_ids element must be an integer", "invalid_type", "token_ids", 2),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", bigElement),
                        "token_ids element is outside the int32 range", "out_of_range", "token_ids", 1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", List.of(), "tenant_id", null),
                        "tenant_id must be a string", "invalid_type", "tenant_id", -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", List.of(), "lora_name", 5),
                        "lora_name must be a string", "invalid_type", "lora_name", -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", List.of(), "cache_salt", 5),
                        "cache_salt must be a string or null", "invalid_type", "cache_salt", -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", List.of(), "instance_id", null),
                        "instance_id must be a string", "invalid_type", "instance_id", -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", List.of(), "lora_id", 1),
                        "unsupported request field: lora_id", "unknown_field", "lora_id", -1),
                Arguments.of(map("model", "m", "block_size", 16, "token_ids", List.of(), "python_hash_seed", "0"),
                        "unsupported request field: python_hash_seed", "unknown_field", "python_hash_seed", -1),
                // Scan order: an invalid value before an unknown key is reported first, and vice versa.
                Arguments.of(map("model", 7, "zzz", 1), "model must be a string", "invalid_type", "model", -1),
                Arguments.of(map("zzz", 1, "model", 7), "unsupported request field: zzz", "unknown_field", "zzz",
                        -1),
                // Missing keys after the scan, in the order model, block_size, token_ids.
                Arguments.of(map("token_ids", List.of()), "model is required", "missing", "model", -1),
                Arguments.of(map(), "model is required", "missing", "model", -1));
    }

    @ParameterizedTest
    @MethodSource("invalidQueries")
    void shouldRejectQueriesWithExactErrorsWhenAFieldIsInvalid(Map<String, Object> body, String error, String reason,
            String field, int index) throws Exception {
        for (WireFormat format : WireFormat.values()) {
            assertError(server.post("/query", format, body), 400, error, reason, field, index);
        }
    }

    @Test
    void shouldRejectBinTokensWhenTheLengthIsNotAMultipleOfFour() throws Exception {
        assertError(server.post("/query", WireFormat.MSGPACK, map("model", "m", "block_size", 16, "token_ids",
                new byte[7])), 400, "token_ids bin size must be a multiple of 4", "invalid_value", "token_ids");
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldLetALaterDuplicateKeyOverwriteAnEarlierOne(WireFormat format) throws Exception {
        // JSON maps cannot carry duplicates through Jackson's writer, so build the bytes by hand for both.
        byte[] body;
        if (format == WireFormat.JSON) {
            body = ("{\"model\":\"nope\",\"block_size\":16,\"token_ids\":" + PROMPT + ",\"model\":\"qwen\","
                    + "\"instance_id\":\"inst-a\"}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        } else {
            org.msgpack.core.MessageBufferPacker p = org.msgpack.core.MessagePack.newDefaultBufferPacker();
            p.packMapHeader(5).packString("model").packString("nope").packString("block_size").packInt(16);
            p.packString("token_ids").packArrayHeader(PROMPT.size());
            for (int t : PROMPT) {
                p.packInt(t);
            }
            p.packString("model").packString("qwen").packString("instance_id").packString("inst-a");
            body = p.toByteArray();
        }

        ApiTestServer.Response r = server.send("/query", "POST", format.mediaType(), body, Map.of());

        assertEquals(map("instances", map("inst-a", expectedA())), r.body());
    }

    @ParameterizedTest
    @EnumSource(WireFormat.class)
    void shouldAnswerLikeQueryWhenHashesArePrecomputed(WireFormat format) throws Exception {
        List<Object> seq = new ArrayList<>();
        for (long h : hashes) {
            seq.add(h < 0 ? new BigInteger(Long.toUnsignedString(h)) : (Object) h);
        }

        ApiTestServer.Response bySeq = server.post("/query_by_hash", format, map("model", "qwen", "block_size", 16,
                "seq_hashes", seq));
        ApiTestServer.Response byBlockHash = server.post("/query_by_hash", format, map("model", "qwen",
                "block_size", 16, "block_hash", seq.subList(0, 2), "instance_id", "inst-a"));

        assertEquals(map("instances", map("inst-a", expectedA(), "inst-b", expectedB())), bySeq.body());
        assertEquals(32L, ((Map<?, ?>) ((Map<?, ?>) byBlockHash.map().get("instances")).get("inst-a"))
                .get("longest_matched"));
        assertError(server.post("/query_by_hash", format, map("model", "qwen", "block_size", 16)), 400,
                "seq_hashes is required", "missing", "seq_hashes");
        assertError(server.post("/query_by_hash", format, map("model", "qwen", "block_size", 16, "seq_hashes",
                List.of(1, "x"))), 400, "seq_hashes element must be an integer", "invalid_type", "seq_hashes", 1);
        assertError(server.post("/query_by_hash", format, map("model", "qwen", "block_size", 16, "token_ids",
                List.of())), 400, "unsupported request field: token_ids", "unknown_field", "token_ids");
    }
}
