package io.conductor.example.engine;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZFrame;
import org.zeromq.ZMQ;
import org.zeromq.ZMsg;

/**
 * Publishes KV-event batches for one DP rank the way vLLM's {@code ZmqEventPublisher} does: a PUB socket sending
 * {@code [topic, seq (8 bytes big-endian), payload]} with seq starting at 0, and an optional ROUTER that answers
 * replay requests {@code [identity, "", start_seq]} from a ring of the last {@code bufferSteps} batches with
 * {@code ["", topic, seq, payload]} per batch and the end marker {@code ["", "", ff×8, ""]}
 * ({@code events.md} sections 1 and 3).
 *
 * <p>Thread-safety: {@link #publish} may be called from any thread (it enqueues into a bounded queue and blocks
 * when full, like vLLM's scheduler). One internal thread owns both sockets, sends batches in queue order and
 * serves at most one replay request between sends. {@link #close} is idempotent.
 */
public final class KvEventPublisher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KvEventPublisher.class);
    private static final byte[] EMPTY = new byte[0];
    private static final byte[] END_SEQ = {-1, -1, -1, -1, -1, -1, -1, -1};

    private final ZContext context;
    private final ZMQ.Socket pub;
    private final ZMQ.@Nullable Socket router;
    private final byte[] topic;
    private final int rank;
    private final int bufferSteps;
    private final KvEventEncoder encoder;
    private final BlockingQueue<List<KvEvent>> queue = new ArrayBlockingQueue<>(10_000);
    private final ArrayDeque<byte[][]> ring = new ArrayDeque<>();
    private final AtomicInteger dropNext = new AtomicInteger();
    private final AtomicLong published = new AtomicLong();
    private final String boundEndpoint;
    private final @Nullable String boundReplayEndpoint;
    private final Thread thread;
    private volatile boolean running = true;
    private long nextSeq;

    /**
     * Binds the sockets and starts the publisher thread.
     *
     * @param endpoint PUB endpoint to bind, e.g. {@code tcp://127.0.0.1:5557}; port {@code *} picks a free one
     * @param replayEndpoint ROUTER endpoint to bind, or {@code null} for no replay
     * @param topic topic frame (may be empty)
     * @param rank data-parallel rank written into every batch
     * @param bufferSteps number of batches kept for replay
     * @param encoder payload encoder
     * @throws org.zeromq.ZMQException if an endpoint cannot be bound
     */
    public KvEventPublisher(String endpoint, @Nullable String replayEndpoint, String topic, int rank,
                            int bufferSteps, KvEventEncoder encoder) {
        if (bufferSteps < 1) {
            throw new IllegalArgumentException("bufferSteps must be >= 1, was " + bufferSteps);
        }
        this.topic = topic.getBytes(StandardCharsets.UTF_8);
        this.rank = rank;
        this.bufferSteps = bufferSteps;
        this.encoder = encoder;
        this.context = new ZContext();
        try {
            pub = context.createSocket(SocketType.PUB);
            pub.setSndHWM(100_000);
            pub.setLinger(0);
            pub.bind(endpoint);
            boundEndpoint = pub.getLastEndpoint();
            if (replayEndpoint != null) {
                router = context.createSocket(SocketType.ROUTER);
                router.setLinger(0);
                router.bind(replayEndpoint);
                boundReplayEndpoint = router.getLastEndpoint();
            } else {
                router = null;
                boundReplayEndpoint = null;
            }
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
        thread = Thread.ofPlatform().name("kv-events-rank" + rank).daemon(true).unstarted(this::run);
        thread.start();
    }

    /**
     * Returns the PUB endpoint actually bound (with the real port when {@code *} was asked for).
     *
     * @return the bound endpoint, e.g. {@code tcp://127.0.0.1:40123}
     */
    public String endpoint() {
        return boundEndpoint;
    }

    /**
     * Returns the ROUTER endpoint actually bound.
     *
     * @return the bound replay endpoint, or {@code null} without replay
     */
    public @Nullable String replayEndpoint() {
        return boundReplayEndpoint;
    }

    /**
     * Queues one batch (one engine step's events); an empty list is ignored.
     *
     * @param events events in generation order
     */
    public void publish(List<KvEvent> events) {
        if (events.isEmpty() || !running) {
            return;
        }
        try {
            queue.put(List.copyOf(events));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Makes the next {@code count} batches consume their sequence numbers and enter the replay ring without being
     * sent live, as when vLLM's publisher skips a batch whose send failed. Used to exercise gap healing.
     *
     * @param count number of batches to drop, {@code >= 0}
     */
    public void dropNext(int count) {
        dropNext.set(Math.max(0, count));
    }

    /**
     * Returns how many batches were assigned a sequence number so far (sent or dropped).
     *
     * @return the next sequence number
     */
    public long publishedBatches() {
        return published.get();
    }

    private void run() {
        // A ZMQ poller (not a DONTWAIT receive) waits on the ROUTER: a blocking poll with a timeout makes JeroMQ
        // process the socket's pending commands (pipe attachments, read activations) while it waits.
        ZMQ.Poller poller = null;
        if (router != null) {
            poller = context.createPoller(1);
            poller.register(router, ZMQ.Poller.POLLIN);
        }
        List<List<KvEvent>> pending = new java.util.ArrayList<>();
        try {
            while (running) {
                try {
                    if (poller != null) {
                        poller.poll(queue.isEmpty() ? 10 : 0);
                    } else {
                        List<KvEvent> batch = queue.poll(10, TimeUnit.MILLISECONDS);
                        if (batch != null) {
                            send(batch);
                        }
                    }
                    pending.clear();
                    queue.drainTo(pending);
                    for (List<KvEvent> batch : pending) {
                        send(batch);
                    }
                    if (poller != null && poller.pollin(0)) {
                        serveOneReplay();
                    }
                } catch (InterruptedException e) {
                    break;
                } catch (RuntimeException e) {
                    if (running) {
                        LOG.warn("rank {}: publisher step failed: {}", rank, e.toString());
                    }
                }
            }
        } finally {
            if (poller != null) {
                poller.close();
            }
        }
    }

    private void send(List<KvEvent> batch) {
        byte[] payload = encoder.encodeBatch(System.currentTimeMillis() / 1000.0, batch, rank);
        long seq = nextSeq++;
        byte[] seqBytes = ByteBuffer.allocate(8).putLong(seq).array();
        ring.addLast(new byte[][] {seqBytes, payload});
        while (ring.size() > bufferSteps) {
            ring.removeFirst();
        }
        published.set(nextSeq);
        if (dropNext.get() > 0 && dropNext.getAndDecrement() > 0) {
            return;
        }
        pub.sendMore(topic);
        pub.sendMore(seqBytes);
        pub.send(payload);
    }

    private void serveOneReplay() {
        ZMQ.Socket r = router;
        if (r == null) {
            return;
        }
        ZMsg request = ZMsg.recvMsg(r, ZMQ.DONTWAIT);
        if (request == null) {
            return;
        }
        try {
            ZFrame[] frames = request.toArray(new ZFrame[0]);
            if (frames.length != 3 || frames[1].size() != 0 || frames[2].size() != 8) {
                LOG.warn("rank {}: invalid replay request with {} frames; expected [identity, \"\", start_seq]",
                    rank, request.size());
                return;
            }
            byte[] identity = frames[0].getData();
            long start = ByteBuffer.wrap(frames[2].getData()).getLong();
            for (byte[][] entry : ring) {
                long seq = ByteBuffer.wrap(entry[0]).getLong();
                if (Long.compareUnsigned(seq, start) >= 0) {
                    r.sendMore(identity);
                    r.sendMore(EMPTY);
                    r.sendMore(topic);
                    r.sendMore(entry[0]);
                    r.send(entry[1]);
                }
            }
            r.sendMore(identity);
            r.sendMore(EMPTY);
            r.sendMore(EMPTY);
            r.sendMore(END_SEQ);
            r.send(EMPTY);
        } finally {
            request.destroy();
        }
    }

    @Override
    public void close() {
        if (!running) {
            return;
        }
        running = false;
        // No interrupt: an interrupted thread closes JeroMQ's NIO channels under it; the loop polls every 10 ms.
        try {
            thread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        context.close();
    }
}
