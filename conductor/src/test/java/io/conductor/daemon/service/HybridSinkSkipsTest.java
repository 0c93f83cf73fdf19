package io.conductor.daemon.service;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceType;
import io.conductor.index.prefix.CacheGroup;
import io.conductor.index.prefix.GroupLayout;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixIndexConfig;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A hybrid model's events that cannot be indexed are skipped and counted by reason, over a real XPUB socket and the
 * real subscriber, sink and index (token-rehash mode, so the unmapped-hash case exists too).
 */
class HybridSinkSkipsTest {
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

    private static void stored(MessageBufferPacker p, int group, String kind, int window, int blockSize, long hash,
            int tokens) throws Exception {
        p.packMapHeader(window > 0 ? 11 : 10).packString("type").packString("BlockStored");
        p.packString("block_hashes").packArrayHeader(1).packBigInteger(new BigInteger(Long.toUnsignedString(hash)));
        p.packString("parent_block_hash").packNil().packString("token_ids").packArrayHeader(tokens);
        for (int t = 0; t < tokens; t++) {
            p.packInt(t + 1);
        }
        p.packString("block_size").packInt(blockSize).packString("lora_id").packNil();
        p.packString("medium").packString("GPU").packString("lora_name").packNil();
        p.packString("group_idx").packInt(group).packString("kv_cache_spec_kind").packString(kind);
        if (window > 0) {
            p.packString("kv_cache_spec_sliding_window").packInt(window);
        }
    }

    @Test
    void shouldCountEveryHybridEventItCannotIndexByReason() throws Exception {
        GroupLayout layout = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
                new CacheGroup.SlidingWindow(16, 64)));
        PrefixIndex<HashProfileSpec> index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(64L << 20));
        try (ZContext zmq = new ZContext(); ZmqEventStreams streams = ZmqEventStreams.withDefaults()) {
            ZMQ.Socket pub = zmq.createSocket(SocketType.XPUB);
            pub.setReceiveTimeOut(200);
            pub.bind("tcp://127.0.0.1:*");
            ServiceRegistration reg = new ServiceRegistration(pub.getLastEndpoint(), "", ServiceType.VLLM, "gemma",
                    "s", "default", "", 16, 0, ServiceRegistration.NO_CACHE_GROUP, null, "",
                    ServiceRegistration.NO_LORA_ID, layout);
            new IndexedStreams(index, streams).start(reg);
            await(() -> {
                byte[] msg = pub.recv();
                return msg != null && msg.length > 0 && msg[0] == 1 ? 1 : 0;
            }, 1, "subscription");

            MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
            p.packArrayHeader(3).packDouble(1.7e9).packArrayHeader(6);
            stored(p, 0, "full_attention", 0, 16, 0xA1L, 16);      // indexed
            stored(p, 2, "full_attention", 0, 16, 0xA1L, 16);      // group_idx 2 is not declared
            stored(p, 1, "mamba", 0, 16, 0xA1L, 16);               // group 1 is a sliding window
            stored(p, 1, "sliding_window", 128, 16, 0xA1L, 16);    // another window than declared
            stored(p, 1, "sliding_window", 64, 32, 0xA1L, 32);     // another block size than declared
            stored(p, 1, "sliding_window", 64, 16, 0xB2L, 16);     // a hash group 0 never mapped
            p.packInt(0);
            pub.sendMore(new byte[0]);
            pub.sendMore(ByteBuffer.allocate(8).putLong(0).array());
            pub.send(p.toByteArray());

            IndexingSink sink = streams.sinks().get(reg.key());
            await(() -> sink.groupSkips(IndexingSink.GroupSkip.UNMAPPED_GROUP_HASH), 1, "unmapped hash");
            assertEquals(1, sink.groupSkips(IndexingSink.GroupSkip.GROUP_NOT_IN_LAYOUT));
            assertEquals(2, sink.groupSkips(IndexingSink.GroupSkip.GROUP_KIND_MISMATCH));
            assertEquals(1, sink.groupSkips(IndexingSink.GroupSkip.GROUP_BLOCK_SIZE_MISMATCH));
            assertEquals(1, index.stats().blocks(), "only group 0's block was indexed");
        }
    }
}
