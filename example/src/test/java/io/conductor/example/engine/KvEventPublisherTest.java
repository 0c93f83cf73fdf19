package io.conductor.example.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;
import org.zeromq.ZMsg;

/** The publisher against real JeroMQ SUB and DEALER sockets on loopback. */
class KvEventPublisherTest {
    private static final List<KvEvent> CLEARED = List.of(new KvEvent.AllBlocksCleared());

    private static byte[] seq(long s) {
        return ByteBuffer.allocate(8).putLong(s).array();
    }

    private static ZMsg receive(ZMQ.Socket socket) {
        ZMsg m = ZMsg.recvMsg(socket);
        assertNotNull(m, "no message within the receive timeout");
        return m;
    }

    /**
     * A DEALER connected to the publisher's ROUTER. JeroMQ 0.6.0 occasionally stalls a connecting handshake until
     * the handshake interval (30 s by default) expires; a short one drops the stalled connection and reconnects,
     * and the queued request goes out on the new connection.
     */
    private static ZMQ.Socket replayDealer(ZContext ctx, String endpoint) {
        ZMQ.Socket dealer = ctx.createSocket(SocketType.DEALER);
        dealer.setHandshakeIvl(1000);
        dealer.setReceiveTimeOut(30_000);
        dealer.connect(endpoint);
        return dealer;
    }

    private static byte[] frame(ZMsg m, int i) {
        return m.toArray(new org.zeromq.ZFrame[0])[i].getData();
    }

    @Test
    void shouldSendTopicSeqPayloadAndReplayThroughDealerWhenAGapIsAsked() throws Exception {
        KvEventEncoder encoder = new KvEventEncoder(EventEncoding.MAP);
        try (ZContext ctx = new ZContext();
             KvEventPublisher pub = new KvEventPublisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", "kv-events", 0,
                 2, encoder)) {
            // A PUB drops messages until the subscription has propagated: publish probes until one arrives. If
            // nothing arrives for 5 s, connect a fresh SUB (the deadline is generous for a loaded machine).
            ZMQ.Socket sub = null;
            ZMsg first = null;
            long deadline = System.nanoTime() + 60_000_000_000L;
            long resubscribeAt = 0;
            long probes = 0;
            while (first == null && System.nanoTime() < deadline) {
                if (System.nanoTime() >= resubscribeAt) {
                    if (sub != null) {
                        System.out.println("no probe after 5 s; connecting a new SUB");
                        ctx.destroySocket(sub);
                    }
                    sub = ctx.createSocket(SocketType.SUB);
                    sub.setHandshakeIvl(1000);
                    sub.setReceiveTimeOut(100);
                    sub.subscribe(new byte[0]);
                    sub.connect(pub.endpoint());
                    resubscribeAt = System.nanoTime() + 5_000_000_000L;
                }
                pub.publish(CLEARED);
                probes++;
                first = ZMsg.recvMsg(sub);
            }
            assertNotNull(first, "subscriber never received a message");
            assertEquals(3, first.size());
            assertArrayEquals("kv-events".getBytes(StandardCharsets.UTF_8), frame(first, 0));
            // Drain the other probes until the last one (seq probes - 1) arrived: nothing more is in flight.
            long lastSeq = ByteBuffer.wrap(frame(first, 1)).getLong();
            while (lastSeq != probes - 1) {
                ZMsg probe = ZMsg.recvMsg(sub);
                if (probe != null) {
                    lastSeq = ByteBuffer.wrap(frame(probe, 1)).getLong();
                }
                assertTrue(System.nanoTime() < deadline, "probes not delivered in time");
            }
            sub.setReceiveTimeOut(30_000);
            long firstSeq = lastSeq;

            pub.dropNext(1);
            pub.publish(CLEARED); // seq firstSeq+1, dropped live
            pub.publish(CLEARED); // seq firstSeq+2
            ZMsg after = receive(sub);

            assertArrayEquals(seq(firstSeq + 2), frame(after, 1), "the dropped batch must leave a seq gap");
            ZMQ.Socket dealer = replayDealer(ctx, pub.replayEndpoint());
            dealer.sendMore(new byte[0]);
            dealer.send(seq(firstSeq + 1));
            ZMsg replayed = receive(dealer);
            ZMsg next = receive(dealer);
            ZMsg end = receive(dealer);
            assertEquals(4, replayed.size());
            assertEquals(0, frame(replayed, 0).length);
            assertArrayEquals("kv-events".getBytes(StandardCharsets.UTF_8), frame(replayed, 1));
            assertArrayEquals(seq(firstSeq + 1), frame(replayed, 2));
            assertArrayEquals(seq(firstSeq + 2), frame(next, 2));
            assertArrayEquals(frame(after, 2), frame(next, 3), "a replayed batch has the same bytes as live");
            assertEquals(0, frame(end, 1).length);
            assertArrayEquals(seq(-1), frame(end, 2));
            assertEquals(0, frame(end, 3).length);
        }
    }

    @Test
    void shouldReplayOnlyTheRingAndIgnoreMalformedRequestsWhenStartIsTooOld() throws Exception {
        try (ZContext ctx = new ZContext();
             KvEventPublisher pub = new KvEventPublisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", "", 1, 2,
                 new KvEventEncoder(EventEncoding.ARRAY))) {
            for (int i = 0; i < 5; i++) {
                pub.publish(CLEARED);
            }
            while (pub.publishedBatches() < 5) {
                Thread.sleep(5);
            }
            ZMQ.Socket dealer = replayDealer(ctx, pub.replayEndpoint());
            dealer.setReceiveTimeOut(3_000);

            dealer.send(seq(0)); // one frame, no empty delimiter: the reference conductor's broken request
            // Like any replay client, repeat the request when no answer comes within the receive timeout (on a
            // heavily loaded machine JeroMQ has been seen to sit on a fresh connection's first messages).
            ZMsg a = null;
            for (int attempt = 0; a == null && attempt < 20; attempt++) {
                dealer.sendMore(new byte[0]);
                dealer.send(seq(0));
                a = ZMsg.recvMsg(dealer);
            }
            assertNotNull(a, "no replay answer after 20 requests");
            dealer.setReceiveTimeOut(30_000);
            ZMsg b = receive(dealer);
            ZMsg end = receive(dealer);
            assertArrayEquals(seq(3), frame(a, 2), "ring of 2 keeps seq 3 and 4 only");
            assertArrayEquals(seq(4), frame(b, 2));
            assertArrayEquals(seq(-1), frame(end, 2));
        }
    }
}
