package io.conductor.example.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

/**
 * Replays a {@link DemoWorkload} against the proxy with a fixed number of concurrent users, streaming every answer
 * and timing the first chunk. Chats append each streamed answer to their history, like a real chat client.
 *
 * <p>Thread-safe: {@link #run} may be called from one thread at a time; it starts its own user threads.
 */
public final class WorkloadRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI proxy;
    private final String model;
    private final int users;
    private final int maxTokens;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    /**
     * Creates a runner.
     *
     * @param proxy the proxy's base URL
     * @param model model name to request
     * @param users concurrent users
     * @param maxTokens tokens to generate per answer
     */
    public WorkloadRunner(URI proxy, String model, int users, int maxTokens) {
        this.proxy = proxy;
        this.model = model;
        this.users = users;
        this.maxTokens = maxTokens;
    }

    /**
     * Runs the whole workload with one routing policy.
     *
     * @param workload what to send
     * @param policy {@code cache_aware} or {@code round_robin} (sent as {@code X-Routing-Policy})
     * @param onRecord called after each request (from user threads)
     * @return one record per request
     * @throws InterruptedException if interrupted
     */
    public List<RequestRecord> run(DemoWorkload workload, String policy, Consumer<RequestRecord> onRecord)
        throws InterruptedException {
        ConcurrentLinkedQueue<DemoWorkload.Session> queue = new ConcurrentLinkedQueue<>(workload.sessions());
        List<RequestRecord> records = Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        for (int u = 0; u < users; u++) {
            threads.add(Thread.ofVirtual().name("user-" + u).start(() -> {
                DemoWorkload.Session s;
                while ((s = queue.poll()) != null) {
                    for (RequestRecord r : runSession(s, policy)) {
                        records.add(r);
                        onRecord.accept(r);
                    }
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        return List.copyOf(records);
    }

    private List<RequestRecord> runSession(DemoWorkload.Session session, String policy) {
        List<RequestRecord> out = new ArrayList<>();
        switch (session) {
            case DemoWorkload.UniquePrompt u -> {
                ObjectNode body = JSON.createObjectNode();
                body.put("prompt", u.prompt());
                out.add(send("/v1/completions", body, policy, new StringBuilder()));
            }
            case DemoWorkload.Chat c -> {
                List<String[]> history = new ArrayList<>();
                history.add(new String[] {"system", c.systemPrompt()});
                for (String turn : c.userTurns()) {
                    history.add(new String[] {"user", turn});
                    ObjectNode body = JSON.createObjectNode();
                    ArrayNode messages = body.putArray("messages");
                    for (String[] m : history) {
                        messages.addObject().put("role", m[0]).put("content", m[1]);
                    }
                    StringBuilder answer = new StringBuilder();
                    out.add(send("/v1/chat/completions", body, policy, answer));
                    history.add(new String[] {"assistant", answer.toString()});
                }
            }
        }
        return out;
    }

    private RequestRecord send(String path, ObjectNode body, String policy, StringBuilder answer) {
        body.put("model", model);
        body.put("max_tokens", maxTokens);
        body.put("stream", true);
        HttpRequest req = HttpRequest.newBuilder(proxy.resolve(path)).timeout(Duration.ofSeconds(60))
            .header("Content-Type", "application/json").header("X-Routing-Policy", policy)
            .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long start = System.nanoTime();
        try {
            HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
            double ttft = -1;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (!line.startsWith("data: ")) {
                        continue;
                    }
                    if (ttft < 0) {
                        ttft = (System.nanoTime() - start) / 1e6;
                    }
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        break;
                    }
                    JsonNode chunk = JSON.readTree(data);
                    JsonNode choice = chunk.path("choices").path(0);
                    answer.append(choice.has("delta") ? choice.path("delta").path("content").asText("")
                        : choice.path("text").asText(""));
                }
            }
            boolean ok = r.statusCode() == 200 && ttft >= 0;
            return new RequestRecord(policy, header(r, "X-Conductor-Prefill-Instance", "?"),
                header(r, "X-Conductor-Route-Reason", "?"), longHeader(r, "X-Conductor-Prompt-Tokens"),
                longHeader(r, "X-Conductor-Predicted-Tokens"), longHeader(r, "X-Conductor-Cached-Tokens"),
                ttft, ok);
        } catch (IOException e) {
            return new RequestRecord(policy, "?", "error: " + e, 0, 0, 0, -1, false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new RequestRecord(policy, "?", "interrupted", 0, 0, 0, -1, false);
        }
    }

    private static String header(HttpResponse<?> r, String name, String dflt) {
        return r.headers().firstValue(name).orElse(dflt);
    }

    private static long longHeader(HttpResponse<?> r, String name) {
        try {
            return Long.parseLong(header(r, name, "0"));
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
