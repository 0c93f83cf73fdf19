package io.conductor.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.conductor.example.demo.DemoTopology;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * Shared helpers of the end-to-end tests that run the demo topology: direct engine requests, conductor queries and
 * condition polling with a deadline. Not thread-safe; one per test class.
 */
final class DemoFixture implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration DEADLINE = Duration.ofSeconds(45);

    final DemoTopology topology;

    DemoFixture(DemoTopology.Spec spec) {
        Path logs;
        try {
            logs = Files.createTempDirectory("conductor-it-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.topology = DemoTopology.start(spec, logs);
    }

    /** Sends a non-streaming completion straight to an engine (bypassing the proxy) and returns its JSON. */
    JsonNode complete(DemoTopology.Engine engine, String prompt) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", DemoTopology.MODEL);
        body.put("prompt", prompt);
        body.put("max_tokens", 1);
        return parse(topology.postJson(engine.url().resolve("/v1/completions"), body.toString()));
    }

    /** Tokenizes with an engine's tokenizer. */
    int[] tokenize(DemoTopology.Engine engine, String prompt) {
        JsonNode r = parse(topology.postJson(engine.url().resolve("/tokenize"),
            JSON.createObjectNode().put("model", DemoTopology.MODEL).put("prompt", prompt).toString()));
        int[] ids = new int[r.path("tokens").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.path("tokens").get(i).asInt();
        }
        return ids;
    }

    /** Returns the conductor's GPU hit (tokens) for a prompt on one instance, or -1 if the query fails. */
    long gpuHit(DemoTopology.Engine engine, String prompt) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", DemoTopology.MODEL);
        body.put("block_size", DemoTopology.Spec.DEFAULT.blockSize());
        body.put("instance_id", engine.instanceId());
        ArrayNode t = body.putArray("token_ids");
        for (int id : tokenize(engine, prompt)) {
            t.add(id);
        }
        try {
            HttpResponse<String> r = topology.postJson(topology.conductorUrl().resolve("/query"), body.toString());
            if (r.statusCode() != 200) {
                return -1;
            }
            return JSON.readTree(r.body()).path("instances").path(engine.instanceId()).path("gpu").asLong(0);
        } catch (IOException | UncheckedIOException e) {
            return -1;
        }
    }

    /** Polls a condition until it holds or the deadline passes; fails with the message and the logs' tails. */
    void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting for " + what, e);
            }
        }
        throw new AssertionError("timed out waiting for " + what + "\n" + topology.logTails(15));
    }

    /** A prompt of {@code words} words that no other prompt shares. */
    static String uniquePrompt(String tag, int words) {
        StringBuilder sb = new StringBuilder(tag);
        for (int i = 0; i < words; i++) {
            sb.append(' ').append(tag).append('w').append(i);
        }
        return sb.toString();
    }

    private static JsonNode parse(HttpResponse<String> r) {
        try {
            if (r.statusCode() != 200) {
                throw new AssertionError("HTTP " + r.statusCode() + ": " + r.body());
            }
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        topology.close();
        deleteTree(topology.logDir());
    }

    private static void deleteTree(Path dir) {
        try (java.util.stream.Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a leftover temp directory is harmless
        }
    }
}
