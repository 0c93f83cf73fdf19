package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Every reader of untrusted bodies either accepts its input or throws the documented {@link ApiException} with
 * status 400: random bytes, and valid bodies with random bytes flipped, truncated or appended, in both formats.
 */
class RequestReadersFuzzTest {
    private static final ApiLimits LIMITS = new ApiLimits(1 << 20, 4096, 256, null);

    private static void readAll(WireFormat format, byte[] body) {
        Value.MapValue map;
        try {
            map = RequestDecoder.decodeRootMap(format, body);
        } catch (ApiException e) {
            assertEquals(400, e.status(), e.getMessage());
            return;
        }
        for (Runnable reader : List.<Runnable>of(
                () -> RegisterRequestReader.readRegister(map, LIMITS),
                () -> RegisterRequestReader.readUnregister(map, LIMITS),
                () -> QueryRequestReader.readQuery(map, QueryRequestReader.Kind.QUERY, LIMITS),
                () -> QueryRequestReader.readQuery(map, QueryRequestReader.Kind.QUERY_BY_HASH, LIMITS),
                () -> QueryRequestReader.readRoute(map, LIMITS),
                () -> OtherRequestReaders.readCache(map, LIMITS),
                () -> OtherRequestReaders.readFeedback(map, LIMITS))) {
            try {
                reader.run();
            } catch (ApiException e) {
                assertEquals(400, e.status(), e.getMessage());
            }
        }
    }

    @Test
    void shouldAcceptOrRejectWith400WhenBodiesAreRandomOrMutated() throws Exception {
        Random random = new Random(20261122);
        Map<String, Object> registration = ApiTestServer.registration("fuzz", 1, "tcp://127.0.0.1:1");
        Map<String, Object> query = ApiTestServer.map("model", "m", "block_size", 16, "token_ids",
                List.of(1, 2, 3, -4, 70000), "cache_salt", "s", "instance_id", "i");
        Map<String, Object> cache = ApiTestServer.map("token_ids", List.of(1, 2), "instances", List.of("a"),
                "model_name", "m", "lora_id", -1);
        for (WireFormat format : WireFormat.values()) {
            List<byte[]> seeds = List.of(ApiTestServer.encode(format, registration),
                    ApiTestServer.encode(format, query), ApiTestServer.encode(format, cache));
            for (int i = 0; i < 20_000; i++) {
                byte[] body;
                if (i % 4 == 0) {
                    body = new byte[random.nextInt(48)];
                    random.nextBytes(body);
                } else {
                    byte[] seed = seeds.get(random.nextInt(seeds.size()));
                    int length = i % 4 == 1 ? random.nextInt(seed.length + 1) : seed.length + random.nextInt(3);
                    body = java.util.Arrays.copyOf(seed, length);
                    for (int flips = random.nextInt(4); flips > 0 && body.length > 0; flips--) {
                        body[random.nextInt(body.length)] = (byte) random.nextInt(256);
                    }
                }

                readAll(format, body);
            }
        }
    }
}
