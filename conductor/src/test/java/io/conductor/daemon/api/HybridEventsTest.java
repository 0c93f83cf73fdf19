package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.index.prefix.ContextKey;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * Hybrid models end to end: contexts registered over {@code /register} with their KV-cache groups, vLLM's
 * per-group {@code BlockStored} / {@code BlockRemoved} events (map and array encodings, with {@code group_idx},
 * {@code kv_cache_spec_kind} and {@code kv_cache_spec_sliding_window}) published on real XPUB sockets, and
 * {@code /query} answering with the prefix the engine's hybrid coordinator reuses.
 */
class HybridEventsTest {
    private static final long DEADLINE_MS = 60_000;
    private static final ContextKey GEMMA = new ContextKey("default", "gemma", 16);
    private static final ContextKey PLAIN = new ContextKey("default", "qwen", 16);

    private ApiTestServer server;
    private ZContext zmq;

    @BeforeEach
    void start() {
        server = new ApiTestServer(ApiLimits.defaults(), ZmqEventStreams.withDefaults());
        zmq = new ZContext();
    }

    @AfterEach
    void stop() {
        server.close();
        zmq.close();
    }

    /** One engine's PUB side on loopback. */
    private final class Engine {
        final ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
        final String endpoint;
        long seq;

        Engine() throws InterruptedException {
            pub.setReceiveTimeOut(200);
            pub.bind("tcp://127.0.0.1:*");
            endpoint = pub.getLastEndpoint();
        }

        void awaitSubscribed() throws InterruptedException {
            await(() -> {
                byte[] msg = pub.recv();
                return msg != null && msg.length >= 1 && msg[0] == 1 ? 1 : 0;
            }, 1, "subscription");
        }

        void publish(EventWriter... events) throws Exception {
            MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
            p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(events.length);
            for (EventWriter e : events) {
                e.write(p);
            }
            p.packInt(0);
            pub.sendMore(new byte[0]);
            pub.sendMore(ByteBuffer.allocate(8).putLong(seq++).array());
            pub.send(p.toByteArray());
        }
    }

    @FunctionalInterface
    private interface EventWriter {
        void write(MessageBufferPacker p) throws Exception;
    }

    private static void packHashes(MessageBufferPacker p, long[] hashes) throws Exception {
        p.packArrayHeader(hashes.length);
        for (long h : hashes) {
            p.packBigInteger(new BigInteger(Long.toUnsignedString(h)));
        }
    }

    /**
     * vLLM's current map encoding of one group's BlockStored: fields without a default always present, the
     * defaulted ones ({@code group_idx}, kind, window) omitted when nil.
     */
    private static EventWriter stored(int group, @Nullable String kind, @Nullable Integer window, int blockSize,
            long[] hashes, long parent, int[] tokens) {
        return p -> {
            int fields = 8 + (kind == null ? 0 : 1) + (window == null ? 0 : 1) + 1;
            p.packMapHeader(fields).packString("type").packString("BlockStored").packString("block_hashes");
            packHashes(p, hashes);
            p.packString("parent_block_hash");
            if (parent == 0) {
                p.packNil();
            } else {
                p.packBigInteger(new BigInteger(Long.toUnsignedString(parent)));
            }
            p.packString("token_ids").packArrayHeader(tokens.length);
            for (int t : tokens) {
                p.packInt(t);
            }
            p.packString("block_size").packInt(blockSize).packString("lora_id").packNil();
            p.packString("medium").packString("GPU").packString("lora_name").packNil();
            p.packString("group_idx").packInt(group);
            if (kind != null) {
                p.packString("kv_cache_spec_kind").packString(kind);
            }
            if (window != null) {
                p.packString("kv_cache_spec_sliding_window").packInt(window);
            }
        };
    }

    /** The legacy array encoding (vLLM up to v0.22): all 12 fields, trailing nils written. */
    private static EventWriter storedArray(int group, String kind, @Nullable Integer window, long[] hashes,
            long parent, int[] tokens) {
        return p -> {
            p.packArrayHeader(12).packString("BlockStored");
            packHashes(p, hashes);
            if (parent == 0) {
                p.packNil();
            } else {
                p.packBigInteger(new BigInteger(Long.toUnsignedString(parent)));
            }
            p.packArrayHeader(tokens.length);
            for (int t : tokens) {
                p.packInt(t);
            }
            p.packInt(16).packNil().packString("GPU").packNil().packNil().packInt(group).packString(kind);
            if (window == null) {
                p.packNil();
            } else {
                p.packInt(window);
            }
        };
    }

    private static EventWriter removed(int group, long... hashes) {
        return p -> {
            p.packMapHeader(4).packString("type").packString("BlockRemoved").packString("block_hashes");
            packHashes(p, hashes);
            p.packString("medium").packString("GPU").packString("group_idx").packInt(group);
        };
    }

    private static void await(LongSupplier value, long expected, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        long last = Long.MIN_VALUE;
        while ((last = value.getAsLong()) != expected) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": expected " + expected + ", last "
                        + last);
            }
            Thread.sleep(10);
        }
    }

    private LongSupplier longestMatched(String model, String instance, int[] tokens) {
        List<Integer> prompt = new ArrayList<>();
        for (int t : tokens) {
            prompt.add(t);
        }
        return () -> {
            try {
                Map<?, ?> instances = (Map<?, ?>) server.post("/query", WireFormat.MSGPACK, map("model", model,
                        "block_size", 16, "token_ids", prompt)).map().get("instances");
                Map<?, ?> e = instances == null ? null : (Map<?, ?>) instances.get(instance);
                return e == null ? -1 : (Long) e.get("longest_matched");
            } catch (Exception ex) {
                throw new IllegalStateException(ex);
            }
        };
    }

    private static int[] tokens(int n, int seed) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = seed + 7 * i;
        }
        return t;
    }

    private static Map<String, Object> gemmaGroups(Map<String, Object> reg) {
        reg.put("modelname", "gemma");
        reg.put("kv_cache_groups", List.of(map("kind", "full_attention"),
                map("kind", "sliding_window", "sliding_window", 64)));
        return reg;
    }

    @Test
    void shouldAnswerWhatTheSlidingWindowGroupAllowsWhenGroupZeroHoldsMoreBlocks() throws Exception {
        Engine hybrid = new Engine();
        Engine plain = new Engine();
        int[] tokens = tokens(128, 3);
        assertEquals(200, server.post("/register", WireFormat.JSON,
                gemmaGroups(ApiTestServer.registration("h", 0, hybrid.endpoint))).status());
        assertEquals(200, server.post("/register", WireFormat.JSON,
                ApiTestServer.registration("p", 0, plain.endpoint)).status());
        hybrid.awaitSubscribed();
        plain.awaitSubscribed();
        long[] h = server.hashes(GEMMA, tokens);
        assertEquals(8, h.length);
        assertTrue(Arrays.equals(h, server.hashes(PLAIN, tokens)), "one profile, one chain");

        // Group 0 (full attention) stores 8 blocks, the 64-token sliding-window group only the first 4.
        EventWriter full = stored(0, "full_attention", null, 16, h, 0, tokens);
        EventWriter window = stored(1, "sliding_window", 64, 16, Arrays.copyOf(h, 4), 0, Arrays.copyOf(tokens, 64));
        hybrid.publish(full, window);
        plain.publish(full, window);
        await(longestMatched("gemma", "h", tokens), 64, "hybrid answer: 4 blocks (window 0..3 before end 4)");
        await(longestMatched("qwen", "p", tokens), 128, "plain model unchanged: group 0 only");

        // The same group's later store in the legacy array encoding completes the window before the end.
        hybrid.publish(storedArray(1, "sliding_window", 64, Arrays.copyOfRange(h, 4, 8), h[3],
                Arrays.copyOfRange(tokens, 64, 128)));
        await(longestMatched("gemma", "h", tokens), 128, "window 4..7 before end 8");

        // A removal in the window group only: the end-8 and end-7 windows miss block 6, end 6 needs 2..5.
        hybrid.publish(removed(1, h[6]));
        await(longestMatched("gemma", "h", tokens), 96, "window group lost block 6");
        // A group-1 removal never touches group 0 (and a plain model ignores other groups' events).
        plain.publish(removed(1, h[6]));
        plain.publish(removed(0, h[7]));
        await(longestMatched("qwen", "p", tokens), 112, "plain: only group 0's removal counts");
        hybrid.publish(removed(0, h[1]));
        await(longestMatched("gemma", "h", tokens), 16, "full attention now holds only block 0");
    }

    @Test
    void shouldReuseUpToTheMambaStateBlockAtTheEnd() throws Exception {
        Engine e = new Engine();
        int[] tokens = tokens(160, 11);
        Map<String, Object> reg = ApiTestServer.registration("m", 0, e.endpoint);
        reg.put("modelname", "gemma");
        // Qwen3-Next style: full attention plus a Mamba group whose state blocks span 32 tokens.
        reg.put("kv_cache_groups", List.of(map("kind", "full_attention"), map("kind", "mamba", "block_size", 32)));
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        e.awaitSubscribed();
        long[] h = server.hashes(GEMMA, tokens);
        // Mamba "align" mode keeps states only at some ends and publishes those hashes (the chain hash of the
        // last 16-token block inside each 32-token block); token_ids span the skipped blocks too.
        e.publish(stored(0, "full_attention", null, 16, h, 0, tokens),
                stored(1, "mamba", null, 32, new long[] {h[3], h[5]}, 0, Arrays.copyOf(tokens, 96)));
        await(longestMatched("gemma", "m", tokens), 96, "state at 96 tokens");
        // A partial Mamba entry (block_size differs from the group's) is skipped, not misread as a state.
        e.publish(stored(1, "mamba", null, 16, new long[] {h[8]}, h[7], Arrays.copyOfRange(tokens, 128, 144)));
        e.publish(removed(1, h[5]));
        await(longestMatched("gemma", "m", tokens), 64, "state at 96 removed, the one at 64 remains");
        e.publish(stored(1, "mamba", null, 32, new long[] {h[9]}, h[7], Arrays.copyOfRange(tokens, 128, 160)));
        await(longestMatched("gemma", "m", tokens), 160, "state at the prompt's end");
        e.publish(removed(0, h[9]));
        await(longestMatched("gemma", "m", tokens), 64, "full attention no longer covers the last state");
    }

    @Test
    void shouldTranslateOtherGroupsThroughTheEngineHashMapInTokenRehashMode() throws Exception {
        Engine e = new Engine();
        int[] tokens = tokens(64, 5);
        Map<String, Object> reg = gemmaGroups(ApiTestServer.registration("r", 0, e.endpoint));
        reg.remove("hash_profile");
        assertEquals(200, server.post("/register", WireFormat.JSON, reg).status());
        e.awaitSubscribed();
        long[] engine = {0xA1L, 0xA2L, 0xA3L, 0xA4L};
        e.publish(stored(0, "full_attention", null, 16, engine, 0, tokens),
                stored(1, "sliding_window", 64, 16, Arrays.copyOf(engine, 3), 0, Arrays.copyOf(tokens, 48)));
        await(longestMatched("gemma", "r", tokens), 48, "end 3: window blocks 0..2 held");
        e.publish(stored(1, "sliding_window", 64, 16, new long[] {engine[3]}, engine[2],
                Arrays.copyOfRange(tokens, 48, 64)));
        await(longestMatched("gemma", "r", tokens), 64, "window complete");
        assertEquals(8, server.index.stats().blocks(), "4 blocks in each group");
        // Group 0 forgets block 3 first; the window group's later removal of it must still be translated.
        e.publish(removed(0, engine[3]));
        await(longestMatched("gemma", "r", tokens), 48, "full attention lost block 3");
        e.publish(removed(1, engine[3]));
        await(() -> server.index.stats().blocks(), 6, "window group's block 3 removed through the map");
        // A window-group hash the full-attention group never mapped cannot be translated: skipped, not indexed.
        e.publish(stored(1, "sliding_window", 64, 16, new long[] {0xBEEFL}, engine[3], Arrays.copyOf(tokens, 16)));
        e.publish(stored(0, "full_attention", null, 16, new long[] {engine[3]}, engine[2],
                Arrays.copyOfRange(tokens, 48, 64)));
        await(() -> server.index.stats().blocks(), 7, "group 0's block 3 back, the unmapped hash skipped");
    }

    @Test
    void shouldRejectBadOrConflictingGroupLayoutsWithAStructuredError() throws Exception {
        Engine e = new Engine();
        Map<String, Object> bad = ApiTestServer.registration("b", 0, e.endpoint);
        bad.put("kv_cache_groups", List.of(map("kind", "full_attention"), map("kind", "sliding_window")));
        ApiTestServer.Response r = server.post("/register", WireFormat.JSON, bad);
        assertEquals(400, r.status());
        assertEquals("invalid_value", r.map().get("reason"), r.body().toString());
        assertTrue(r.body().toString().contains("window"), r.body().toString());

        bad.put("kv_cache_groups", List.of(map("kind", "chunked_local_attention")));
        r = server.post("/register", WireFormat.JSON, bad);
        assertEquals(400, r.status());
        assertTrue(r.body().toString().contains("unsupported group kind"), r.body().toString());

        bad.put("kv_cache_groups", List.of(map("kind", "mamba", "block_size", 24)));
        r = server.post("/register", WireFormat.JSON, bad);
        assertEquals(400, r.status());
        assertTrue(r.body().toString().contains("multiple"), r.body().toString());

        Map<String, Object> store = gemmaGroups(ApiTestServer.registration("pool", 0, e.endpoint));
        store.put("type", "Mooncake");
        r = server.post("/register", WireFormat.JSON, store);
        assertEquals(400, r.status());
        assertTrue(r.body().toString().contains("Mooncake publishes none"), r.body().toString());

        assertEquals(200, server.post("/register", WireFormat.JSON,
                gemmaGroups(ApiTestServer.registration("g1", 0, e.endpoint))).status());
        Engine other = new Engine();
        Map<String, Object> conflicting = ApiTestServer.registration("g2", 0, other.endpoint);
        conflicting.put("modelname", "gemma");
        r = server.post("/register", WireFormat.JSON, conflicting);
        assertTrue(r.status() >= 400, r.body().toString());
        assertTrue(r.body().toString().contains("KV-cache group layout"), r.body().toString());

        // Once the context's last engine is gone, the context may be registered again with another layout.
        assertEquals(200, server.post("/unregister", WireFormat.JSON, map("instance_id", "g1", "dp_rank", 0))
                .status());
        assertEquals(200, server.post("/register", WireFormat.JSON, conflicting).status());
    }
}
