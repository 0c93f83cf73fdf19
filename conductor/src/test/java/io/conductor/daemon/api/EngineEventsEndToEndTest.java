package io.conductor.daemon.api;

import static io.conductor.daemon.api.ApiTestServer.map;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.daemon.Daemon;
import io.conductor.daemon.DaemonSettings;
import io.conductor.daemon.config.ConfigLoader;
import io.conductor.daemon.service.ConductorApiExtension;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.HashProfile;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.ArrayList;
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
 * Issue 13 end to end with real parts: real XPUB sockets on loopback publishing msgpack batches as vLLM, SGLang
 * and the Mooncake master write them, the real subscriber, sink, index and HTTP server. Covers the storage and
 * unknown media, SGLang salts (no cross-hit), EAGLE pages, SGLang's native hashes, the skip counters, vLLM-Ascend
 * keys and LMCache-offloaded chunks on the store tier.
 */
class EngineEventsEndToEndTest {
    private static final long DEADLINE_MS = 60_000;

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

    /** One publisher: an XPUB so the test sees the subscription arrive before publishing. */
    private final class Pub {
        final ZMQ.Socket socket = zmq.createSocket(SocketType.XPUB);
        final String endpoint;
        long seq;

        Pub() {
            socket.setReceiveTimeOut(200);
            socket.bind("tcp://127.0.0.1:*");
            endpoint = socket.getLastEndpoint();
        }

        void awaitSubscribed() throws InterruptedException {
            await("subscription", () -> {
                byte[] msg = socket.recv();
                return msg != null && msg.length >= 1 && msg[0] == 1;
            });
        }

        void publish(byte[] payload) {
            socket.sendMore(new byte[0]);
            socket.sendMore(ByteBuffer.allocate(8).putLong(seq++).array());
            socket.send(payload);
        }
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

    @FunctionalInterface
    private interface Writer {
        void write(MessageBufferPacker p) throws Exception;
    }

    private static byte[] batch(Writer... events) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(events.length);
        for (Writer e : events) {
            e.write(p);
        }
        p.packInt(0);
        return p.toByteArray();
    }

    private static void unsigned(MessageBufferPacker p, long h) throws Exception {
        p.packBigInteger(new BigInteger(Long.toUnsignedString(h)));
    }

    /** vLLM's map BlockStored (block size 16) on a medium, parent nil. */
    private static Writer vllmStored(long[] hashes, int[] tokens, String medium) {
        return p -> {
            p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes")
                    .packArrayHeader(hashes.length);
            for (long h : hashes) {
                unsigned(p, h);
            }
            p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(tokens.length);
            for (int t : tokens) {
                p.packInt(t);
            }
            p.packString("block_size").packInt(16).packString("lora_id").packNil();
            p.packString("medium").packString(medium).packString("lora_name").packNil();
        };
    }

    /** SGLang's tagged-map BlockStored of one page (sglang #37482), signed hash, optional top-level salt. */
    private static Writer sglangPage(long hash, Long parent, int[] page, String salt, boolean eagle) {
        return p -> {
            p.packMapHeader(salt == null ? 7 : 9).packString("type").packString("BlockStored")
                    .packString("block_hashes").packArrayHeader(1).packLong(hash);
            p.packString("parent_block_hash");
            if (parent == null) {
                p.packNil();
            } else {
                p.packLong(parent);
            }
            p.packString("token_ids").packArrayHeader(page.length - (eagle ? 1 : 0));
            for (int j = 0; j < page.length - (eagle ? 1 : 0); j++) {
                if (eagle) {
                    p.packArrayHeader(2).packInt(page[j]).packInt(page[j + 1]);
                } else {
                    p.packInt(page[j]);
                }
            }
            p.packString("block_size").packInt(16).packString("lora_id").packNil().packString("medium")
                    .packString("GPU");
            if (salt != null) {
                p.packString("cache_salt").packString(salt).packString("session_id").packString("sess-1");
            }
        };
    }

    private static List<Integer> prompt(int n, int seed) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(seed + 7 * i);
        }
        return out;
    }

    private static int[] array(List<Integer> tokens) {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int[] slice(int[] a, int from, int to) {
        return java.util.Arrays.copyOfRange(a, from, to);
    }

    private static long[] slice(long[] a, int from, int to) {
        return java.util.Arrays.copyOfRange(a, from, to);
    }

    private Map<?, ?> instances(Map<String, Object> query) throws Exception {
        return (Map<?, ?>) server.post("/query", WireFormat.MSGPACK, query).map().get("instances");
    }

    private long longest(Map<String, Object> query, String instance) throws Exception {
        Map<?, ?> m = (Map<?, ?>) instances(query).get(instance);
        return m == null ? 0 : (Long) m.get("longest_matched");
    }

    private long metric(String line) throws Exception {
        for (String l : server.metricsText().split("\n")) {
            if (l.startsWith(line + " ")) {
                return (long) Double.parseDouble(l.substring(line.length() + 1));
            }
        }
        return -1;
    }

    private Map<?, ?> service(String instance) throws Exception {
        for (Object s : (List<?>) server.get("/services", "").map().get("services")) {
            if (instance.equals(((Map<?, ?>) s).get("InstanceID"))) {
                return (Map<?, ?>) s;
            }
        }
        throw new AssertionError("no service " + instance);
    }

    @Test
    void shouldIndexStorageAndMadeUpMediaOnTheOutermostTierAndCountThemByName() throws Exception {
        // slf4j-simple looks System.err up on every log call: capture the warnings of this test's stream.
        java.io.PrintStream originalErr = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(new java.io.OutputStream() {
            @Override
            public void write(int b) {
                originalErr.write(b);
                synchronized (captured) {
                    captured.write(b);
                }
            }

            @Override
            public void write(byte[] b, int off, int len) {
                originalErr.write(b, off, len);
                synchronized (captured) {
                    captured.write(b, off, len);
                }
            }
        }, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            publishStorageAndMadeUpMedia();
        } finally {
            System.setErr(originalErr);
        }
        String log;
        synchronized (captured) {
            log = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
        }
        assertEquals(1, log.lines().filter(l -> l.contains("event=unknown_medium") && l.contains("instance_id=e1")
                && l.contains("medium=\"NVME_TIER\"")).count(), log);
    }

    private void publishStorageAndMadeUpMedia() throws Exception {
        Pub pub = new Pub();
        int[] tokens = array(prompt(64, 3));
        assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                ApiTestServer.registration("e1", 0, pub.endpoint)).status());
        pub.awaitSubscribed();
        long[] h = server.hashes(new io.conductor.index.prefix.ContextKey("default", "qwen", 16), tokens);
        pub.publish(batch(vllmStored(slice(h, 0, 1), slice(tokens, 0, 16), "GPU"),
                vllmStored(slice(h, 1, 2), slice(tokens, 16, 32), "STORAGE")));
        pub.publish(batch(vllmStored(slice(h, 2, 3), slice(tokens, 32, 48), "NVME_TIER"),
                vllmStored(slice(h, 3, 4), slice(tokens, 48, 64), "NVME_TIER")));
        Map<String, Object> q = map("model", "qwen", "block_size", 16, "token_ids", prompt(64, 3));
        await("4 blocks on GPU then disk", () -> {
            try {
                return longest(q, "e1") == 64;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        Map<?, ?> e1 = (Map<?, ?>) instances(q).get("e1");
        assertEquals(16L, e1.get("gpu"));
        assertEquals(64L, e1.get("disk"));
        assertEquals(2, metric("conductor_events_unknown_medium_total{dp_rank=\"0\",instance_id=\"e1\","
                + "medium=\"nvme_tier\",tenant=\"default\"}"));
        assertEquals(0, metric("conductor_events_skipped_total{dp_rank=\"0\",instance_id=\"e1\","
                + "reason=\"non_primary_group\",tenant=\"default\"}"));
        assertEquals(Map.of(), service("e1").get("SkippedEvents"));
    }

    @Test
    void shouldKeepSaltedAndUnsaltedSglangStreamsApartAndFindEaglePagesByTheirTokens() throws Exception {
        Pub salted = new Pub();
        Pub plain = new Pub();
        Pub eagle = new Pub();
        for (String[] r : new String[][] {{"salted", salted.endpoint}, {"plain", plain.endpoint},
            {"eagle", eagle.endpoint}}) {
            Map<String, Object> reg = ApiTestServer.registration(r[0], 0, r[1]);
            reg.put("type", "SGLang");
            reg.remove("hash_profile");
            assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        }
        salted.awaitSubscribed();
        plain.awaitSubscribed();
        eagle.awaitSubscribed();
        int[] tokens = array(prompt(33, 100));
        // Engine hashes are opaque in token-rehash mode: SGLang's own values would do, any distinct ones too.
        salted.publish(batch(sglangPage(11, null, slice(tokens, 0, 16), "tenant-a", false),
                sglangPage(12, 11L, slice(tokens, 16, 32), "tenant-a", false)));
        plain.publish(batch(sglangPage(11, null, slice(tokens, 0, 16), null, false),
                sglangPage(12, 11L, slice(tokens, 16, 32), null, false)));
        eagle.publish(batch(sglangPage(21, null, slice(tokens, 0, 17), null, true),
                sglangPage(22, 21L, slice(tokens, 16, 33), null, true)));
        Map<String, Object> unsaltedQuery = map("model", "qwen", "block_size", 16, "token_ids",
                prompt(33, 100).subList(0, 32));
        Map<String, Object> saltedQuery = map("model", "qwen", "block_size", 16, "token_ids",
                prompt(33, 100).subList(0, 32), "cache_salt", "tenant-a");
        await("every stream indexed", () -> {
            try {
                return longest(saltedQuery, "salted") == 32 && longest(unsaltedQuery, "plain") == 32
                        && longest(unsaltedQuery, "eagle") == 32;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        assertEquals(0L, longest(saltedQuery, "plain"), "salted query must not hit the unsalted stream");
        assertEquals(0L, longest(saltedQuery, "eagle"));
        assertEquals(0L, longest(unsaltedQuery, "salted"), "unsalted query must not hit the salted stream");
        assertEquals(32L, longest(saltedQuery, "salted"));
        Map<?, ?> route = server.post("/route", WireFormat.MSGPACK, map("model", "qwen", "block_size", 16,
                "token_ids", prompt(33, 100).subList(0, 32), "cache_salt", "tenant-a")).map();
        assertEquals("salted", route.get("instance_id"), route.toString());
    }

    /** vLLM's map BlockStored of a salted request's first blocks: the salt is in block 0's extra keys. */
    private static Writer vllmSalted(long[] hashes, int[] tokens, String salt) {
        return p -> {
            p.packMapHeader(9).packString("type").packString("BlockStored").packString("block_hashes")
                    .packArrayHeader(hashes.length);
            for (long h : hashes) {
                unsigned(p, h);
            }
            p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(tokens.length);
            for (int t : tokens) {
                p.packInt(t);
            }
            p.packString("block_size").packInt(16).packString("lora_id").packNil();
            p.packString("medium").packString("GPU").packString("lora_name").packNil();
            p.packString("extra_keys").packArrayHeader(hashes.length).packArrayHeader(1).packString(salt);
            for (int i = 1; i < hashes.length; i++) {
                p.packNil();
            }
        };
    }

    @Test
    void shouldKeepSaltedVllmBlocksApartInTokenRehashMode() throws Exception {
        Pub salted = new Pub();
        Pub plain = new Pub();
        for (String[] r : new String[][] {{"v-salted", salted.endpoint}, {"v-plain", plain.endpoint}}) {
            Map<String, Object> reg = ApiTestServer.registration(r[0], 0, r[1]);
            reg.remove("hash_profile");
            assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        }
        salted.awaitSubscribed();
        plain.awaitSubscribed();
        int[] tokens = array(prompt(32, 500));
        salted.publish(batch(vllmSalted(new long[] {41, 42}, tokens, "tenant-a")));
        plain.publish(batch(vllmStored(new long[] {41, 42}, tokens, "GPU")));
        Map<String, Object> unsaltedQuery = map("model", "qwen", "block_size", 16, "token_ids", prompt(32, 500));
        Map<String, Object> saltedQuery = map("model", "qwen", "block_size", 16, "token_ids", prompt(32, 500),
                "cache_salt", "tenant-a");
        await("both streams indexed", () -> {
            try {
                return longest(saltedQuery, "v-salted") == 32 && longest(unsaltedQuery, "v-plain") == 32;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        assertEquals(0L, longest(saltedQuery, "v-plain"));
        assertEquals(0L, longest(unsaltedQuery, "v-salted"));
    }

    @Test
    void shouldQuerySglangNativeHashesDirectlyWithTheSglangProfile() throws Exception {
        Pub pub = new Pub();
        Map<String, Object> reg = ApiTestServer.registration("native", 0, pub.endpoint);
        reg.put("type", "SGLang");
        reg.put("hash_profile", map("strategy", "sglang", "algorithm", "sha256", "python_hash_seed", "0",
                "index_projection", "high64_be"));
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        pub.awaitSubscribed();
        int[] tokens = new int[48];
        List<Integer> prompt = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            tokens[i] = i + 1;
            prompt.add(i + 1);
        }
        long[] sglang = {8635429971592222890L, 1256577331724852459L, 5689809685380680247L};   // events.md 4
        pub.publish(batch(sglangPage(sglang[0], null, slice(tokens, 0, 16), null, false),
                sglangPage(sglang[1], sglang[0], slice(tokens, 16, 32), null, false),
                sglangPage(sglang[2], sglang[1], slice(tokens, 32, 48), null, false)));
        Map<String, Object> q = map("model", "qwen", "block_size", 16, "token_ids", prompt);
        await("three native pages", () -> {
            try {
                return longest(q, "native") == 48;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        Map<?, ?> byHash = (Map<?, ?>) server.post("/query_by_hash", WireFormat.MSGPACK, map("model", "qwen",
                "block_size", 16, "seq_hashes", List.of(sglang[0], sglang[1], sglang[2]))).map().get("instances");
        assertEquals(48L, ((Map<?, ?>) byHash.get("native")).get("longest_matched"));
    }

    @Test
    void shouldQuerySglangNativeHashesOfAStaticConfigEntryWithTheSglangProfile() throws Exception {
        Pub pub = new Pub();
        String config = """
                {"http_server_port": 0, "kvevent_instance": {
                  "sg-0": {"type": "SGLang", "endpoint": "%s", "modelname": "qwen", "block_size": 16,
                           "hash_profile": {"strategy": "sglang"}}}}
                """.formatted(pub.endpoint);
        HttpClient client = HttpClient.newHttpClient();
        try (Daemon daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"),
                ConfigLoader.parse(config, "test", false).config(),
                List.of(new ConductorApiExtension(ZmqEventStreams::withDefaults, ApiLimits.defaults())))) {
            pub.awaitSubscribed();
            int[] tokens = new int[48];
            for (int i = 0; i < 48; i++) {
                tokens[i] = i + 1;
            }
            long[] sglang = {8635429971592222890L, 1256577331724852459L, 5689809685380680247L};   // events.md 4
            pub.publish(batch(sglangPage(sglang[0], null, slice(tokens, 0, 16), null, false),
                    sglangPage(sglang[1], sglang[0], slice(tokens, 16, 32), null, false),
                    sglangPage(sglang[2], sglang[1], slice(tokens, 32, 48), null, false)));
            String byHash = "{\"model\":\"qwen\",\"block_size\":16,\"seq_hashes\":[" + sglang[0] + ","
                    + sglang[1] + "," + sglang[2] + "]}";
            String[] answer = new String[1];
            await("three native pages by hash", () -> {
                try {
                    answer[0] = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port()
                            + "/query_by_hash")).header("Content-Type", "application/json").POST(
                            HttpRequest.BodyPublishers.ofString(byHash)).build(),
                            HttpResponse.BodyHandlers.ofString()).body();
                    return answer[0].contains("\"longest_matched\":48");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });

            JsonNode instance = new ObjectMapper().readTree(answer[0]).get("instances").get("sg-0");
            assertEquals(48, instance.get("longest_matched").asInt(), answer[0]);
        }
    }

    @Test
    void shouldCountEveryEventThatDoesNotReachTheIndexByReason() throws Exception {
        Pub pub = new Pub();
        Map<String, Object> reg = ApiTestServer.registration("rehash", 0, pub.endpoint);
        reg.remove("hash_profile");
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        pub.awaitSubscribed();
        int[] tokens = array(prompt(32, 9));
        Writer orphan = p -> {
            p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes")
                    .packArrayHeader(1).packLong(77).packString("parent_block_hash").packLong(76)
                    .packString("token_ids").packArrayHeader(16);
            for (int i = 0; i < 16; i++) {
                p.packInt(i);
            }
            p.packString("block_size").packInt(16).packString("lora_id").packNil().packString("medium")
                    .packString("GPU").packString("lora_name").packNil();
        };
        Writer slidingWindow = p -> {
            p.packMapHeader(10).packString("type").packString("BlockStored").packString("block_hashes")
                    .packArrayHeader(1).packLong(78).packString("parent_block_hash").packNil()
                    .packString("token_ids").packArrayHeader(16);
            for (int i = 0; i < 16; i++) {
                p.packInt(i);
            }
            p.packString("block_size").packInt(16).packString("lora_id").packNil().packString("medium")
                    .packString("GPU").packString("lora_name").packNil().packString("group_idx").packInt(1)
                    .packString("kv_cache_spec_kind").packString("sliding_window");
        };
        pub.publish(batch(orphan, slidingWindow, vllmStored(new long[] {5, 6}, slice(tokens, 0, 24), "GPU"),
                vllmStored(new long[] {1, 2}, tokens, "GPU")));
        String prefix = "conductor_events_skipped_total{dp_rank=\"0\",instance_id=\"rehash\",reason=\"";
        await("skips counted", () -> {
            try {
                return metric(prefix + "token_count_mismatch\",tenant=\"default\"}") == 1;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        assertEquals(1, metric(prefix + "unknown_parent\",tenant=\"default\"}"));
        assertEquals(1, metric(prefix + "non_primary_group\",tenant=\"default\"}"));
        assertEquals(Map.of("unknown_parent", 1L, "non_primary_group", 1L, "token_count_mismatch", 1L),
                service("rehash").get("SkippedEvents"));
        assertEquals(32L, longest(map("model", "qwen", "block_size", 16, "token_ids", prompt(32, 9)), "rehash"));
    }

    private static Writer storeEvent(long id, String type, String medium, String objectKey) {
        return p -> {
            p.packMapHeader(6).packString("event_id").packLong(id).packString("event_type").packString(type)
                    .packString("tenant_id").packString("default").packString("backend_id").packString("store-a")
                    .packString("medium").packString(medium).packString("object_key").packString(objectKey);
        };
    }

    private static byte[] storeBatch(Writer... events) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packLong(System.currentTimeMillis()).packArrayHeader(events.length);
        for (Writer e : events) {
            e.write(p);
        }
        p.packInt(0);
        return p.toByteArray();
    }

    private static String hex(long h) {
        return "00112233445566778899aabbccddeeff" + String.format("%016x", h);
    }

    @Test
    void shouldIndexEveryVllmAscendKeyFormAndSkipStateObjects() throws Exception {
        Pub engine = new Pub();
        Pub store = new Pub();
        assertEquals(200, server.post("/register", WireFormat.MSGPACK,
                ApiTestServer.registration("e1", 0, engine.endpoint)).status());
        Map<String, Object> pool = ApiTestServer.registration("pool", 0, store.endpoint);
        pool.put("type", "Mooncake");
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, pool).status());
        engine.awaitSubscribed();
        store.awaitSubscribed();
        int[] tokens = array(prompt(80, 5));
        long[] h = server.hashes(new io.conductor.index.prefix.ContextKey("default", "qwen", 16), tokens);
        engine.publish(batch(vllmStored(slice(h, 0, 1), slice(tokens, 0, 16), "GPU")));
        store.publish(storeBatch(
                storeEvent(1, "stored", "cpu", "qwen@pcp0@dcp0@head_or_tp_rank:0@pp_rank:0@" + hex(h[1])),
                storeEvent(2, "stored", "cpu", "qwen@pcp0@dcp0@head_or_tp_rank:0@" + hex(h[2]) + "@3"),
                storeEvent(3, "stored", "cpu", "qwen@pcp0@dcp0@head_or_tp_rank:0@group:0@cache_role:kv"
                        + "@cache_family:attention@layer_id:5@" + hex(h[3])),
                storeEvent(4, "stored", "cpu", "qwen@pcp0@dcp0@head_or_tp_rank:0@group:1@cache_role:state"
                        + "@cache_family:mamba@layer_id:5@" + hex(h[4])),
                storeEvent(5, "stored", "disk", "prefix@qwen@tp_rank:0@pcp0@dcp0@pp_rank:0@group:0@" + hex(h[4]))));
        Map<String, Object> q = map("model", "qwen", "block_size", 16, "token_ids", prompt(80, 5));
        await("five blocks through every key form", () -> {
            try {
                return longest(q, "e1") == 80;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        assertEquals(Map.of("state_object", 1L), service("pool").get("SkippedEvents"));
        // Absent (-1) or at zero: either way no key form was unindexable.
        assertTrue(metric("conductor_event_decode_errors_total{dp_rank=\"0\",instance_id=\"pool\","
                + "reason=\"unindexable_key\",tenant=\"default\"}") <= 0, "no key form is unindexable");
    }

    @Test
    void shouldCountLmcacheChunksOnTheStoreTierOnlyWhenEveryWorkersObjectIsPresent() throws Exception {
        Pub engine = new Pub();
        Pub store = new Pub();
        Map<String, Object> lmcacheProfile = map("strategy", "lmcache", "algorithm", "sha256_cbor",
                "python_hash_seed", "0", "index_projection", "low64_be");
        Map<String, Object> reg = ApiTestServer.registration("e1", 0, engine.endpoint);
        reg.put("block_size", 256);
        reg.put("hash_profile", lmcacheProfile);
        Map<String, Object> pool = ApiTestServer.registration("lmcache-store", 0, store.endpoint);
        pool.put("type", "Mooncake");
        pool.put("block_size", 256);
        pool.put("hash_profile", lmcacheProfile);
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, reg).status());
        assertEquals(200, server.post("/register", WireFormat.MSGPACK, pool).status());
        engine.awaitSubscribed();
        store.awaitSubscribed();
        List<Integer> prompt = prompt(700, 40);        // two full 256-token chunks and a partial one
        int[] tokens = array(prompt);
        // LMCache's chunk chain is vLLM's chain over 256-token chunks without extra keys (hashing.md, lmcache).
        BlockHashChain chain = new BlockHashChain().reset(HashProfile.of(
                io.conductor.index.hash.HashAlgorithm.SHA256_CBOR, "0"), 256, tokens, HashExtras.NONE);
        assertEquals(2, chain.blockCount());
        byte[] digest = new byte[32];
        String[] chunkHex = new String[2];
        for (int i = 0; i < 2; i++) {
            chain.copyDigest(i, digest, 0);
            chunkHex[i] = java.util.HexFormat.of().formatHex(digest);     // LMCache writes bytes hashes as hex
        }
        // world size 2: chunk 0 from both workers, chunk 1 only from worker 0 (worker 1 still writing)
        store.publish(storeBatch(
                storeEvent(1, "stored", "cpu", "qwen@2@0@" + chunkHex[0] + "@bfloat16"),
                storeEvent(2, "stored", "cpu", "qwen@2@1@" + chunkHex[0] + "@bfloat16"),
                storeEvent(3, "stored", "cpu", "qwen@2@0@" + chunkHex[1] + "@bfloat16")));
        Map<String, Object> q = map("model", "qwen", "block_size", 256, "token_ids", prompt);
        await("chunk 0 complete", () -> {
            try {
                return longest(q, "e1") == 256;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // held: chunk 0's first worker object (until the second came), chunk 1's worker 0 object
        assertEquals(Map.of("chunk_incomplete", 2L), service("lmcache-store").get("SkippedEvents"));

        store.publish(storeBatch(storeEvent(4, "stored", "cpu", "qwen@2@1@" + chunkHex[1] + "@bfloat16")));
        await("chunk 1 complete", () -> {
            try {
                return longest(q, "e1") == 512;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        assertEquals(512L, ((Map<?, ?>) instances(q).get("e1")).get("cpu"));

        store.publish(storeBatch(storeEvent(5, "removed", "cpu", "qwen@2@0@" + chunkHex[1] + "@bfloat16")));
        await("chunk 1 incomplete again", () -> {
            try {
                return longest(q, "e1") == 256;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }
}
