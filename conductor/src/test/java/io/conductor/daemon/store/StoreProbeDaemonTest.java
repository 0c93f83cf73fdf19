package io.conductor.daemon.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.daemon.Daemon;
import io.conductor.daemon.DaemonSettings;
import io.conductor.daemon.api.ApiLimits;
import io.conductor.daemon.config.ConfigLoader;
import io.conductor.daemon.service.ConductorApiExtension;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.HashProfile;
import io.conductor.nativestore.NativeStoreConfig;
import io.conductor.nativestore.StoreDouble;
import io.conductor.nativestore.StoreKeyLayout;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * The store tier end to end in the real daemon: the real probe through FFM against the gcc-built C double of
 * {@code store_c.h} (skipped, with a message, only when gcc is absent), real vLLM events over ZMQ loopback, the
 * real HTTP server on port 0. Keys in the double are built with the configured layout from the same SHA-256 chain
 * the engine side publishes, so a hit is counted only when every rank's object is there.
 */
class StoreProbeDaemonTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "Qwen/Qwen2.5-7B-Instruct";
    private static final int BLOCK = 16;
    private static final long DEADLINE_MS = 60_000;

    private final HttpClient http = HttpClient.newHttpClient();
    private final ZContext zmq = new ZContext();
    private Path library;
    private Daemon daemon;
    private NativeStoreConfig storeConfig;

    @BeforeEach
    void loadDouble() {
        library = StoreDouble.load();
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
        zmq.close();
    }

    private void start(String libraryPath, int tpSize) throws Exception {
        start(libraryPath, tpSize, 2_000);
    }

    private void start(String libraryPath, int tpSize, long cacheTtlMillis) throws Exception {
        storeConfig = NativeStoreBlock.read(JSON.readTree("""
                {"enabled": true, "library_path": "%s", "local_hostname": "127.0.0.1",
                 "metadata_server": "P2PHANDSHAKE", "master_server_address": "127.0.0.1:50051",
                 "model": "Qwen2.5-7B-Instruct", "tp_size": %d, "cache_ttl_ms": %d,
                 "retry_initial_ms": 50, "retry_max_ms": 200, "health_check_interval_ms": 100}
                """.formatted(libraryPath, tpSize, cacheTtlMillis)), name -> null);
        StoreTier tier = new StoreTier();
        daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"),
                ConfigLoader.parse("{\"http_server_port\": 0}", "test", false).config(),
                List.of(new StoreProbeExtension(storeConfig, tier),
                        new ConductorApiExtension(ZmqEventStreams::withDefaults, ApiLimits.defaults(), tier)));
    }

    // ---- the engine side: a real XPUB publishing vLLM's map-encoded BlockStored batches

    private final class Engine {
        final ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
        final String endpoint;
        long seq;

        Engine() {
            pub.setReceiveTimeOut(200);
            pub.bind("tcp://127.0.0.1:*");
            endpoint = pub.getLastEndpoint();
        }

        void register(String instance) throws Exception {
            register(instance, "vLLM");
        }

        void register(String instance, String type) throws Exception {
            register(instance, type, MODEL, """
                    {"strategy": "vllm_v1", "algorithm": "sha256_cbor", "python_hash_seed": "0",
                     "index_projection": "low64_be"}""");
        }

        void register(String instance, String type, String model, String profile) throws Exception {
            JsonNode answer = post("/register", """
                    {"endpoint": "%s", "replay_endpoint": "", "type": "%s", "modelname": "%s",
                     "instance_id": "%s", "tenant_id": "default", "lora_name": "", "block_size": %d, "dp_rank": 0,
                     "hash_profile": %s}""".formatted(endpoint, type, model, instance, BLOCK, profile));
            assertEquals("registered successfully", answer.path("status").asText(), answer.toString());
        }

        /** Waits until the daemon's subscription reaches this publisher (before publishing anything). */
        void awaitSubscribed() {
            await("subscription to " + endpoint, () -> {
                byte[] msg = pub.recv();
                return msg != null && msg.length >= 1 && msg[0] == 1;
            });
        }

        /** Publishes blocks [0, blocks) of the prompt as stored on GPU. */
        void storeGpu(Prompt prompt, int blocks) throws Exception {
            MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
            p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(1);
            p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes");
            p.packArrayHeader(blocks);
            for (int b = 0; b < blocks; b++) {
                p.packBigInteger(new BigInteger(Long.toUnsignedString(prompt.chain.blockHash(b))));
            }
            p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(blocks * BLOCK);
            for (int t = 0; t < blocks * BLOCK; t++) {
                p.packInt(prompt.tokens[t]);
            }
            p.packString("block_size").packInt(BLOCK).packString("lora_id").packNil();
            p.packString("medium").packString("GPU").packString("lora_name").packNil();
            p.packInt(0);
            send(p.toByteArray());
        }

        /** Publishes one Mooncake master event ({@code stored}, {@code removed} or {@code cleared}). */
        void storeEvent(String type, String objectKey) throws Exception {
            MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
            long now = System.currentTimeMillis();
            p.packArrayHeader(3).packLong(now).packArrayHeader(1);
            p.packMapHeader(objectKey == null ? 8 : 11);
            p.packString("event_id").packLong(seq + 1).packString("timestamp").packLong(now);
            p.packString("event_type").packString(type).packString("model_name").packNil();
            p.packString("tenant_id").packString("default").packString("backend_id").packString("pool-1");
            p.packString("medium");
            if (objectKey == null) {
                p.packNil();
            } else {
                p.packString("cpu");
            }
            p.packString("dp_rank").packInt(0);
            if (objectKey != null) {
                p.packString("object_key").packString(objectKey);
                p.packString("seq_hashes").packArrayHeader(0).packString("base_block_idx").packNil();
            }
            p.packInt(0);
            send(p.toByteArray());
        }

        private void send(byte[] payload) {
            pub.sendMore(new byte[0]);
            pub.sendMore(ByteBuffer.allocate(8).putLong(++seq).array());
            pub.send(payload);
        }
    }

    /** A prompt with its engine-side hash chain (the registered profile: sha256_cbor, seed "0"). */
    private static final class Prompt {
        final int[] tokens;
        final BlockHashChain chain = new BlockHashChain();

        Prompt(int seed, int blocks) {
            tokens = new int[blocks * BLOCK];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = seed * 7919 + 31 * i + 1;
            }
            chain.reset(HashProfile.of(HashAlgorithm.SHA256_CBOR, "0"), BLOCK, tokens, HashExtras.NONE);
        }

        byte[] digest(int block) {
            byte[] d = new byte[32];
            chain.copyDigest(block, d, 0);
            return d;
        }

        String body() {
            return body(tokens.length / BLOCK);
        }

        /** A query for the first {@code blocks} blocks only. */
        String body(int blocks) {
            return body(MODEL, blocks);
        }

        String body(String model, int blocks) {
            StringBuilder ids = new StringBuilder();
            for (int t = 0; t < blocks * BLOCK; t++) {
                ids.append(ids.isEmpty() ? "" : ",").append(tokens[t]);
            }
            return "{\"model\": \"" + model + "\", \"block_size\": " + BLOCK + ", \"token_ids\": [" + ids + "]}";
        }
    }

    /** Every rank's key of the given blocks, or only {@code ranks} of them. */
    private List<String> keys(Prompt prompt, int from, int to, int ranks) {
        StoreKeyLayout layout = storeConfig.keyLayout();
        List<String> keys = new ArrayList<>();
        for (int b = from; b < to; b++) {
            for (int r = 0; r < Math.min(ranks, layout.rankCount()); r++) {
                keys.add(layout.key(r, prompt.digest(b)));
            }
        }
        return keys;
    }

    // ---- HTTP

    private JsonNode post(String path, String body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port()
                + path)).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), path + ": " + r.body());
        return JSON.readTree(r.body());
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port() + path))
                .header("Accept", "application/json").GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode storeCheck() throws Exception {
        for (JsonNode check : JSON.readTree(get("/ready").body()).path("checks")) {
            if (check.path("name").asText().equals(StoreProbeExtension.READINESS_CHECK)) {
                return check;
            }
        }
        throw new AssertionError("no store_probe readiness check");
    }

    private double metric(String series) throws Exception {
        for (String line : get("/metrics").body().split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(series.length() + 1));
            }
        }
        throw new AssertionError("no metric " + series);
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    private void awaitProbe(String state) {
        await("store probe " + state, () -> {
            try {
                return storeCheck().path("detail").asText().startsWith("store probe " + state);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /** Polls with the GPU prefix only, so the instance is complete there and the poll probes little. */
    private void awaitGpu(Prompt prompt, String instance, int blocks) {
        await(instance + " holding " + blocks + " GPU blocks", () -> {
            try {
                return post("/query", prompt.body(blocks)).at("/instances/" + instance + "/gpu").asInt()
                        == blocks * BLOCK;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private void awaitStore(Prompt prompt, String instance, int blocks, String why) {
        await(why, () -> {
            try {
                return post("/query", prompt.body()).at("/instances/" + instance + "/store").asInt() == blocks * BLOCK;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    // ---- tests

    @Test
    void shouldExtendEachInstanceFromWhereItsGpuWalkStoppedWhenTheStoreHoldsEveryRanksKeys() throws Exception {
        start(library.toString(), 2);
        awaitProbe("up");
        HttpResponse<String> ready = get("/ready");
        assertEquals(200, ready.statusCode(), "the probe is up: ready; " + ready.body());
        Engine a = new Engine();
        Engine b = new Engine();
        a.register("a");
        b.register("b");
        Prompt prompt = new Prompt(1, 8);
        // Blocks 2..4 complete; block 5 only on tp rank 0 (not loadable); block 6 complete but after the gap.
        List<String> held = new ArrayList<>(keys(prompt, 2, 5, 2));
        held.addAll(keys(prompt, 5, 6, 1));
        held.addAll(keys(prompt, 6, 7, 2));
        StoreDouble.setKeys(held);
        a.awaitSubscribed();
        a.storeGpu(prompt, 2);
        awaitGpu(prompt, "a", 2);
        long batchesBefore = StoreDouble.counter("batch_is_exist");

        JsonNode query = post("/query", prompt.body()).path("instances");
        long batches = StoreDouble.counter("batch_is_exist") - batchesBefore;
        JsonNode route = post("/route", prompt.body());
        JsonNode byHash = post("/query_by_hash", "{\"model\": \"" + MODEL + "\", \"block_size\": " + BLOCK
                + ", \"seq_hashes\": [" + Long.toUnsignedString(prompt.chain.blockHash(0)) + "]}");

        JsonNode ia = query.path("a");
        assertEquals(5 * BLOCK, ia.path("store").asInt(), query.toString());
        assertEquals(5 * BLOCK, ia.path("longest_matched").asInt(), "longest_matched includes store hits");
        assertEquals(2 * BLOCK, ia.path("gpu").asInt());
        assertEquals(2 * BLOCK, ia.path("cpu").asInt(), "cpu/disk keep the reference's meaning");
        assertEquals(2 * BLOCK, ia.path("disk").asInt());
        assertEquals(2 * BLOCK, ia.at("/rank_matches/0/disk").asInt(), "rank matches are event-based only");
        assertEquals(2 * BLOCK, ia.at("/dp/0").asInt());
        JsonNode ib = query.path("b");
        assertEquals(0, ib.path("store").asInt(), "block 0 is not in the store: nothing to continue from 0");
        assertEquals(0, ib.path("longest_matched").asInt());
        assertEquals(1, batches, "one batch_is_exist per query (blocks 0..1 are cached from the polls)");
        assertEquals("a", route.path("instance_id").asText(), route.toString());
        assertEquals(5 * BLOCK, route.path("longest_matched").asInt());
        assertEquals(5 * BLOCK, route.path("store").asInt());
        assertEquals(5 * BLOCK, route.at("/candidates/a/store").asInt());
        assertEquals(0, route.at("/candidates/b/store").asInt());
        assertTrue(route.at("/candidates/b").has("store"));
        assertFalse(byHash.at("/instances/a").has("store"), "64-bit hashes cannot name store keys: " + byHash);
        assertEquals(BLOCK, byHash.at("/instances/a/longest_matched").asInt());
    }

    @Test
    void shouldCountThePoolForEveryInstanceAndTieTheRouteWhenTheStoreHoldsThePrefix() throws Exception {
        start(library.toString(), 1);
        awaitProbe("up");
        Engine a = new Engine();
        Engine b = new Engine();
        a.register("a");
        b.register("b");
        Prompt prompt = new Prompt(2, 6);
        StoreDouble.setKeys(keys(prompt, 0, 4, 1));
        a.awaitSubscribed();
        a.storeGpu(prompt, 2);
        awaitGpu(prompt, "a", 2);

        JsonNode query = post("/query", prompt.body()).path("instances");
        JsonNode route = post("/route", prompt.body());

        assertEquals(4 * BLOCK, query.at("/a/store").asInt(), query.toString());
        assertEquals(4 * BLOCK, query.at("/b/store").asInt(), "b loads blocks 0..3 from the shared pool");
        assertEquals(4 * BLOCK, query.at("/b/longest_matched").asInt());
        assertEquals(0, query.at("/b/gpu").asInt());
        // Both reach the same prefix, but b must load all of it from the store while a has half on its GPU: the
        // cost policy prefers a (the longest_prefix policy would rotate between them).
        assertEquals("a", route.path("instance_id").asText(), route.toString());
        assertEquals("longest_prefix", route.path("reason").asText(), route.toString());
        assertTrue(route.at("/candidates/a/ttft_us").asLong() < route.at("/candidates/b/ttft_us").asLong());
        assertEquals(4 * BLOCK, route.path("longest_matched").asInt());
        assertEquals(1.0, metric("conductor_store_probe_up"));
        assertTrue(metric("conductor_store_probe_batch_calls_total") >= 1);
        assertEquals(metric("conductor_store_probe_batch_calls_total"),
                metric("conductor_store_probe_batch_duration_seconds_count"));
        assertEquals(metric("conductor_store_probe_batch_duration_seconds_count"),
                metric("conductor_store_probe_batch_duration_seconds_bucket{le=\"+Inf\"}"),
                "buckets are exported cumulatively");
        assertTrue(metric("conductor_store_probe_resident_blocks_total") >= 4);
        assertTrue(metric("conductor_store_probe_keys_total") >= 6);
        assertEquals(1.0, metric("conductor_store_probe_state{state=\"up\"}"));
        assertTrue(metric("conductor_query_matched_tokens_total{model_name=\"" + MODEL + "\",tier=\"store\"}")
                >= 2 * 4 * BLOCK, "the query and the route each matched 4 blocks through the store");
    }

    @Test
    void shouldServeFromEventsAndSayWhyWhenTheLibraryIsMissing() throws Exception {
        String missing = library.resolveSibling("no-such-dir").resolve("libmooncake_store.so").toString();
        start(missing, 1);
        awaitProbe("down");
        Engine a = new Engine();
        a.register("a");
        Prompt prompt = new Prompt(3, 4);
        a.awaitSubscribed();
        a.storeGpu(prompt, 3);
        awaitGpu(prompt, "a", 3);

        JsonNode query = post("/query", prompt.body()).path("instances");
        HttpResponse<String> ready = get("/ready");
        JsonNode check = storeCheck();

        assertEquals(3 * BLOCK, query.at("/a/longest_matched").asInt(), query.toString());
        assertFalse(query.path("a").has("store"), "a down probe adds no store key: " + query);
        assertEquals(503, ready.statusCode(), "a configured probe that is down makes the daemon unready: " + ready.body());
        assertFalse(check.path("ready").asBoolean(), check.toString());
        assertTrue(check.path("detail").asText().contains(missing), check.toString());
        assertTrue(check.path("detail").asText().startsWith("store probe down since"), check.toString());
        assertEquals(0.0, metric("conductor_store_probe_up"));
        assertEquals(1.0, metric("conductor_store_probe_state{state=\"down\"}"));
        assertEquals(0.0, metric("conductor_store_probe_state{state=\"up\"}"));
        assertTrue(metric("conductor_store_probe_setup_attempts_total") >= 1);
    }

    @Test
    void shouldUpdateTheProbeCacheWhenTheMastersStoreEventsArrive() throws Exception {
        start(library.toString(), 1, 600_000); // answers would stay cached for the whole test without events
        awaitProbe("up");
        Engine a = new Engine();
        Engine master = new Engine();
        a.register("a");
        master.register("pool", "Mooncake");
        Prompt prompt = new Prompt(4, 6);
        List<String> held = keys(prompt, 0, 4, 1);
        StoreDouble.setKeys(held);
        awaitStore(prompt, "a", 4, "store hits for blocks 0..3");

        master.awaitSubscribed();
        master.storeEvent("removed", held.get(1));
        awaitStore(prompt, "a", 1, "the removed event marking block 1 absent (the double still holds it)");
        master.storeEvent("stored", held.get(1));
        awaitStore(prompt, "a", 4, "the stored event dropping block 1's cached answer");
        StoreDouble.setKeys(held.subList(0, 2));
        long cached = post("/query", prompt.body()).at("/instances/a/store").asLong();
        master.storeEvent("cleared", null);
        awaitStore(prompt, "a", 2, "the cleared event emptying the cache");

        assertEquals(4 * BLOCK, cached, "without an event the cache still answers");
    }

    @Test
    void shouldNotProbeWhenTheContextCannotNameStoreKeys() throws Exception {
        start(library.toString(), 1);
        awaitProbe("up");
        Engine rehash = new Engine();
        Engine other = new Engine();
        rehash.register("rehash", "vLLM", "rehash/Qwen2.5-7B-Instruct", "null");
        other.register("other", "vLLM", "Qwen/Other-Model", """
                {"strategy": "vllm_v1", "algorithm": "sha256_cbor", "python_hash_seed": "0",
                 "index_projection": "low64_be"}""");
        Prompt prompt = new Prompt(5, 4);
        StoreDouble.setKeys(keys(prompt, 0, 4, 1));
        long batchesBefore = StoreDouble.counter("batch_is_exist");

        JsonNode rehashAnswer = post("/query", prompt.body("rehash/Qwen2.5-7B-Instruct", 4));
        JsonNode otherAnswer = post("/query", prompt.body("Qwen/Other-Model", 4));

        assertEquals(0, rehashAnswer.at("/instances/rehash/longest_matched").asInt(), rehashAnswer.toString());
        assertFalse(rehashAnswer.at("/instances/rehash").has("store"), "token-rehash contexts cannot probe");
        assertFalse(otherAnswer.at("/instances/other").has("store"), "another model's keys are not the probe's");
        assertEquals(batchesBefore, StoreDouble.counter("batch_is_exist"));
    }
}
