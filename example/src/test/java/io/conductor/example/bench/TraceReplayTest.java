package io.conductor.example.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The replay's building blocks without a conductor: prompts reproduce the trace's sharing, and replays of the
 * simulation-only policies are deterministic for a seed and ordered as the oracles' definitions say.
 */
class TraceReplayTest {
    private static final String TRACE = """
            {"timestamp": 0, "input_length": 1100, "hash_ids": [1, 2, 3]}
            {"timestamp": 10, "input_length": 1300, "hash_ids": [1, 2, 4]}
            {"timestamp": 20, "input_length": 600, "hash_ids": [5, 6]}
            {"timestamp": 30, "input_length": 1536, "hash_ids": [1, 2, 3]}
            {"timestamp": 40, "input_length": 1100, "hash_ids": [1, 2, 7]}
            {"timestamp": 50, "input_length": 700, "hash_ids": [5, 8]}
            {"timestamp": 60, "input_length": 2048, "hash_ids": [1, 2, 3, 9]}
            {"timestamp": 70, "input_length": 1100, "hash_ids": [1, 2, 10]}
            """;

    private static List<TraceRequest> trace(Path dir) throws Exception {
        Path f = dir.resolve("t.jsonl");
        Files.writeString(f, TRACE);
        return TraceRequest.read(f, Integer.MAX_VALUE);
    }

    @Test
    void shouldGiveEqualBlocksToEqualHashIdsAndEachRequestItsOwnPartialBlock(@TempDir Path dir) throws Exception {
        List<TraceRequest> t = trace(dir);
        int[] a = t.get(0).tokens(1, 0);
        int[] b = t.get(1).tokens(1, 1);
        int[] full = t.get(3).tokens(1, 3);

        assertArrayEquals(Arrays.copyOf(a, 1024), Arrays.copyOf(b, 1024), "hash ids 1, 2 shared");
        assertFalse(Arrays.equals(Arrays.copyOfRange(a, 1024, 1100), Arrays.copyOfRange(b, 1024, 1100)));
        // Request 3 has a complete block 3; request 0's block 3 is partial, so it is its own.
        assertFalse(Arrays.equals(Arrays.copyOfRange(a, 1024, 1100), Arrays.copyOfRange(full, 1024, 1100)));
        assertArrayEquals(a, t.get(0).tokens(1, 0), "same seed, same tokens");
        assertFalse(Arrays.equals(a, t.get(0).tokens(2, 0)), "another seed, other tokens");
    }

    @Test
    void shouldReplayTheSimulationOnlyPoliciesDeterministically(@TempDir Path dir) throws Exception {
        List<TraceRequest> t = trace(dir);
        TraceReplay.Fleet fleet = new TraceReplay.Fleet(2, 4096, 0.02, 1 / 20_000.0, 0.05, 1);
        for (TraceReplay.Policy p : List.of(TraceReplay.Policy.ROUND_ROBIN, TraceReplay.Policy.ORACLE_PREFIX,
                TraceReplay.Policy.ORACLE_TTFT)) {
            TraceReplay.Result first = new TraceReplay(fleet, p, null).run(t);
            TraceReplay.Result second = new TraceReplay(fleet, p, null).run(t);
            assertEquals(first, second, p.label);
            assertTrue(first.meanTtft() > 0 && first.p90Ttft() >= first.meanTtft() * 0.5, first.toString());
        }
        TraceReplay.Result rr = new TraceReplay(fleet, TraceReplay.Policy.ROUND_ROBIN, null).run(t);
        TraceReplay.Result prefix = new TraceReplay(fleet, TraceReplay.Policy.ORACLE_PREFIX, null).run(t);
        // Sending shared prefixes where they are cached beats taking turns, here by construction.
        assertTrue(prefix.hitRate() > rr.hitRate(), prefix + " vs " + rr);
    }
}
