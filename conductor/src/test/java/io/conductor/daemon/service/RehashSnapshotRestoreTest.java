package io.conductor.daemon.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.registry.ServiceType;
import io.conductor.daemon.snapshot.IndexSnapshot;
import io.conductor.daemon.snapshot.PendingRestores;
import io.conductor.daemon.snapshot.SnapshotCodec;
import io.conductor.daemon.snapshot.SnapshotTaker;
import io.conductor.daemon.snapshot.StreamSnapshot;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixIndexConfig;
import io.conductor.index.prefix.RankHandle;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A token-rehash stream through a snapshot, with the real subscriber, sink, index, taker and codec over a real XPUB
 * socket: the snapshot carries its blocks and rehash map as of one seq; a restore into a table too small for the
 * map drops the restored blocks (they could never be removed by engine hash); a registration with a hash profile
 * does not get them.
 */
class RehashSnapshotRestoreTest {
    private static final long DEADLINE_MS = 60_000;

    private static void await(LongSupplier value, long expected, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (value.getAsLong() != expected) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ", last " + value.getAsLong());
            }
            Thread.sleep(10);
        }
    }

    private static ServiceRegistration registration(String endpoint, HashProfileSpec profile) {
        return new ServiceRegistration(endpoint, "", ServiceType.VLLM, "qwen", "r", "default", "", 16, 0,
                ServiceRegistration.NO_CACHE_GROUP, profile, "", ServiceRegistration.NO_LORA_ID);
    }

    private static byte[] storedBatch(long seq) throws Exception {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packArrayHeader(3).packDouble(1.7e9).packArrayHeader(1);
        p.packMapHeader(8).packString("type").packString("BlockStored").packString("block_hashes").packArrayHeader(4);
        for (long h = 1; h <= 4; h++) {
            p.packBigInteger(new BigInteger(Long.toUnsignedString(0x7700L + h)));
        }
        p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(64);
        for (int t = 0; t < 64; t++) {
            p.packInt(500 + t);
        }
        p.packString("block_size").packInt(16).packString("lora_id").packNil();
        p.packString("medium").packString("GPU").packString("lora_name").packNil();
        p.packInt(0);
        return p.toByteArray();
    }

    private static IndexSnapshot takeWithFourBlocks() throws Exception {
        PrefixIndex<HashProfileSpec> index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(64L << 20));
        try (ZContext zmq = new ZContext(); ZmqEventStreams events = ZmqEventStreams.withDefaults()) {
            ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
            pub.setReceiveTimeOut(200);
            pub.bind("tcp://127.0.0.1:*");
            IndexedStreams streams = new IndexedStreams(index, events);
            ServiceRegistry registry = new ServiceRegistry(streams);
            registry.register(registration(pub.getLastEndpoint(), null));
            await(() -> {
                byte[] msg = pub.recv();
                return msg != null && msg.length > 0 && msg[0] == 1 ? 1 : 0;
            }, 1, "subscription");
            pub.sendMore(new byte[0]);
            pub.sendMore(ByteBuffer.allocate(8).putLong(0).array());
            pub.send(storedBatch(0));
            SnapshotTaker taker = new SnapshotTaker(registry, streams, events, index);
            await(() -> taker.take().pairs(), 4, "four rehashed blocks in the snapshot");
            IndexSnapshot s = taker.take();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            SnapshotCodec.write(s, out);
            return SnapshotCodec.read(out.toByteArray(), out.size());
        }
    }

    @Test
    void shouldSaveTheMapAndDropRestoredBlocksWhoseMapNoLongerFits() throws Exception {
        IndexSnapshot s = takeWithFourBlocks();
        StreamSnapshot saved = s.streams().getFirst();
        assertEquals(StreamSnapshot.TOKEN_REHASH, saved.profile());
        assertEquals(0, saved.lastSeq());
        assertNotNull(saved.rehash());
        assertEquals(4, saved.rehash().size());

        // A daemon whose token-rehash tables hold 2 entries: the 4-entry map cannot come back.
        PrefixIndex<HashProfileSpec> index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(64L << 20));
        try (ZContext zmq = new ZContext();
                ZmqEventStreams events = new ZmqEventStreams(ZmqEventStreams.configFrom(Map.of()), 2)) {
            ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
            pub.bind("tcp://127.0.0.1:*");
            // The saved endpoint is another port: restore under the same key and endpoint.
            StreamSnapshot moved = new StreamSnapshot(saved.key(), saved.context(), saved.profile(), saved.layout(),
                    pub.getLastEndpoint(), saved.lastSeq(), saved.epoch(), saved.stale(), saved.blocks(),
                    saved.rehash());
            PendingRestores restores = new PendingRestores(new IndexSnapshot(s.createdMillis(),
                    java.util.List.of(moved)));
            IndexedStreams streams = new IndexedStreams(index, events, restores);
            streams.start(registration(pub.getLastEndpoint(), null));

            assertEquals(4, restores.restoredPairs(), "claimed");
            RankHandle rank = streams.rank(saved.key());
            assertNotNull(rank);
            assertEquals(0, index.exportRank(rank).size(), "restored blocks dropped with their map");
        }
    }

    @Test
    void shouldNotHandATokenRehashStreamToARegistrationWithAHashProfile() throws Exception {
        IndexSnapshot s = takeWithFourBlocks();
        PendingRestores restores = new PendingRestores(s);
        HashProfileSpec profile = new HashProfileSpec("vllm_v1", "sha256", "0", "x", "low64_be");

        assertNull(restores.claim(registration(s.streams().getFirst().endpoint(), profile)));
        assertEquals(1, restores.discarded());
    }
}
