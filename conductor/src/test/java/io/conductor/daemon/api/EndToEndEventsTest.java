package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.index.prefix.ContextKey;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
 * The whole path with real parts: a real XPUB socket on loopback publishing vLLM's map-encoded batches, the real
 * subscriber, sink, index and hash chain, the real HTTP server. Registers, queries, removes blocks, unregisters,
 * and checks the metrics move accordingly.
 */
class EndToEndEventsTest {
    private static final ContextKey CONTEXT = new ContextKey("default", "qwen", 16);
    private static final long DEADLINE_MS = 60_000;

    private ApiTestServer server;
    private ZContext zmq;
    private ZMQ.Socket pub;
    private String endpoint;
    private long seq;

    @BeforeEach
    void start() {
        server = new ApiTestServer(ApiLimits.defaults(), ZmqEventStreams.withDefaults());
        zmq = new ZContext();
        pub = zmq.createSocket(SocketType.XPUB);
        pub.setReceiveTimeOut(200);
        pub.bind("tcp://127.0.0.1:*");
        endpoint = pub.getLastEndpoint();
    }

    @AfterEach
    void stop() {
        server.close();
        zmq.close();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(10);
        }
    }

    /** Waits for the subscriber's SUB (subscribe = 1, unsubscribe = 0) to reach the XPUB. */
    private void awaitSubscription(int kind) throws InterruptedException {
        await("subscription message " + kind, () -> {
            byte[] msg = pub.recv();
            return msg != null && msg.length >= 1 && msg[0] == kind;
        });
    }

    private void publish(byte[] payload) {
        pub.sendMore(new byte[0]);
        pub.sendMore(ByteBuffer.allocate(8).putLong(seq++).array());
        pub.send(payload);
    }

    private static byte[] batch(EventWriter... events) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(events.length);
        for (EventWriter e : events) {
            e.write(p);
        }
        p.packInt(0);
        return p.toByteArray();
    }

    @FunctionalInterface
    private interface EventWriter {
        void write(MessageBufferPacker p) throws Exception;
    }

    private static void packHashes(MessageBufferPacker p, long[] hashes) throws Exception {
        p.packArrayHeader(hashes.length);
        for (long h : hashes) {
            p.packBigInteger(new java.math.BigInteger(Long.toUnsignedString(h)));
        }
    }

    /** vLLM's current map encoding of BlockStored (fields without a default always present). */
    private static EventWriter stored(long[] hashes, int[] tokens) {
        return p -> {
            p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes");
            packHashes(p, hashes);
            p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(tokens.length);
            for (int t : tokens) {
                p.packInt(t);
            }
            p.packString("block_size").packInt(16).packString("lora_id").packNil();
            p.packString("medium").packString("GPU").packString("lora_name").packNil();
        };
    }

    private static EventWriter removed(long[] hashes) {
        return p -> {
            p.packMapHeader(3).packString("type").packString("BlockRemoved").packString("block_hashes");
            packHashes(p, hashes);
            p.packString("medium").packString("GPU");
        };
    }

    private long longestMatched(List<Integer> prompt) throws Exception {
        Map<?, ?> instances = (Map<?, ?>) server.post("/query", WireFormat.MSGPACK, map("model", "qwen",
                "block_size", 16, "token_ids", prompt)).map().get("instances");
        Map<?, ?> e2e = (Map<?, ?>) instances.get("e2e");
        return e2e == null ? -1 : (Long) e2e.get("longest_matched");
    }

    private long metric(String line) throws Exception {
        for (String l : server.metricsText().split("\n")) {
            if (l.startsWith(line + " ")) {
                return (long) Double.parseDouble(l.substring(line.length() + 1));
            }
        }
        return 0;
    }

    @Test
    void shouldIndexPublishedBlocksAndForgetThemWhenUnregistered() throws Exception {
        List<Integer> prompt = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            prompt.add(31 * i + 7);
        }
        int[] tokens = prompt.stream().mapToInt(Integer::intValue).toArray();
        Map<String, Object> reg = ApiTestServer.registration("e2e", 0, endpoint);
        ((Map<String, Object>) reg.get("hash_profile")).put("algorithm", "sha256");

        assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        awaitSubscription(1);
        long[] hashes = server.hashes(CONTEXT, tokens);
        long queriesBefore = metric("conductor_query_tokens_total{model_name=\"qwen\"}");
        publish(batch(stored(hashes, tokens)));
        await("4 blocks visible", () -> {
            try {
                return longestMatched(prompt) == 64;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        publish(batch(removed(Arrays.copyOfRange(hashes, 2, 4))));
        await("2 blocks removed", () -> {
            try {
                return longestMatched(prompt) == 32;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        assertEquals(1, metric("conductor_events_total{dp_rank=\"0\",instance_id=\"e2e\",medium=\"gpu\",tenant=\"default\",type=\"blocks_stored\"}"));
        assertEquals(1, metric("conductor_events_total{dp_rank=\"0\",instance_id=\"e2e\",medium=\"gpu\",tenant=\"default\",type=\"blocks_removed\"}"));
        assertEquals(2, metric("conductor_event_batches_total{dp_rank=\"0\",instance_id=\"e2e\",tenant=\"default\"}"));
        assertEquals(2, metric("conductor_index_blocks"));
        assertTrue(metric("conductor_query_tokens_total{model_name=\"qwen\"}") >= queriesBefore + 128);
        assertTrue(metric("conductor_query_matched_tokens_total{model_name=\"qwen\",tier=\"gpu\"}") >= 96);
        assertEquals(1, metric("conductor_event_streams{state=\"live\"}"));
        Map<?, ?> service = (Map<?, ?>) ((List<?>) server.get("/services", "").map().get("services")).getFirst();
        assertEquals("live", service.get("StreamState"));

        ApiTestServer.Response unregistered = server.post("/unregister", WireFormat.MSGPACK,
                map("instance_id", "e2e", "dp_rank", 0));
        publish(batch(stored(hashes, tokens)));
        awaitSubscription(0);
        publish(batch(stored(hashes, tokens)));

        assertEquals(200, unregistered.status());
        assertEquals(map("instances", map()), server.post("/query", WireFormat.MSGPACK, map("model", "qwen",
                "block_size", 16, "token_ids", prompt)).body());
        assertEquals(0, server.index.stats().blocks());
        assertEquals(0, metric("conductor_index_blocks"));
        assertEquals(0, metric("conductor_event_streams{state=\"live\"}"));
        assertEquals(map("context_count", 0L, "contexts", List.of()), server.get("/global_view", "").body());
    }

    @Test
    void shouldMatchQueriesInTokenRehashModeWhenNoProfileIsRegistered() throws Exception {
        List<Integer> prompt = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            prompt.add(1000 + i);
        }
        int[] tokens = prompt.stream().mapToInt(Integer::intValue).toArray();
        Map<String, Object> reg = ApiTestServer.registration("e2e", 0, endpoint);
        reg.remove("hash_profile");
        // Engine hashes nobody can reproduce (e.g. an unset PYTHONHASHSEED): arbitrary values.
        long[] engineHashes = {0x1111L, 0x2222L, 0x3333L};

        assertEquals(200, server.post("/register", WireFormat.JSON, reg).status());
        awaitSubscription(1);
        publish(batch(stored(engineHashes, tokens)));
        await("3 rehashed blocks visible", () -> {
            try {
                return longestMatched(prompt) == 48;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        publish(batch(removed(new long[] {0x3333L})));
        await("last block removed through the engine-hash map", () -> {
            try {
                return longestMatched(prompt) == 32;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static byte[] mooncakeBatch(String[] kinds, String[] media, long[] hashes) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packLong(System.currentTimeMillis()).packArrayHeader(kinds.length);
        for (int i = 0; i < kinds.length; i++) {
            p.packMapHeader(7).packString("event_id").packLong(i + 1L).packString("event_type").packString(kinds[i]);
            p.packString("tenant_id").packString("default").packString("backend_id").packString("pool-a");
            p.packString("medium").packString(media[i]).packString("model_name").packString("qwen");
            // A vLLM connector key: its last segment's rightmost 16 hex digits are the block's published hash.
            p.packString("object_key").packString("qwen@tp_rank:0@pcp0@dcp0@pp_rank:0@0123456789abcdef"
                    + String.format("%016x", hashes[i]));
        }
        p.packInt(0);
        return p.toByteArray();
    }

    @Test
    void shouldWalkGpuThenSharedPoolTiersWhenAMooncakeStorePublishes() throws Exception {
        List<Integer> prompt = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            prompt.add(5 * i + 1);
        }
        int[] tokens = prompt.stream().mapToInt(Integer::intValue).toArray();
        ZMQ.Socket store = zmq.createSocket(SocketType.XPUB);
        store.setReceiveTimeOut(200);
        store.bind("tcp://127.0.0.1:*");
        Map<String, Object> engine = ApiTestServer.registration("e2e", 0, endpoint);
        Map<String, Object> pool = ApiTestServer.registration("pool", 0, store.getLastEndpoint());
        pool.put("type", "Mooncake");

        assertEquals(200, server.post("/register", WireFormat.MSGPACK, engine).status());
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, pool).status());
        awaitSubscription(1);
        await("store subscription", () -> {
            byte[] msg = store.recv();
            return msg != null && msg.length >= 1 && msg[0] == 1;
        });
        long[] hashes = server.hashes(CONTEXT, tokens);
        publish(batch(stored(Arrays.copyOfRange(hashes, 0, 2), Arrays.copyOfRange(tokens, 0, 32))));
        long[] storeSeq = {1};
        java.util.function.Consumer<byte[]> storePublish = payload -> {
            store.sendMore(new byte[0]);
            store.sendMore(ByteBuffer.allocate(8).putLong(storeSeq[0]++).array());
            store.send(payload);
        };
        storePublish.accept(mooncakeBatch(new String[] {"stored", "stored"}, new String[] {"cpu", "disk"},
                new long[] {hashes[2], hashes[3]}));
        await("GPU, CPU and disk phases", () -> {
            try {
                return longestMatched(prompt) == 64;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Map<?, ?> full = (Map<?, ?>) ((Map<?, ?>) server.post("/query", WireFormat.MSGPACK, map("model", "qwen",
                "block_size", 16, "token_ids", prompt)).map().get("instances")).get("e2e");
        storePublish.accept(mooncakeBatch(new String[] {"removed"}, new String[] {"cpu"}, new long[] {hashes[2]}));
        await("CPU block removed", () -> {
            try {
                return longestMatched(prompt) == 32;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        assertEquals(map("longest_matched", 64L, "dp", map("0", 32L), "rank_matches",
                map("0", map("gpu", 32L, "cpu", 48L, "disk", 64L)), "gpu", 32L, "cpu", 48L, "disk", 64L), full);
        assertEquals(1, metric("conductor_events_total{dp_rank=\"0\",instance_id=\"pool\",medium=\"cpu\",tenant=\"default\",type=\"object_stored\"}"));
        assertEquals(1, metric("conductor_events_total{dp_rank=\"0\",instance_id=\"pool\",medium=\"disk\",tenant=\"default\",type=\"object_stored\"}"));
        assertEquals(200, server.post("/unregister", WireFormat.MSGPACK, map("instance_id", "pool", "dp_rank", 0))
                .status());
        // The pool's remaining binding (block 3 on disk) left with it; the engine's two GPU blocks stay.
        assertEquals(2, server.index.stats().blocks());
    }
}
