package io.conductor.example.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Aggregation and rendering of the demo's results, and the workload's determinism. */
class PolicySummaryTest {

    @Test
    void shouldAggregateHitRateAndNearestRankPercentilesWhenSomeRequestsFail() {
        List<RequestRecord> records = List.of(
            new RequestRecord("cache_aware", "prefill-0", "longest_prefix", 100, 80, 64, 10, true),
            new RequestRecord("cache_aware", "prefill-1", "longest_prefix", 100, 0, 0, 30, true),
            new RequestRecord("cache_aware", "prefill-0", "longest_prefix", 200, 160, 160, 20, true),
            new RequestRecord("cache_aware", "?", "error", 0, 0, 0, -1, false));

        PolicySummary s = PolicySummary.of("cache_aware", records);

        assertEquals(4, s.requests());
        assertEquals(1, s.failures());
        assertEquals(400, s.promptTokens());
        assertEquals(240, s.predictedTokens());
        assertEquals(224, s.cachedTokens());
        assertEquals(0.56, s.hitRate(), 1e-9);
        assertEquals(20, s.ttftP50Millis());
        assertEquals(30, s.ttftP99Millis());
        assertArrayEquals(new long[] {2, 300, 224}, s.perInstance().get("prefill-0"));
        String table = PolicySummary.table(List.of(s));
        assertTrue(table.contains("56.0%"), table);
        assertTrue(table.contains("prefill-1"), table);
    }

    @Test
    void shouldBuildTheSameWorkloadEveryTime() {
        DemoWorkload a = DemoWorkload.standard(3, 12, 4, 12);
        DemoWorkload b = DemoWorkload.standard(3, 12, 4, 12);

        assertEquals(a, b);
        assertEquals(12 * 4 + 12, a.totalRequests());
        long chatsOnFirstSystemPrompt = a.sessions().stream()
            .filter(s -> s instanceof DemoWorkload.Chat c && c.systemPrompt().contains("number 0."))
            .count();
        assertEquals(4, chatsOnFirstSystemPrompt);
    }
}
