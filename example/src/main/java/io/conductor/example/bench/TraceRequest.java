package io.conductor.example.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One request of a Mooncake-format trace: arrival in milliseconds, prompt length, and one prefix-hash id per
 * 512-token block (the last block may be partial). Immutable.
 *
 * @param timestampMillis arrival, milliseconds from the trace's start
 * @param inputLength prompt tokens
 * @param hashIds one id per 512-token block of the prompt
 */
record TraceRequest(long timestampMillis, int inputLength, int[] hashIds) {
    /** Tokens per trace block. */
    static final int TRACE_BLOCK = 512;
    /** Token ids are drawn from 1..VOCAB-1. */
    private static final int VOCAB = 32_000;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Reads a trace, one JSON object a line.
     *
     * @param file the trace
     * @param limit read at most this many requests
     * @return the requests in file order
     * @throws IOException if the file cannot be read or a line is not a trace record
     */
    static List<TraceRequest> read(Path file, int limit) throws IOException {
        List<TraceRequest> out = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file)) {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null && out.size() < limit) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode o = JSON.readTree(line);
                JsonNode ids = o.path("hash_ids");
                int length = o.path("input_length").asInt(-1);
                if (!o.path("timestamp").canConvertToLong() || length <= 0 || !ids.isArray()
                        || ids.size() != (length + TRACE_BLOCK - 1) / TRACE_BLOCK) {
                    throw new IOException(file + " line " + n + ": expected timestamp, input_length > 0 and one "
                            + "hash id per 512 tokens");
                }
                int[] hashIds = new int[ids.size()];
                for (int i = 0; i < hashIds.length; i++) {
                    hashIds[i] = ids.get(i).asInt();
                }
                out.add(new TraceRequest(o.path("timestamp").asLong(), length, hashIds));
            }
        }
        return out;
    }

    /**
     * Builds the prompt's tokens: each complete 512-token block from a PRNG seeded by its hash id alone (so equal
     * ids give equal blocks), the partial last block from one seeded by the request, so it is the request's own.
     *
     * @param seed the run's seed
     * @param requestIndex the request's position in the trace
     * @return the tokens
     */
    int[] tokens(long seed, int requestIndex) {
        int[] tokens = new int[inputLength];
        for (int b = 0; b < hashIds.length; b++) {
            int from = b * TRACE_BLOCK;
            int to = Math.min(inputLength, from + TRACE_BLOCK);
            boolean partial = to - from < TRACE_BLOCK;
            SplittableRandom rng = new SplittableRandom(partial ? seed * 1_000_003L - requestIndex - 1
                    : seed * 1_000_003L + hashIds[b] * 7_919L + 17);
            for (int t = from; t < to; t++) {
                tokens[t] = 1 + rng.nextInt(VOCAB - 1);
            }
        }
        return tokens;
    }
}
