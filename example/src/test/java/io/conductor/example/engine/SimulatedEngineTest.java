package io.conductor.example.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The engine's HTTP surface, served for real on an ephemeral port. */
class SimulatedEngineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient client = HttpClient.newHttpClient();
    private SimulatedEngine engine;

    @BeforeEach
    void start() {
        EngineConfig config = EngineConfig.parse(new String[] {"sim-model", "--port", "0", "--block-size", "4",
            "--prefix-caching-hash-algo", "sha256_cbor", "--data-parallel-size", "2", "--enforce-eager",
            "--kv-events-config", "{\"enable_kv_cache_events\": true, \"publisher\": \"zmq\", "
                + "\"endpoint\": \"tcp://127.0.0.1:*\", \"replay_endpoint\": \"tcp://127.0.0.1:*\"}",
            "--sim-prefill-tokens-per-second", "1000000", "--sim-decode-ms-per-token", "0"},
            Map.of("PYTHONHASHSEED", "0"));
        engine = new SimulatedEngine(config, BlockHashers::forConfig);
    }

    @AfterEach
    void stop() {
        engine.close();
    }

    private HttpResponse<String> post(String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + engine.port() + path))
            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldReportCachedTokensOnTheSameRankWhenPromptRepeats() throws Exception {
        String body = "{\"model\": \"sim-model\", \"prompt\": \"one two three four five six seven eight nine ten\","
            + " \"max_tokens\": 3}";

        JsonNode first = JSON.readTree(post("/v1/completions", body, "X-data-parallel-rank", "1").body());
        JsonNode second = JSON.readTree(post("/v1/completions", body, "X-data-parallel-rank", "1").body());
        JsonNode otherRank = JSON.readTree(post("/v1/completions", body, "X-data-parallel-rank", "0").body());

        assertEquals(10, first.at("/usage/prompt_tokens").asInt());
        assertEquals(0, first.at("/usage/prompt_tokens_details/cached_tokens").asInt());
        assertEquals(8, second.at("/usage/prompt_tokens_details/cached_tokens").asInt());
        assertEquals(0, otherRank.at("/usage/prompt_tokens_details/cached_tokens").asInt());
        assertEquals(3, second.at("/usage/completion_tokens").asInt());
        assertEquals("text_completion", second.path("object").asText());
    }

    @Test
    void shouldTokenizeChatLikeTheCompletionPathWhenMessagesAreGiven() throws Exception {
        String messages = "\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"},"
            + " {\"role\": \"user\", \"content\": \"Hi there\"}]";

        JsonNode tok = JSON.readTree(post("/tokenize", "{\"model\": \"sim-model\", " + messages + "}").body());
        JsonNode chat = JSON.readTree(post("/v1/chat/completions", "{\"model\": \"sim-model\", " + messages
            + ", \"max_tokens\": 2}").body());

        assertEquals(tok.path("count").asInt(), tok.path("tokens").size());
        assertEquals(tok.path("count").asInt(), chat.at("/usage/prompt_tokens").asInt());
        assertEquals("assistant", chat.at("/choices/0/message/role").asText());
    }

    @Test
    void shouldStreamSseChunksWithUsageAndDoneWhenStreamIsSet() throws Exception {
        String body = "{\"model\": \"sim-model\", \"messages\": [{\"role\": \"user\", \"content\": \"stream me\"}],"
            + " \"max_tokens\": 4, \"stream\": true, \"stream_options\": {\"include_usage\": true}}";

        HttpResponse<String> r = post("/v1/chat/completions", body);

        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<String> events = r.body().lines().filter(l -> l.startsWith("data: ")).toList();
        assertEquals(1 + 4 + 1 + 1, events.size(), r.body());
        assertEquals("data: [DONE]", events.getLast());
        JsonNode usage = JSON.readTree(events.get(5).substring(6));
        assertEquals(4, usage.at("/usage/completion_tokens").asInt());
        assertEquals("chat.completion.chunk", usage.path("object").asText());
    }

    @Test
    void shouldReturnKvTransferParamsAndOneTokenWhenRemoteDecodeIsAsked() throws Exception {
        String body = "{\"model\": \"sim-model\", \"prompt\": \"a b c d e f g h i\", \"max_tokens\": 50,"
            + " \"kv_transfer_params\": {\"do_remote_decode\": true, \"do_remote_prefill\": false}}";

        JsonNode r = JSON.readTree(post("/v1/completions", body).body());

        assertEquals(1, r.at("/usage/completion_tokens").asInt());
        assertTrue(r.at("/kv_transfer_params/do_remote_prefill").asBoolean());
        assertEquals(engine.engineId(), r.at("/kv_transfer_params/remote_engine_id").asText());
        assertEquals(3, r.at("/kv_transfer_params/remote_block_ids").size());
    }

    @Test
    void shouldExposeVllmMetricNamesWhenScraped() throws Exception {
        post("/v1/completions", "{\"model\": \"sim-model\", \"prompt\": \"x y z w v\", \"max_tokens\": 1}",
            "X-data-parallel-rank", "0");

        String text = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + engine.port()
            + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();

        assertTrue(text.contains("vllm:num_requests_running{engine=\"0\",model_name=\"sim-model\"} 0"), text);
        assertTrue(text.contains("vllm:num_requests_waiting{engine=\"1\""), text);
        assertTrue(text.contains("vllm:kv_cache_usage_perc{engine=\"0\""), text);
        assertTrue(text.contains("vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"sim-model\"} 5.0"),
            text);
        assertTrue(text.contains("vllm:prefix_cache_hits_total{engine=\"0\""), text);
    }

    @Test
    void shouldAnswerVllmStyle400WhenBodyIsInvalid() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\": \"sim-model\"}");
        HttpResponse<String> unknown = post("/v1/completions", "{\"model\": \"nope\", \"prompt\": \"x\"}");

        assertEquals(400, r.statusCode());
        assertEquals("prompt is required", JSON.readTree(r.body()).at("/error/message").asText());
        assertEquals(404, unknown.statusCode());
    }

    @Test
    void shouldMatchGoldenKeysWhenHashingTokensOneToEightWithEitherAlgorithm() {
        int[] tokens = {1, 2, 3, 4, 5, 6, 7, 8};

        long[] cbor = new VllmBlockHasher("sha256_cbor", "0", 4).hashBlocks(tokens, 8, null, null);
        long[] pickle = new VllmBlockHasher("sha256", "0", 4).hashBlocks(tokens, 8, null, null);
        long[] salted = new VllmBlockHasher("sha256", "0", 4).hashBlocks(tokens, 8, "adapter-A", "tenant-salt");

        // hashing.md sections 8.1 and 8.2.
        assertEquals("2164874634404590027", Long.toUnsignedString(cbor[0]));
        assertEquals("17270480062156288726", Long.toUnsignedString(cbor[1]));
        assertEquals("10362225831949560093", Long.toUnsignedString(pickle[0]));
        assertEquals("12472515041799373675", Long.toUnsignedString(pickle[1]));
        assertEquals("602575766154556200", Long.toUnsignedString(salted[0]));
        assertEquals("9046429590014662168", Long.toUnsignedString(salted[1]));
    }
}
