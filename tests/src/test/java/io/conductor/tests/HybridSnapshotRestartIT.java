package io.conductor.tests;

import static io.conductor.tests.ReplicaFixture.publishBatch;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.tests.ReplicaFixture.EventWriter;
import io.conductor.example.engine.BlockHasher;
import io.conductor.example.engine.BlockHashers;
import io.conductor.example.engine.EngineConfig;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A hybrid context (KV-cache groups: full attention plus a 64-token sliding window) restarted from the local
 * snapshot file with its publisher gone, as a real daemon process fed real vLLM group events on a real ZMQ socket:
 * the restored index answers the prefix that needs both groups' blocks, so both groups came back in their own
 * groups.
 */
class HybridSnapshotRestartIT {
    private static final String GROUPS = "[{\"kind\": \"full_attention\"}, {\"kind\": \"sliding_window\", "
        + "\"sliding_window\": 64}]";

    @Test
    void shouldAnswerBothGroupsFromTheSnapshotWhenThePublisherIsGone() throws Exception {
        try (ReplicaFixture fx = new ReplicaFixture(); ZContext zmq = new ZContext()) {
            ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
            pub.setReceiveTimeOut(200);
            int pubPort = DaemonProcess.freePort();
            pub.bind("tcp://127.0.0.1:" + pubPort);
            ReplicaFixture.EngineSpec spec = new ReplicaFixture.EngineSpec("gemma-0", pubPort, 0);
            int port = DaemonProcess.freePort();
            Path snapshot = fx.dir.resolve("state/index.snap");
            Path config = fx.config("c", port, List.of(spec), "\"snapshot\": {\"path\": \"" + snapshot
                + "\", \"interval_seconds\": 0, \"resume_timeout_seconds\": 3}");
            // No replay endpoint (nothing serves one here); the entry is a hybrid model.
            String text = Files.readString(config).replaceFirst("\"replay_endpoint\":\"[^\"]*\",", "")
                .replaceFirst("\"block_size\":16,", "\"block_size\":16,\"kv_cache_groups\":" + GROUPS + ",");
            assertTrue(text.contains("kv_cache_groups") && !text.contains("replay_endpoint"), text);
            Files.writeString(config, text);

            int[] tokens = new int[128];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 1000 + 7 * i;
            }
            BlockHasher hasher = BlockHashers.forConfig(EngineConfig.parse(new String[] {ReplicaFixture.MODEL,
                "--block-size", "16"}, Map.of("PYTHONHASHSEED", "0")));
            long[] h = hasher.hashBlocks(tokens, tokens.length, null, null);
            assertEquals(8, h.length);

            DaemonProcess d = fx.startDaemon(config, port);
            d.awaitHealthy(port, ReplicaFixture.DEADLINE);
            ReplicaFixture.await("the daemon's subscription", () -> {
                byte[] msg = pub.recv();
                return msg != null && msg.length >= 1 && msg[0] == 1;
            });
            // Group 0 holds all 8 blocks; the window group only blocks 4..7, the window before the end (8).
            publishBatch(pub, 0, stored(0, "full_attention", null, h, 0, tokens),
                stored(1, "sliding_window", 64, Arrays.copyOfRange(h, 4, 8), h[3],
                    Arrays.copyOfRange(tokens, 64, 128)));
            ReplicaFixture.await("the hybrid answer", () -> fx.longestMatched(port, "gemma-0", tokens) == 128);
            ReplicaFixture.stop(d);
            assertTrue(d.output().contains("event=snapshot_written trigger=shutdown"), d.output());
            pub.close();

            DaemonProcess restarted = fx.startDaemon(config, port);
            fx.awaitRestored(restarted, port);

            // 128 needs the window group's blocks 4..7 as well as group 0's: without them the answer is 0.
            assertEquals(128, fx.longestMatched(port, "gemma-0", tokens), restarted.output());
            assertTrue(restarted.output().contains("event=snapshot_stream_restored"), restarted.output());
        }
    }

    /** vLLM's map-encoded BlockStored of one KV-cache group. */
    private static EventWriter stored(int group, String kind, @org.jspecify.annotations.Nullable Integer window,
            long[] hashes, long parent, int[] tokens) {
        return p -> {
            p.packMapHeader(window == null ? 10 : 11).packString("type").packString("BlockStored");
            p.packString("block_hashes").packArrayHeader(hashes.length);
            for (long x : hashes) {
                p.packBigInteger(new BigInteger(Long.toUnsignedString(x)));
            }
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
            p.packString("group_idx").packInt(group).packString("kv_cache_spec_kind").packString(kind);
            if (window != null) {
                p.packString("kv_cache_spec_sliding_window").packInt(window);
            }
        };
    }
}
