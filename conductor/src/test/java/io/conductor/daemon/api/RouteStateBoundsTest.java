package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 point 8: {@code /route} kept a decayed count for every candidate id it ever picked, so 21,033 calls each
 * naming a new 4 KB id grew the heap until the daemon died. The per-id state is now bounded and expires.
 */
class RouteStateBoundsTest {
    private static String id(int i) {
        return ("candidate-" + i + "-").repeat(400).substring(0, 4000);
    }

    @Test
    void shouldKeepAtMostTheCapWhenEveryCallNamesANewCandidate() {
        RoutePolicy policy = new RoutePolicy();
        for (int i = 0; i < 21_033; i++) {
            RoutePolicy.Decision d = policy.choose(QueryResult.EMPTY, List.of(id(i)), null);
            assertNotNull(d);
            assertTrue(policy.trackedIds() <= RoutePolicy.MAX_TRACKED_IDS + 1, "after " + i + ": "
                    + policy.trackedIds());
        }
        assertTrue(policy.trackedIds() <= RoutePolicy.MAX_TRACKED_IDS);
    }

    @Test
    void shouldKeepAtMostTheCapOverHttp() throws Exception {
        try (ApiTestServer server = new ApiTestServer()) {
            for (int i = 0; i < 3 * RoutePolicy.MAX_TRACKED_IDS; i++) {
                ApiTestServer.Response r = server.post("/route", WireFormat.MSGPACK, ApiTestServer.map("model", "m",
                        "block_size", 16, "token_ids", List.of(1, 2, 3), "candidates", List.of(id(i))));
                assertEquals(200, r.status(), r.body().toString());
            }
            // The routes' policy is private to the server; the same type with the same cap is proved above, and
            // here the server must simply still answer.
            assertEquals(200, server.post("/route", WireFormat.JSON, ApiTestServer.map("model", "m",
                    "block_size", 16, "token_ids", List.of(1), "candidates", List.of("a"))).status());
        }
    }

    @Test
    void shouldExpireUntouchedIdsAndEvictTheLeastRecentlyUsedPastTheCap() {
        AtomicLong now = new AtomicLong();
        BoundedExpiringMap<Object> map = new BoundedExpiringMap<>(8, 1_000, now::get);
        Object a = map.computeIfAbsent("a", k -> new Object());
        assertSame(a, map.computeIfAbsent("a", k -> new Object()));
        now.set(1_001);
        assertNull(map.get("a"), "expired");
        for (int i = 0; i < 100; i++) {
            now.incrementAndGet();
            map.computeIfAbsent("id" + i, k -> new Object());
            assertTrue(map.size() <= 8, "size " + map.size());
        }
        assertNotNull(map.get("id99"), "the most recent stays");
        assertNull(map.get("id0"), "the least recent went");
    }
}
