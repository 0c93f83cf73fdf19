package io.conductor.example.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The replay's HTTP calls to the conductor, in JSON: register an engine, {@code /route}, {@code /feedback}, and a
 * barrier that waits until a block's presence on an instance is what its engine last published. Not thread-safe
 * (the replay is single-threaded).
 */
final class ConductorHttp {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    /**
     * A {@code /route} answer.
     *
     * @param instanceId the chosen instance
     * @param longestMatched predicted cached tokens there
     * @param routeId the reservation id, 0 for none
     * @param ttftSeconds the estimated TTFT, or NaN when the policy gives none
     */
    record Routed(String instanceId, long longestMatched, long routeId, double ttftSeconds) {
    }

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
    private final URI base;
    private final String model;
    private final int blockSize;

    ConductorHttp(URI base, String model, int blockSize) {
        this.base = base;
        this.model = model;
        this.blockSize = blockSize;
    }

    private JsonNode post(String path, String body) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(base.resolve(path)).timeout(TIMEOUT)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) {
            throw new IOException(path + " answered " + r.statusCode() + ": "
                    + new String(r.body(), java.nio.charset.StandardCharsets.UTF_8));
        }
        return JSON.readTree(r.body());
    }

    void register(String instanceId, String endpoint) throws IOException, InterruptedException {
        ObjectNode b = JSON.createObjectNode();
        b.put("endpoint", endpoint).put("type", "vLLM").put("modelname", model).put("instance_id", instanceId)
                .put("block_size", blockSize).put("dp_rank", 0);
        b.putObject("hash_profile").put("strategy", "vllm_v1").put("algorithm", "sha256_cbor")
                .put("python_hash_seed", "0").put("index_projection", "low64_be");
        post("/register", b.toString());
    }

    Routed route(int[] tokens, String policy, long clockMillis) throws IOException, InterruptedException {
        StringBuilder sb = new StringBuilder(tokens.length * 6 + 100);
        sb.append("{\"model\":\"").append(model).append("\",\"block_size\":").append(blockSize)
                .append(",\"clock_ms\":").append(clockMillis)
                .append(",\"policy\":\"").append(policy).append("\",\"token_ids\":[");
        for (int i = 0; i < tokens.length; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(tokens[i]);
        }
        sb.append("]}");
        JsonNode r = post("/route", sb.toString());
        JsonNode ttft = r.path("estimate").path("ttft_us");
        return new Routed(r.path("instance_id").asText(), r.path("longest_matched").asLong(),
                r.path("route_id").asLong(0), ttft.isNumber() ? ttft.asLong() / 1e6 : Double.NaN);
    }

    void feedback(String instanceId, long predicted, long cached, long routeId, long promptTokens, double ttftSeconds,
            double prefillSeconds, long clockMillis) throws IOException, InterruptedException {
        ObjectNode b = JSON.createObjectNode();
        b.put("clock_ms", clockMillis).put("instance_id", instanceId).put("predicted_tokens", predicted).put("cached_tokens", cached)
                .put("prompt_tokens", promptTokens).put("ttft_ms", ttftSeconds * 1000)
                .put("prefill_ms", prefillSeconds * 1000);
        if (routeId > 0) {
            b.put("route_id", routeId);
        }
        post("/feedback", b.toString());
    }

    /** Waits up to 300 ms for {@code hash} to show on {@code instanceId}; throws when it does not. */
    void awaitBlockBriefly(String instanceId, long hash) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 300_000_000L;
        String body = "{\"model\":\"" + model + "\",\"block_size\":" + blockSize + ",\"instance_id\":\""
                + instanceId + "\",\"seq_hashes\":[" + Long.toUnsignedString(hash) + "]}";
        while (post("/query_by_hash", body).path("instances").path(instanceId).path("longest_matched").asLong() == 0) {
            if (System.nanoTime() > deadline) {
                throw new IOException(instanceId + "'s subscription is not live yet");
            }
            Thread.sleep(5);
        }
    }

    /** Waits until the conductor shows {@code hash} on {@code instanceId} ({@code present}) or not. */
    void awaitBlock(String instanceId, long hash, boolean present) throws IOException, InterruptedException {
        String body = "{\"model\":\"" + model + "\",\"block_size\":" + blockSize + ",\"instance_id\":\""
                + instanceId + "\",\"seq_hashes\":[" + Long.toUnsignedString(hash) + "]}";
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            JsonNode r = post("/query_by_hash", body);
            boolean has = r.path("instances").path(instanceId).path("longest_matched").asLong() > 0;
            if (has == present) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the conductor did not apply " + instanceId + "'s events in time");
            }
            Thread.sleep(1);
        }
    }
}
