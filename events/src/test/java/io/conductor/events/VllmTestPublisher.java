package io.conductor.events;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.zeromq.SocketType;
import org.zeromq.ZMQ;
import org.zeromq.ZMQException;

/**
 * A stand-in for vLLM's {@code ZmqEventPublisher}, for transport tests: a PUB sending 3-frame live messages
 * {@code [topic, seq8, payload]} and a replay ROUTER that keeps the last {@code ringSize} batches and answers
 * {@code [identity, "", start_seq8]} with every held batch at or after {@code start_seq}, oldest first, then the
 * end marker; in the current format ({@code ["", topic, seq, payload]}, end {@code ["", "", ff x 8, ""]}) or the
 * older one without the topic frame. Any other request shape gets no reply, as in vLLM. {@link ReplayFormat#SILENT}
 * never replies (a dead replay thread). Ports are ephemeral and kept across {@link #restart}.
 *
 * <p>Thread-safe: the sockets live on the publisher's own thread; public methods hand it tasks and wait.
 */
final class VllmTestPublisher implements AutoCloseable {

    enum ReplayFormat { CURRENT, LEGACY, SILENT, NONE }

    private static final byte[] EMPTY = new byte[0];
    private static final byte[] END_SEQ = {-1, -1, -1, -1, -1, -1, -1, -1};

    private record Held(long seq, byte[] payload) {
    }

    private final ZMQ.Context context;
    private final boolean ownsContext;
    private final byte[] topic;
    private final int ringSize;
    private final ReplayFormat format;
    private final @Nullable String connectEndpoint;
    private final Thread thread;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final Pipe wake;
    private final List<List<byte[]>> requests = Collections.synchronizedList(new ArrayList<>());
    private volatile boolean running = true;

    // owned by the publisher thread
    private final ArrayDeque<Held> ring = new ArrayDeque<>();
    private ZMQ.@Nullable Socket pub;
    private ZMQ.@Nullable Socket router;
    private int pubPort;
    private int replayPort;
    private long nextSeq;
    private final Selector selector;

    private VllmTestPublisher(ZMQ.@Nullable Context shared, String topic, int ringSize, ReplayFormat format,
                              @Nullable String connectEndpoint) {
        this.context = shared != null ? shared : ZMQ.context(1);
        this.ownsContext = shared == null;
        this.topic = topic.getBytes(StandardCharsets.UTF_8);
        this.ringSize = ringSize;
        this.format = format;
        this.connectEndpoint = connectEndpoint;
        try {
            wake = Pipe.open();
            wake.source().configureBlocking(false);
            wake.sink().configureBlocking(false);
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        thread = Thread.ofPlatform().name("test-publisher").daemon(true).unstarted(this::run);
        thread.start();
        call(() -> {
            openSockets();
            return null;
        });
    }

    static VllmTestPublisher start(ReplayFormat format) {
        return new VllmTestPublisher(null, "", 10_000, format, null);
    }

    static VllmTestPublisher start(ReplayFormat format, String topic, int ringSize) {
        return new VllmTestPublisher(null, topic, ringSize, format, null);
    }

    static VllmTestPublisher startShared(ZMQ.Context context, ReplayFormat format) {
        return new VllmTestPublisher(context, "", 10_000, format, null);
    }

    /** A publisher whose PUB connects to a subscriber that binds (vLLM with a non-wildcard endpoint). */
    static VllmTestPublisher connectingTo(String subscriberEndpoint) {
        return new VllmTestPublisher(null, "", 10_000, ReplayFormat.NONE, subscriberEndpoint);
    }

    String endpoint() {
        return "tcp://127.0.0.1:" + pubPort;
    }

    @Nullable String replayEndpoint() {
        return format == ReplayFormat.NONE ? null : "tcp://127.0.0.1:" + replayPort;
    }

    /** Publishes one batch live and keeps it for replay; returns its seq. */
    long publish(byte[] payload) {
        return call(() -> {
            final long seq = hold(payload);
            send(pub, topic, seqBytes(seq), payload);
            return seq;
        });
    }

    /** Keeps a batch for replay without sending it live: a batch lost to HWM or a failed send. */
    long publishUnsent(byte[] payload) {
        return call(() -> hold(payload));
    }

    /** Sends arbitrary frames on the live socket (malformed messages). */
    void sendFrames(byte[]... frames) {
        call(() -> {
            send(pub, frames);
            return null;
        });
    }

    /**
     * The engine has been running a while before anyone subscribes: its next seq is {@code seq} (nothing held,
     * nothing sent).
     */
    void continueFrom(long seq) {
        call(() -> {
            nextSeq = seq;
            ring.clear();
            return null;
        });
    }

    long lastSeq() {
        return call(() -> nextSeq - 1);
    }

    /** The engine restarted: new sockets on the same ports, seq from 0, empty ring. */
    void restart() {
        stopSockets();
        startSockets();
    }

    /** The engine process dies: sockets closed (peers see a disconnect). */
    void stopSockets() {
        call(() -> {
            closeSockets();
            return null;
        });
    }

    /** A new engine process on the same ports: seq from 0, empty ring. */
    void startSockets() {
        call(() -> {
            nextSeq = 0;
            ring.clear();
            openSockets();
            return null;
        });
    }

    /** Replay requests received so far: the frames after the ROUTER's identity frame. */
    List<List<byte[]>> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    @Override
    public void close() {
        if (!running) {
            return;
        }
        call(() -> {
            closeSockets();
            return null;
        });
        running = false;
        wakeup();
        try {
            thread.join(5_000);
            wake.source().close();
            wake.sink().close();
            selector.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (ownsContext) {
            context.close();
        }
    }

    // ---- publisher thread ----

    private long hold(byte[] payload) {
        final long seq = nextSeq++;
        ring.add(new Held(seq, payload));
        while (ring.size() > ringSize) {
            ring.poll();
        }
        return seq;
    }

    private void openSockets() {
        final ZMQ.Socket p = context.socket(SocketType.PUB);
        p.setLinger(0);
        p.setSndHWM(100_000);
        // JeroMQ 0.6.0 occasionally stalls a handshake until this interval expires: keep it short when connecting.
        // On accepted connections 1 s was too short: a busy I/O thread (one for 200 publishers in the scale test)
        // dropped peers whose greeting it had not read in time, after the subscriber had counted them connected.
        // 5 s still ends a stalled accepted handshake well within the tests' deadlines.
        p.setHandshakeIvl(connectEndpoint != null ? 1000 : 5000);
        if (connectEndpoint != null) {
            p.connect(connectEndpoint);
        } else if (pubPort == 0) {
            pubPort = p.bindToRandomPort("tcp://127.0.0.1");
        } else {
            bindWithRetry(p, pubPort);
        }
        pub = p;
        if (format != ReplayFormat.NONE) {
            final ZMQ.Socket r = context.socket(SocketType.ROUTER);
            r.setLinger(0);
            if (replayPort == 0) {
                replayPort = r.bindToRandomPort("tcp://127.0.0.1");
            } else {
                bindWithRetry(r, replayPort);
            }
            router = r;
        }
    }

    private static void bindWithRetry(ZMQ.Socket socket, int port) {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                socket.bind("tcp://127.0.0.1:" + port);
                return;
            } catch (ZMQException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                try {
                    Thread.sleep(20); // the closed socket's port is released asynchronously by JeroMQ's reaper
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    private void closeSockets() {
        if (pub != null) {
            pub.close();
            pub = null;
        }
        if (router != null) {
            router.close();
            router = null;
        }
    }

    private void run() {
        while (running) {
            Runnable task;
            while ((task = tasks.poll()) != null) {
                task.run();
            }
            final List<ZMQ.PollItem> items = new ArrayList<>();
            items.add(new ZMQ.PollItem(wake.source(), ZMQ.Poller.POLLIN));
            final ZMQ.Socket r = router;
            if (r != null) {
                items.add(new ZMQ.PollItem(r, ZMQ.Poller.POLLIN));
            }
            final ZMQ.PollItem[] array = items.toArray(new ZMQ.PollItem[0]);
            ZMQ.poll(selector, array, array.length, 500);
            if (array[0].isReadable()) {
                drainWake();
            }
            if (r != null && array.length > 1 && array[1].isReadable()) {
                serveReplays(r);
            }
        }
    }

    private void serveReplays(ZMQ.Socket r) {
        while (true) {
            final byte[] identity = r.recv(ZMQ.DONTWAIT);
            if (identity == null) {
                return;
            }
            final List<byte[]> frames = new ArrayList<>();
            while (r.hasReceiveMore()) {
                frames.add(r.recv(0));
            }
            requests.add(frames);
            if (format == ReplayFormat.SILENT) {
                continue;
            }
            if (frames.size() != 2 || frames.get(0).length != 0 || frames.get(1).length != 8) {
                continue; // vLLM logs "invalid replay request" and sends nothing
            }
            final long start = ByteBuffer.wrap(frames.get(1)).getLong();
            for (final Held h : ring) {
                if (Long.compareUnsigned(h.seq(), start) >= 0) {
                    reply(r, identity, topic, seqBytes(h.seq()), h.payload());
                }
            }
            reply(r, identity, EMPTY, END_SEQ, EMPTY);
        }
    }

    private void reply(ZMQ.Socket r, byte[] identity, byte[] replyTopic, byte[] seq, byte[] payload) {
        if (format == ReplayFormat.CURRENT) {
            send(r, identity, EMPTY, replyTopic, seq, payload);
        } else {
            send(r, identity, EMPTY, seq, payload);
        }
    }

    private static void send(ZMQ.@Nullable Socket socket, byte[]... frames) {
        if (socket == null) {
            throw new IllegalStateException("publisher sockets are closed");
        }
        for (int i = 0; i < frames.length; i++) {
            socket.send(frames[i], i < frames.length - 1 ? ZMQ.SNDMORE : 0);
        }
    }

    static byte[] seqBytes(long seq) {
        return ByteBuffer.allocate(8).putLong(seq).array();
    }

    private <T> T call(Callable<T> body) {
        if (Thread.currentThread() == thread) {
            try {
                return body.call();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        final CompletableFuture<T> result = new CompletableFuture<>();
        tasks.add(() -> {
            try {
                result.complete(body.call());
            } catch (Exception | Error e) {
                result.completeExceptionally(e);
            }
        });
        wakeup();
        return result.orTimeout(30, TimeUnit.SECONDS).join();
    }

    private void wakeup() {
        try {
            wake.sink().write(ByteBuffer.wrap(new byte[1]));
        } catch (IOException e) {
            // full pipe: a wake-up is pending anyway
        }
    }

    private void drainWake() {
        try {
            final ByteBuffer b = ByteBuffer.allocate(64);
            while (wake.source().read(b.clear()) > 0) {
                // keep draining
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
