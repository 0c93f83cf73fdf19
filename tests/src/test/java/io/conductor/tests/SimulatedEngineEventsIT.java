package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.events.EventKind;
import io.conductor.events.KvBatch;
import io.conductor.events.KvEvent;
import io.conductor.events.KvEventSink;
import io.conductor.events.KvEventSubscriber;
import io.conductor.events.PublisherType;
import io.conductor.events.ResetCause;
import io.conductor.events.StreamKey;
import io.conductor.events.SubscriberConfig;
import io.conductor.events.SubscriptionSpec;
import io.conductor.example.engine.BlockHashers;
import io.conductor.example.engine.EngineConfig;
import io.conductor.example.engine.SimulatedEngine;
import io.conductor.example.engine.VllmBlockHasher;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The simulated engine's KV events as the project's own subscriber ({@code io.conductor.events}) sees them, over real
 * ZMQ sockets: decoded hashes equal the project's hasher, dropped batches heal through the engine's replay ROUTER,
 * and an engine restarted on the same ports (seq from 0 again) is detected as a restart.
 */
class SimulatedEngineEventsIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final StreamKey KEY = new StreamKey("sim-0", "default", 0);

    private final HttpClient http = HttpClient.newHttpClient();
    private final RecordingSink sink = new RecordingSink();
    private KvEventSubscriber subscriber;
    private SimulatedEngine engine;

    /** Keeps the set of hashes the stream currently holds, like an index would, plus the resets it saw. */
    static final class RecordingSink implements KvEventSink {
        final Set<Long> held = ConcurrentHashMap.newKeySet();
        final List<ResetCause> resets = new CopyOnWriteArrayList<>();

        @Override
        public void onBatchBegin(KvBatch batch) {
        }

        @Override
        public void onEvent(KvBatch batch, KvEvent event) {
            if (event.kind() == EventKind.BLOCKS_STORED) {
                for (int i = 0; i < event.blockCount(); i++) {
                    held.add(event.blockHash(i));
                }
            } else if (event.kind() == EventKind.BLOCKS_REMOVED) {
                for (int i = 0; i < event.blockCount(); i++) {
                    held.remove(event.blockHash(i));
                }
            } else if (event.kind() == EventKind.ALL_BLOCKS_CLEARED) {
                held.clear();
            }
        }

        @Override
        public void onBatchEnd(KvBatch batch) {
        }

        @Override
        public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
            held.clear();
            resets.add(cause);
        }
    }

    @AfterEach
    void stop() throws Exception {
        if (subscriber != null) {
            subscriber.close();
        }
        if (engine != null) {
            engine.close();
        }
        http.close();
    }

    private SimulatedEngine startEngine(String encoding, String endpoint, String replay) {
        EngineConfig config = EngineConfig.parse(new String[] {"sim", "--port", "0", "--block-size", "16",
            "--sim-event-encoding", encoding, "--sim-prefill-tokens-per-second", "1000000",
            "--kv-events-config", "{\"enable_kv_cache_events\": true, \"endpoint\": \"" + endpoint
                + "\", \"replay_endpoint\": \"" + replay + "\", \"topic\": \"kv-events\"}"},
            Map.of("PYTHONHASHSEED", "0"));
        return new SimulatedEngine(config, BlockHashers::forConfig);
    }

    private void subscribe() throws Exception {
        subscriber = new KvEventSubscriber(SubscriberConfig.defaults());
        String pub = engine.ranks().getFirst().publisher().endpoint();
        String replay = engine.ranks().getFirst().publisher().replayEndpoint();
        subscriber.add(SubscriptionSpec.of(KEY, PublisherType.VLLM, pub, replay), sink).get(10, TimeUnit.SECONDS);
    }

    private long[] store(String prompt) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + engine.port()
            + "/v1/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers
            .ofString("{\"model\": \"sim\", \"prompt\": \"" + prompt + "\", \"max_tokens\": 1}")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        HttpResponse<String> tok = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + engine.port()
            + "/tokenize")).POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"" + prompt + "\"}")).build(),
            HttpResponse.BodyHandlers.ofString());
        JsonNode ids = JSON.readTree(tok.body()).path("tokens");
        int[] tokens = new int[ids.size()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = ids.get(i).asInt();
        }
        return new VllmBlockHasher("sha256", "0", 16).hashBlocks(tokens, tokens.length, null, null);
    }

    private boolean holdsAll(long[] hashes) {
        for (long h : hashes) {
            if (!sink.held.contains(h)) {
                return false;
            }
        }
        return true;
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"map", "array"})
    void shouldDecodeTheHasherChainWhenEngineStoresAPrompt(String encoding) throws Exception {
        engine = startEngine(encoding, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
        subscribe();

        long[] hashes = store(DemoFixture.uniquePrompt("stored-" + encoding, 70));

        assertTrue(hashes.length >= 4);
        await("every block of the prompt", () -> holdsAll(hashes));
    }

    @Test
    void shouldHealDroppedBatchesThroughReplayWhenTheNextBatchRevealsTheGap() throws Exception {
        engine = startEngine("map", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
        subscribe();
        long[] first = store(DemoFixture.uniquePrompt("first", 40));
        await("the live stream", () -> holdsAll(first));

        engine.ranks().getFirst().publisher().dropNext(2);
        long[] lost1 = store(DemoFixture.uniquePrompt("lost1", 40));
        long[] lost2 = store(DemoFixture.uniquePrompt("lost2", 40));
        long[] reveal = store(DemoFixture.uniquePrompt("reveal", 40));

        await("the batch after the gap", () -> holdsAll(reveal));
        await("both dropped batches, replayed", () -> holdsAll(lost1) && holdsAll(lost2));
        assertTrue(sink.resets.isEmpty(), "a healed gap must not reset the stream: " + sink.resets);
    }

    @Test
    void shouldResetTheStreamWhenTheEngineRestartsOnTheSamePorts() throws Exception {
        engine = startEngine("map", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
        String pub = engine.ranks().getFirst().publisher().endpoint();
        String replay = engine.ranks().getFirst().publisher().replayEndpoint();
        subscribe();
        long[] old = new long[0];
        for (int i = 0; i < 5; i++) {
            old = store(DemoFixture.uniquePrompt("old" + i, 40));
        }
        long[] lastOld = old;
        await("the old engine's blocks", () -> holdsAll(lastOld));

        engine.close();
        engine = startEngine("map", pub, replay);
        long[] fresh = store(DemoFixture.uniquePrompt("fresh", 40));

        await("the restarted engine's blocks", () -> holdsAll(fresh));
        await("the old blocks to be forgotten", () -> !sink.held.contains(lastOld[0]));
        // Seq going back (ENGINE_RESTART) or a reconnect's full-replay rebuild (REBUILD), whichever the subscriber
        // noticed first: either way the old engine's blocks are gone.
        assertTrue(sink.resets.contains(ResetCause.ENGINE_RESTART) || sink.resets.contains(ResetCause.REBUILD),
            sink.resets.toString());
    }
}
