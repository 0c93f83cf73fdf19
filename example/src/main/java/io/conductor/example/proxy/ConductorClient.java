package io.conductor.example.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The proxy's view of the conductor's JSON API: {@code POST /route} for the best prefill instance, {@code POST
 * /query} (filtered to one instance) for the best DP rank inside it, and {@code POST /feedback} to report the
 * engine's actual cached tokens. Every call has a hard timeout; failures come back as {@link Unavailable} values
 * with a short reason, never as exceptions, because the proxy must keep serving without the conductor.
 *
 * <p>Thread-safe: the underlying {@link HttpClient} is shared by all request threads.
 */
public final class ConductorClient {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final Duration timeout;
    private final HttpClient http;

    /** Outcome of a conductor call. */
    public sealed interface Outcome {
    }

    /**
     * The conductor picked an instance.
     *
     * @param instanceId chosen instance
     * @param longestMatched predicted cached tokens on it
     * @param reason the conductor's reason (e.g. longest prefix, or its own round robin when nothing hits)
     * @param candidateMatches every candidate's {@code longest_matched}, by instance id
     */
    public record Routed(String instanceId, long longestMatched, String reason, Map<String, Long> candidateMatches)
        implements Outcome {
    }

    /**
     * The conductor could not answer.
     *
     * @param reason why: {@code timeout}, {@code unreachable}, {@code http_<status>}, {@code bad_response}
     * @param detail a human-readable detail for the log
     */
    public record Unavailable(String reason, String detail) implements Outcome {
    }

    /**
     * Creates a client.
     *
     * @param base conductor base URL
     * @param timeout per-call timeout
     * @param http shared HTTP client
     */
    public ConductorClient(URI base, Duration timeout, HttpClient http) {
        this.base = base;
        this.timeout = timeout;
        this.http = http;
    }

    /**
     * Asks {@code /route} for the best of {@code candidates}.
     *
     * @param model model name of the registered context
     * @param blockSize registered block size
     * @param tenantId tenant
     * @param tokens prompt token ids
     * @param candidates instance ids to choose from
     * @param loraName LoRA name, or {@code null}
     * @param cacheSalt cache salt, or {@code null}
     * @return the decision or why there is none
     */
    public Outcome route(String model, int blockSize, String tenantId, int[] tokens, List<String> candidates,
                         @Nullable String loraName, @Nullable String cacheSalt) {
        ObjectNode body = queryBody(model, blockSize, tenantId, tokens, loraName, cacheSalt);
        ArrayNode c = body.putArray("candidates");
        candidates.forEach(c::add);
        Object answer = post("/route", body);
        if (answer instanceof Unavailable u) {
            return u;
        }
        JsonNode n = (JsonNode) answer;
        JsonNode id = n.get("instance_id");
        if (id == null || !id.isTextual() || id.asText().isEmpty()) {
            return new Unavailable("bad_response", "no instance_id in /route answer: " + abbreviate(n.toString()));
        }
        Map<String, Long> matches = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.path("candidates").fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            matches.put(e.getKey(), e.getValue().path("longest_matched").asLong(0));
        }
        return new Routed(id.asText(), n.path("longest_matched").asLong(0), n.path("reason").asText(""),
            Map.copyOf(matches));
    }

    /**
     * Returns the DP rank of {@code instanceId} holding the longest GPU prefix, from {@code /query}'s {@code dp}.
     *
     * @param model model name
     * @param blockSize block size
     * @param tenantId tenant
     * @param tokens prompt token ids
     * @param instanceId the instance
     * @param loraName LoRA name, or {@code null}
     * @param cacheSalt cache salt, or {@code null}
     * @return the best rank, or {@code -1} if unknown or nothing hits
     */
    public int bestRank(String model, int blockSize, String tenantId, int[] tokens, String instanceId,
                        @Nullable String loraName, @Nullable String cacheSalt) {
        ObjectNode body = queryBody(model, blockSize, tenantId, tokens, loraName, cacheSalt);
        body.put("instance_id", instanceId);
        Object answer = post("/query", body);
        if (!(answer instanceof JsonNode n)) {
            return -1;
        }
        JsonNode dp = n.path("instances").path(instanceId).path("dp");
        int best = -1;
        long bestTokens = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = dp.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            long t = e.getValue().asLong(0);
            if (t > bestTokens) {
                bestTokens = t;
                try {
                    best = Integer.parseInt(e.getKey());
                } catch (NumberFormatException ex) {
                    best = -1;
                }
            }
        }
        return best;
    }

    /**
     * Reports the engine's actual cached tokens for a routed request; fire and forget.
     *
     * @param instanceId the prefill instance
     * @param predicted tokens the conductor predicted
     * @param cached tokens the engine reported in {@code usage.prompt_tokens_details.cached_tokens}
     */
    public void feedback(String instanceId, long predicted, long cached) {
        ObjectNode body = JSON.createObjectNode();
        body.put("instance_id", instanceId);
        body.put("predicted_tokens", predicted);
        body.put("cached_tokens", cached);
        HttpRequest req = request("/feedback", body);
        http.sendAsync(req, HttpResponse.BodyHandlers.discarding());
    }

    private static ObjectNode queryBody(String model, int blockSize, String tenantId, int[] tokens,
                                        @Nullable String loraName, @Nullable String cacheSalt) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        body.put("block_size", blockSize);
        body.put("tenant_id", tenantId);
        if (loraName != null) {
            body.put("lora_name", loraName);
        }
        if (cacheSalt != null) {
            body.put("cache_salt", cacheSalt);
        }
        ArrayNode t = body.putArray("token_ids");
        for (int id : tokens) {
            t.add(id);
        }
        return body;
    }

    private HttpRequest request(String path, ObjectNode body) {
        return HttpRequest.newBuilder(base.resolve(path)).timeout(timeout)
            .header("Content-Type", "application/json").header("Accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
    }

    /** Returns the parsed JSON answer or an {@link Unavailable}. */
    private Object post(String path, ObjectNode body) {
        try {
            HttpResponse<String> r = http.send(request(path, body), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return new Unavailable("http_" + r.statusCode(), path + " answered " + r.statusCode() + ": "
                    + abbreviate(r.body()));
            }
            JsonNode n = JSON.readTree(r.body());
            if (n == null || !n.isObject()) {
                return new Unavailable("bad_response", path + " answered a non-object: " + abbreviate(r.body()));
            }
            return n;
        } catch (HttpTimeoutException e) {
            return new Unavailable("timeout", path + " took longer than " + timeout.toMillis() + " ms");
        } catch (ConnectException e) {
            return new Unavailable("unreachable", "cannot connect to " + base + ": " + e);
        } catch (IOException e) {
            return new Unavailable("unreachable", path + " failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Unavailable("interrupted", path + " interrupted");
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }
}
