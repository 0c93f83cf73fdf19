package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zeromq.SocketType;
import org.zeromq.ZMQ;

/**
 * Issue 15, ingest side: a publisher (or something pretending to be one) that sends oversized frames, kills
 * JeroMQ's I/O thread, runs ahead of its own replay ring, serves junk replays or keeps an empty batch in its ring.
 * Real sockets on loopback; the fake ZMTP peer is a raw TCP socket writing the ZMTP 3.0 bytes itself.
 */
@Timeout(180)
class HostilePublisherTest {

    private static final SubscriberConfig CONFIG = SubscriptionTransportTest.CONFIG;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    private <T extends AutoCloseable> T closeLater(T c) {
        closeables.add(c);
        return c;
    }

    private static StreamStats stats(KvEventSubscriber subscriber, String instance) {
        final StreamStats s = subscriber.stats(SubscriptionTransportTest.key(instance));
        assertNotNull(s);
        return s;
    }

    // ---- 5: frame cap ----

    @Test
    void shouldDropAndCountAFrameAboveTheCapAndKeepIngesting() {
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG.withMaxMessageBytes(1 << 20)));
        final VllmTestPublisher publisher = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT));
        publisher.publish(SubscriptionTransportTest.stored(100));
        final RecordingSink sink = new RecordingSink();
        subscriber.add(SubscriptionTransportTest.spec("big", publisher), sink).join();
        Await.until(() -> sink.held().containsAll(SubscriptionTransportTest.hashesOf(100)), () -> "bootstrap");

        // 2 MiB under the next seq, not kept in the ring: the stream must survive it and count it.
        publisher.sendFrames(new byte[0], VllmTestPublisher.seqBytes(1), new byte[2 << 20]);
        Await.until(() -> stats(subscriber, "big").drops(DropReason.FRAME_TOO_LARGE) >= 1,
                () -> "frame-too-large drop, stats " + stats(subscriber, "big"));

        // ZMQ reconnects; the reconnect rebuilds from the ring, and later batches apply.
        Await.until(() -> {
            publisher.publish(SubscriptionTransportTest.stored(200));
            return sink.held().containsAll(SubscriptionTransportTest.hashesOf(100, 200))
                    && stats(subscriber, "big").state() == StreamState.LIVE;
        }, () -> "ingest after the oversized frame, held " + sink.held().size() + ", " + stats(subscriber, "big"));
        assertNull(subscriber.fatalError());
        assertEquals(0, subscriber.transportHealth().rebuilds());
    }

    // ---- 6: I/O thread death ----

    @Test
    void shouldBoundA2GiBFrameAnnouncementWithTheDefaultCap() {
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG));
        final ZmtpBomb bomb = closeLater(new ZmtpBomb(1));
        final VllmTestPublisher good = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT));
        final RecordingSink goodSink = new RecordingSink();
        subscriber.add(SubscriptionTransportTest.spec("good", good), goodSink).join();
        subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("evil"), PublisherType.VLLM, bomb.endpoint(),
                null), new RecordingSink()).join();

        Await.until(() -> stats(subscriber, "evil").drops(DropReason.FRAME_TOO_LARGE) >= 1,
                () -> "evil peer dropped, " + stats(subscriber, "evil"));
        Await.until(() -> {
            good.publish(SubscriptionTransportTest.stored(300));
            return goodSink.held().containsAll(SubscriptionTransportTest.hashesOf(300));
        }, () -> "good stream still ingests");
        assertEquals(0, subscriber.transportHealth().rebuilds());
        assertTrue(subscriber.transportHealth().healthy());
        assertNull(subscriber.fatalError());
    }

    @Test
    void shouldRebuildTheTransportWhenJeroMqsIoThreadDies() {
        // Unlimited frames: the announced 2^31-1 bytes make JeroMQ allocate, and its I/O thread dies of it.
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG.withMaxMessageBytes(-1)));
        final VllmTestPublisher good = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT));
        good.publish(SubscriptionTransportTest.stored(400));
        final RecordingSink goodSink = new RecordingSink();
        subscriber.add(SubscriptionTransportTest.spec("good", good), goodSink).join();
        Await.until(() -> goodSink.held().containsAll(SubscriptionTransportTest.hashesOf(400)), () -> "bootstrap");

        // Two connections: JeroMQ may drop a first connection before it reads the frame (a stalled handshake, then
        // a reconnect); a listener that took only one would then never be reached again. At most two deaths, so
        // at most two rebuilds: still healthy (the limit is 3 an hour).
        final ZmtpBomb bomb = closeLater(new ZmtpBomb(2));
        subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("evil"), PublisherType.VLLM, bomb.endpoint(),
                null), new RecordingSink()).join();
        Await.until(java.time.Duration.ofSeconds(90), () -> subscriber.transportHealth().rebuilds() >= 1,
                () -> "transport rebuilt, health " + subscriber.transportHealth());

        // Batches published after the death reach the sink through the new transport (not a frozen index).
        Await.until(() -> {
            good.publish(SubscriptionTransportTest.stored(500));
            return goodSink.held().containsAll(SubscriptionTransportTest.hashesOf(400, 500));
        }, () -> "ingest after the rebuild, held " + goodSink.held().size() + ", " + stats(subscriber, "good"));
        assertTrue(subscriber.transportHealth().healthy(), subscriber.transportHealth().toString());
        assertNull(subscriber.fatalError());
    }

    @Test
    void shouldGiveUpAndReportFatalWhenTheIoThreadKeepsDying() {
        final AtomicInteger fatals = new AtomicInteger();
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG.withMaxMessageBytes(-1),
                t -> fatals.incrementAndGet()));
        final ZmtpBomb bomb = closeLater(new ZmtpBomb(Integer.MAX_VALUE));
        subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("evil"), PublisherType.VLLM, bomb.endpoint(),
                null), new RecordingSink()).join();

        Await.until(Duration.ofSeconds(60), () -> !subscriber.transportHealth().healthy(),
                () -> "unhealthy after repeated deaths, health " + subscriber.transportHealth());
        assertEquals(KvEventSubscriber.MAX_REBUILDS, subscriber.transportHealth().rebuilds());
        assertNotNull(subscriber.fatalError());
        // The fatal handler runs on the watchdog thread just after the health turns: wait for it, then exactly once.
        Await.until(Duration.ofSeconds(30), () -> fatals.get() >= 1, () -> "the fatal handler ran");
        assertEquals(1, fatals.get());
        assertTrue(subscriber.transportHealth().problem().contains("giving up"),
                subscriber.transportHealth().problem());
    }

    // ---- 7: livelock ----

    @ParameterizedTest
    @ValueSource(longs = {1000L, Long.MIN_VALUE})
    void shouldNotRebuildInALoopWhenALiveSeqIsAheadOfTheRing(long liveSeq) throws InterruptedException {
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG));
        final VllmTestPublisher publisher = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT));
        for (int i = 0; i < 3; i++) {
            publisher.publish(SubscriptionTransportTest.stored(100L * (i + 1)));   // ring ends at seq 2
        }
        final RecordingSink sink = new RecordingSink();
        subscriber.add(SubscriptionTransportTest.spec("ahead", publisher), sink).join();
        Await.until(() -> sink.held().containsAll(SubscriptionTransportTest.hashesOf(100, 200, 300)),
                () -> "bootstrap");

        // A live batch far ahead of the ring (2^63 as an unsigned seq for MIN_VALUE), never held in the ring.
        publisher.sendFrames(new byte[0], VllmTestPublisher.seqBytes(liveSeq),
                SubscriptionTransportTest.stored(9000));
        Await.until(() -> stats(subscriber, "ahead").state() == StreamState.DEGRADED,
                () -> "degraded, " + stats(subscriber, "ahead"));
        final int before = publisher.requests().size();
        Thread.sleep(4_000);
        final int during = publisher.requests().size() - before;
        // Before the fix: about 4,500 replay requests a second. With backoff 200 ms doubling to 1 s, a handful.
        assertTrue(during <= 30, during + " replay requests in 4 s");
        // The live batch itself was applied (a later rebuild from the ring forgets it again: the ring does not hold
        // it, and what the sink holds stays a subset of the engine's announcements).
        assertTrue(sink.seqs().contains(liveSeq), "live batch applied, seqs " + sink.seqs());
        assertNotEquals(StreamState.SYNCING, stats(subscriber, "ahead").state());
    }

    // ---- 10 (b): junk replay ----

    @Test
    void shouldApplyTheLiveBatchWhenTheReplayServerAnswersJunk() {
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG));
        final VllmTestPublisher live = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE));
        final JunkReplayServer junk = closeLater(new JunkReplayServer());
        final RecordingSink sink = new RecordingSink();
        subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("junk"), PublisherType.VLLM,
                live.endpoint(), junk.endpoint()), sink).join();

        Await.until(() -> {
            live.publish(SubscriptionTransportTest.stored(700));
            return sink.held().containsAll(SubscriptionTransportTest.hashesOf(700))
                    && stats(subscriber, "junk").state() != StreamState.SYNCING;
        }, () -> "live batch applied despite junk replays, " + stats(subscriber, "junk"));
        final StreamStats s = stats(subscriber, "junk");
        assertTrue(s.drops(DropReason.REPLAY_MISMATCH) + s.replays(ReplayResult.TIMEOUT) >= 1, s.toString());
        assertTrue(junk.requests.get() >= 1);
    }

    @Test
    void shouldEndAnEndlessReplayWithinItsBound() {
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG));
        final VllmTestPublisher live = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE));
        final JunkReplayServer junk = closeLater(new JunkReplayServer());
        final RecordingSink sink = new RecordingSink();
        subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("endless"), PublisherType.VLLM,
                live.endpoint(), junk.endpoint()), sink).join();
        // Nothing live: only the bound on the exchange can end the SYNCING state.
        Await.until(() -> junk.requests.get() >= 1, () -> "replay requested");
        // Before the fix the exchange resumed for ever (each resumption made "progress"); now it ends after 8
        // replay timeouts (12 s here) as TIMEOUT, and the next attempt waits for the rebuild backoff.
        Await.until(Duration.ofSeconds(60), () -> stats(subscriber, "endless").replays(ReplayResult.TIMEOUT) >= 1,
                () -> "the endless replay timed out, " + stats(subscriber, "endless"));
    }

    // ---- 10 (c): empty payload in the ring ----

    @Test
    void shouldReplayPastAnEmptyPayloadInTheRing() {
        final KvEventSubscriber subscriber = closeLater(new KvEventSubscriber(CONFIG));
        final VllmTestPublisher publisher = closeLater(VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT));
        publisher.publish(SubscriptionTransportTest.stored(100));
        publisher.publish(new byte[0]);
        publisher.publish(SubscriptionTransportTest.stored(200));
        publisher.publish(SubscriptionTransportTest.stored(300));
        final RecordingSink sink = new RecordingSink();
        subscriber.add(SubscriptionTransportTest.spec("empty", publisher), sink).join();

        Await.until(() -> sink.held().containsAll(SubscriptionTransportTest.hashesOf(100, 200, 300))
                        && stats(subscriber, "empty").state() == StreamState.LIVE,
                () -> "every prompt after the empty payload, held " + sink.held() + ", " + stats(subscriber, "empty"));
        assertEquals(3, stats(subscriber, "empty").lastSeq());
        assertEquals(1, stats(subscriber, "empty").drops(DropReason.TRUNCATED));
    }

    // ---- test peers ----

    /**
     * A raw TCP server speaking just enough ZMTP 3.0 to be a PUB, then announcing one 2^31-1-byte frame. Accepts
     * up to {@code connections} connections, then closes its listener.
     */
    static final class ZmtpBomb implements AutoCloseable {
        private final ServerSocket server;
        private final Thread thread;
        private final List<Socket> accepted = new CopyOnWriteArrayList<>();

        ZmtpBomb(int connections) {
            try {
                server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            thread = Thread.ofPlatform().daemon(true).name("zmtp-bomb").start(() -> serve(connections));
        }

        String endpoint() {
            return "tcp://127.0.0.1:" + server.getLocalPort();
        }

        private void serve(int connections) {
            try {
                for (int i = 0; i < connections; i++) {
                    final Socket s = server.accept();
                    accepted.add(s);
                    final OutputStream out = s.getOutputStream();
                    out.write(greeting());
                    out.write(ready());
                    // A message frame, 'large' flag, 8-byte size 2^31-1; no body follows.
                    out.write(new byte[] {0x02, 0, 0, 0, 0, 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff});
                    out.flush();
                }
                server.close();
            } catch (IOException e) {
                // closed by the test
            }
        }

        private static byte[] greeting() {
            final ByteBuffer b = ByteBuffer.allocate(64);
            b.put((byte) 0xff).put(new byte[8]).put((byte) 0x7f);   // signature
            b.put((byte) 3).put((byte) 0);                            // version 3.0
            final byte[] mechanism = new byte[20];
            System.arraycopy("NULL".getBytes(StandardCharsets.US_ASCII), 0, mechanism, 0, 4);
            b.put(mechanism).put((byte) 0);                           // as-server 0, filler follows
            return b.array();
        }

        private static byte[] ready() {
            final byte[] name = "Socket-Type".getBytes(StandardCharsets.US_ASCII);
            final byte[] value = "PUB".getBytes(StandardCharsets.US_ASCII);
            final ByteBuffer body = ByteBuffer.allocate(6 + 1 + name.length + 4 + value.length);
            body.put((byte) 5).put("READY".getBytes(StandardCharsets.US_ASCII));
            body.put((byte) name.length).put(name).putInt(value.length).put(value);
            final byte[] b = body.array();
            final ByteBuffer frame = ByteBuffer.allocate(2 + b.length);
            frame.put((byte) 0x04).put((byte) b.length).put(b);      // short command frame
            return frame.array();
        }

        @Override
        public void close() throws Exception {
            server.close();
            for (final Socket s : accepted) {
                s.close();
            }
            thread.join(5_000);
        }
    }

    /**
     * A replay ROUTER that answers every request with 20 well-formed but empty batches from the requested seq on
     * and never sends the end marker.
     */
    static final class JunkReplayServer implements AutoCloseable {
        final AtomicInteger requests = new AtomicInteger();
        private final ZMQ.Context context = ZMQ.context(1);
        private final int port;
        private final Thread thread;
        private volatile boolean running = true;
        private final ZMQ.Socket router;

        JunkReplayServer() {
            router = context.socket(SocketType.ROUTER);
            router.setLinger(0);
            router.setReceiveTimeOut(100);
            port = router.bindToRandomPort("tcp://127.0.0.1");
            thread = Thread.ofPlatform().daemon(true).name("junk-replay").start(this::serve);
        }

        String endpoint() {
            return "tcp://127.0.0.1:" + port;
        }

        private void serve() {
            final byte[] empty = Payloads.batch(1.0, 0);
            while (running) {
                final byte[] identity = router.recv(0);
                if (identity == null) {
                    continue;
                }
                final List<byte[]> frames = new ArrayList<>();
                while (router.hasReceiveMore()) {
                    frames.add(router.recv(0));
                }
                requests.incrementAndGet();
                final long start = frames.size() == 2 ? ByteBuffer.wrap(frames.get(1)).getLong() : 0;
                for (long seq = start; seq < start + 20; seq++) {
                    router.sendMore(identity);
                    router.sendMore(new byte[0]);
                    router.sendMore(VllmTestPublisher.seqBytes(seq));
                    router.send(empty);
                }
            }
            router.close();
        }

        @Override
        public void close() throws Exception {
            running = false;
            thread.join(5_000);
            context.close();
        }
    }

}
