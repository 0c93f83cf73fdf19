package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.events.SubscriberConfig;
import java.nio.ByteBuffer;
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
 * Issue 15 point 10 (a): a token-rehash stream whose engine-hash table is full used to drop the rest of its blocks
 * silently while {@code conductor_events_total} counted them. Now each such event is counted as unindexed and the
 * stream shows DEGRADED. Real XPUB on loopback, real subscriber, sink, index and HTTP server.
 */
class RehashTableFullTest {
    private static final long DEADLINE_MS = 60_000;

    private ApiTestServer server;
    private ZContext zmq;
    private ZMQ.Socket pub;
    private long seq;

    @BeforeEach
    void start() {
        // A rehash table of 4 engine hashes, so the second 3-block store overflows it.
        server = new ApiTestServer(ApiLimits.defaults(), new ZmqEventStreams(SubscriberConfig.defaults(), 4));
        zmq = new ZContext();
        pub = zmq.createSocket(SocketType.XPUB);
        pub.setReceiveTimeOut(200);
        pub.bind("tcp://127.0.0.1:*");
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

    private void publish(byte[] payload) {
        pub.sendMore(new byte[0]);
        pub.sendMore(ByteBuffer.allocate(8).putLong(seq++).array());
        pub.send(payload);
    }

    private static byte[] storedBatch(long[] hashes, boolean hasParent, long parent, int firstToken)
            throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packDouble(System.currentTimeMillis() / 1000.0).packArrayHeader(1);
        p.packMapHeader(6).packString("type").packString("BlockStored").packString("block_hashes");
        p.packArrayHeader(hashes.length);
        for (long h : hashes) {
            p.packLong(h);
        }
        p.packString("parent_block_hash");
        if (hasParent) {
            p.packLong(parent);
        } else {
            p.packNil();
        }
        p.packString("token_ids").packArrayHeader(hashes.length * 16);
        for (int i = 0; i < hashes.length * 16; i++) {
            p.packInt(firstToken + i);
        }
        p.packString("block_size").packInt(16).packString("medium").packString("GPU");
        p.packInt(0);
        return p.toByteArray();
    }

    private String serviceState() throws Exception {
        List<?> services = (List<?>) server.get("/services", "").map().get("services");
        return services.isEmpty() ? "" : (String) ((Map<?, ?>) services.getFirst()).get("StreamState");
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
    void shouldCountAndDegradeInsteadOfDroppingBlocksSilentlyWhenTheRehashTableIsFull() throws Exception {
        Map<String, Object> reg = ApiTestServer.registration("full", 0, pub.getLastEndpoint());
        reg.remove("hash_profile");
        assertEquals(200, server.post("/register", WireFormat.JSON, reg).status());
        await("subscription", () -> {
            byte[] msg = pub.recv();
            return msg != null && msg.length >= 1 && msg[0] == 1;
        });

        publish(storedBatch(new long[] {11, 12, 13}, false, 0, 0));
        await("first store applied, live", () -> {
            try {
                return "live".equals(serviceState());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        publish(storedBatch(new long[] {14, 15, 16}, true, 13, 48));   // 6 > 4: the table is full

        await("the stream is degraded", () -> {
            try {
                return "degraded".equals(serviceState());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        assertEquals(1, metric("conductor_event_decode_errors_total{dp_rank=\"0\",instance_id=\"full\",reason=\"unindexed\",tenant=\"default\"}"));
        assertTrue(server.index.stats().blocks() == 3, "blocks " + server.index.stats().blocks());
    }
}
