package io.conductor.tests;

import static io.conductor.tests.ReplicaFixture.publishBatch;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.tests.ReplicaFixture.EventWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A token-rehash stream (vLLM registered without {@code hash_profile}: the conductor rehashes {@code token_ids})
 * restarted from the local snapshot file, as a real daemon process fed real vLLM events on a real ZMQ socket. With
 * the publisher gone the restored blocks are answered; with the publisher back, a {@code BlockRemoved} by engine
 * hash removes restored blocks (the engine-to-own hash map came back with them) and a {@code BlockStored} whose
 * parent is a restored block chains from it.
 */
class RehashSnapshotRestartIT {
    /** Engine hashes the conductor cannot reproduce (and does not try to: it rehashes the tokens). */
    private static final long[] ENGINE = {0x5A00_0000_0000_0001L, 0x5A00_0000_0000_0002L, 0x5A00_0000_0000_0003L,
        0x5A00_0000_0000_0004L, 0x5A00_0000_0000_0005L, 0x5A00_0000_0000_0006L, 0x5A00_0000_0000_0007L,
        0x5A00_0000_0000_0008L};

    @Test
    void shouldAnswerRestoredBlocksAndApplyLaterRemovalsByEngineHash() throws Exception {
        try (ReplicaFixture fx = new ReplicaFixture(); ZContext zmq = new ZContext()) {
            int pubPort = DaemonProcess.freePort();
            ZMQ.Socket pub = bindPublisher(zmq, pubPort);
            ReplicaFixture.EngineSpec spec = new ReplicaFixture.EngineSpec("rehash-0", pubPort, 0);
            int port = DaemonProcess.freePort();
            Path snapshot = fx.dir.resolve("state/index.snap");
            Path config = fx.config("c", port, List.of(spec), "\"snapshot\": {\"path\": \"" + snapshot
                + "\", \"interval_seconds\": 0, \"resume_timeout_seconds\": 3}");
            // No hash profile (token-rehash mode) and no replay endpoint (nothing serves one here).
            String text = Files.readString(config).replaceFirst("\"replay_endpoint\":\"[^\"]*\",", "")
                .replaceFirst(",\"hash_profile\":\\{[^}]*\\}", "");
            assertFalse(text.contains("hash_profile") || text.contains("replay_endpoint"), text);
            Files.writeString(config, text);
            int[] tokens = new int[128];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 2000 + 11 * i;
            }

            DaemonProcess d = fx.startDaemon(config, port);
            d.awaitHealthy(port, ReplicaFixture.DEADLINE);
            awaitSubscriber(pub);
            publishBatch(pub, 0, stored(ENGINE, 0, tokens));
            ReplicaFixture.await("the rehashed prompt indexed",
                () -> fx.longestMatched(port, "rehash-0", tokens) == 128);
            ReplicaFixture.stop(d);
            assertTrue(d.output().contains("event=snapshot_written trigger=shutdown"), d.output());
            pub.close();

            DaemonProcess restarted = fx.startDaemon(config, port);
            fx.awaitRestored(restarted, port);
            assertEquals(128, fx.longestMatched(port, "rehash-0", tokens), "publisher gone: restored blocks answered\n"
                + restarted.output());
            assertTrue(restarted.output().contains("event=snapshot_stream_restored"), restarted.output());

            // The publisher comes back and goes on from seq 1: evicts blocks 4..7 by engine hash.
            ZMQ.Socket back = bindPublisher(zmq, pubPort);
            awaitSubscriber(back);
            publishBatch(back, 1, removed(Arrays.copyOfRange(ENGINE, 4, 8)));
            ReplicaFixture.await("the restored blocks 4..7 removed by engine hash\n" + restarted.output(),
                () -> fx.longestMatched(port, "rehash-0", tokens) == 64);
            // Stores them again under the restored block 3: the child chains from the restored digest.
            publishBatch(back, 2, stored(Arrays.copyOfRange(ENGINE, 4, 8), ENGINE[3], Arrays.copyOfRange(tokens, 64,
                128)));
            ReplicaFixture.await("blocks 4..7 stored again under a restored parent\n" + restarted.output(),
                () -> fx.longestMatched(port, "rehash-0", tokens) == 128);
            back.close();
        }
    }

    private static ZMQ.Socket bindPublisher(ZContext zmq, int port) {
        ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
        pub.setReceiveTimeOut(200);
        pub.bind("tcp://127.0.0.1:" + port);
        return pub;
    }

    private static void awaitSubscriber(ZMQ.Socket pub) throws InterruptedException {
        ReplicaFixture.await("the daemon's subscription", () -> {
            byte[] msg = pub.recv();
            return msg != null && msg.length >= 1 && msg[0] == 1;
        });
    }

    private static void hashes(MessageBufferPacker p, long[] hashes) throws Exception {
        p.packArrayHeader(hashes.length);
        for (long x : hashes) {
            p.packBigInteger(new BigInteger(Long.toUnsignedString(x)));
        }
    }

    /** vLLM's map-encoded BlockStored on the GPU ({@code parent} 0: none). */
    private static EventWriter stored(long[] engineHashes, long parent, int[] tokens) {
        return p -> {
            p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes");
            hashes(p, engineHashes);
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
            p.packString("block_size").packInt(16).packString("lora_id").packNil();
            p.packString("medium").packString("GPU").packString("lora_name").packNil();
        };
    }

    /** vLLM's map-encoded BlockRemoved on the GPU. */
    private static EventWriter removed(long[] engineHashes) {
        return p -> {
            p.packMapHeader(3).packString("type").packString("BlockRemoved").packString("block_hashes");
            hashes(p, engineHashes);
            p.packString("medium").packString("GPU");
        };
    }
}
