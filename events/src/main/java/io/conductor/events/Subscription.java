package io.conductor.events;

import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;
import org.zeromq.SocketType;
import org.zeromq.ZEvent;
import org.zeromq.ZMQ;
import org.zeromq.ZMonitor;
import zmq.Msg;

/**
 * The sockets of one subscription: a SUB for the live stream (connect, or bind for {@code tcp://*:port}) and, when
 * a replay endpoint is known, a DEALER speaking vLLM's replay protocol. Frames are read whole and checked here;
 * everything else is the {@link StreamSession}'s.
 *
 * <p>Not thread-safe: created, used and closed on its poller thread only (ZMQ sockets are single-threaded). The
 * only cross-thread entry is the connection-event hook, which JeroMQ calls on an I/O thread; it just enqueues.
 */
final class Subscription implements ReplayChannel {

    private static final byte[] EMPTY = new byte[0];
    private static final int MAX_FRAMES = 8;

    final SubscriptionSpec spec;
    final StreamCounters counters = new StreamCounters();
    final StreamSession session;
    final PollerThread poller;
    private final ZMQ.Context context;
    private final SubscriberConfig config;
    private final Msg[] frames = new Msg[MAX_FRAMES];
    private ZMQ.@Nullable Socket sub;
    private ZMQ.@Nullable Socket dealer;
    private volatile boolean closed;

    Subscription(SubscriptionSpec spec, KvEventSink sink, SubscriberConfig config, ZMQ.Context context,
                 PollerThread poller) {
        this.spec = spec;
        this.config = config;
        this.context = context;
        this.poller = poller;
        this.session = new StreamSession(spec, sink, counters, spec.hasReplay() ? this : null, config);
    }

    /**
     * Creates the sockets and connects or binds them.
     *
     * @throws org.zeromq.ZMQException if ZMQ rejects an endpoint (bad address, port in use); nothing stays open
     */
    void open() {
        final ZMQ.Socket s = context.socket(SocketType.SUB);
        try {
            s.setLinger(0);
            s.setIPv6(true);
            s.setRcvHWM(config.receiveHighWaterMark());
            s.setReconnectIVL((int) config.reconnectInterval().toMillis());
            s.setReconnectIVLMax((int) config.reconnectIntervalMax().toMillis());
            s.setHandshakeIvl((int) config.handshakeTimeout().toMillis());
            final int heartbeat = (int) config.heartbeatInterval().toMillis();
            if (heartbeat > 0) {
                s.setHeartbeatIvl(heartbeat);
                s.setHeartbeatTimeout(3 * heartbeat);
            }
            s.setEventHook(this::onSocketEvent, ZMQ.EVENT_HANDSHAKE_PROTOCOL | ZMQ.EVENT_DISCONNECTED);
            s.subscribe(spec.topic().getBytes(StandardCharsets.UTF_8));
            if (spec.bindsLive()) {
                s.bind(spec.endpoint());
            } else {
                s.connect(spec.endpoint());
            }
            sub = s;
            if (spec.hasReplay()) {
                openDealer();
            }
        } catch (RuntimeException e) {
            s.close();
            closeDealer();
            throw e;
        }
    }

    ZMQ.@Nullable Socket sub() {
        return sub;
    }

    ZMQ.@Nullable Socket dealer() {
        return dealer;
    }

    void close() {
        closed = true;
        final ZMQ.Socket s = sub;
        if (s != null) {
            s.close();
            sub = null;
        }
        closeDealer();
    }

    // ---- ReplayChannel ----

    @Override
    public boolean request(long fromSeq) {
        final ZMQ.Socket d = dealer;
        if (d == null) {
            return false;
        }
        // A fresh array per request: JeroMQ queues the array itself, not a copy, until its I/O thread writes it.
        final byte[] seqFrame = new byte[8];
        for (int i = 0; i < 8; i++) {
            seqFrame[i] = (byte) (fromSeq >>> (56 - 8 * i));
        }
        return d.send(EMPTY, ZMQ.SNDMORE | ZMQ.DONTWAIT) && d.send(seqFrame, ZMQ.DONTWAIT);
    }

    @Override
    public void restart() {
        closeDealer();
        if (!closed && spec.hasReplay()) {
            openDealer();
        }
        poller.socketsChanged();
    }

    // ---- receiving ----

    /** Reads up to {@code budget} live messages without blocking; returns how many. */
    int drainLive(int budget, long now) {
        final ZMQ.Socket s = sub;
        int n = 0;
        while (s != null && n < budget && sub == s) {
            final int count = readMessage(s);
            if (count == 0) {
                break;
            }
            n++;
            if (count != 3) {
                final Msg first = frames[0];
                session.dropFrame(DropReason.FRAME_COUNT, "live message of " + count + " frames, 3 expected",
                        first.data(), 0, first.size(), now);
                continue;
            }
            final Msg seq = frames[1];
            final Msg payload = frames[2];
            if (seq.size() != 8) {
                session.dropFrame(DropReason.SEQ_FRAME_LENGTH, "seq frame of " + seq.size() + " bytes",
                        seq.data(), 0, seq.size(), now);
                continue;
            }
            session.onLive(seq.getLong(0), payload.data(), 0, payload.size(), now);
        }
        clearFrames();
        return n;
    }

    /**
     * Reads up to {@code budget} replay replies. Both reply formats: {@code ["", topic, seq, payload]} (current
     * vLLM) and {@code ["", seq, payload]} (older vLLM, SGLang): drop the leading empty frame, take the last two
     * frames as (seq, payload); seq {@code ff x 8} or an empty payload ends the replay.
     */
    int drainReplay(int budget, long now) {
        final ZMQ.Socket d = dealer;
        int n = 0;
        while (d != null && n < budget && dealer == d) {
            final int count = readMessage(d);
            if (count == 0) {
                break;
            }
            n++;
            final int first = frames[0].size() == 0 ? 1 : 0;
            if (count - first < 2 || count > MAX_FRAMES) {
                final Msg f = frames[0];
                session.dropFrame(DropReason.FRAME_COUNT, "replay reply of " + count + " frames",
                        f.data(), 0, f.size(), now);
                continue;
            }
            final Msg seq = frames[count - 2];
            final Msg payload = frames[count - 1];
            if (seq.size() != 8) {
                session.dropFrame(DropReason.SEQ_FRAME_LENGTH, "replay seq frame of " + seq.size() + " bytes",
                        seq.data(), 0, seq.size(), now);
                continue;
            }
            final long seqValue = seq.getLong(0);
            if (seqValue == -1L || payload.size() == 0) {
                session.onReplayEnd(now);
            } else {
                session.onReplayData(seqValue, payload.data(), 0, payload.size(), now);
            }
        }
        clearFrames();
        return n;
    }

    /** Reads one whole multipart message; returns its frame count (0 if none waiting). Extra frames are read but
     *  not kept. */
    private int readMessage(ZMQ.Socket s) {
        Msg m = s.recvMsg(ZMQ.DONTWAIT);
        if (m == null) {
            return 0;
        }
        int count = 0;
        while (true) {
            if (count < MAX_FRAMES) {
                frames[count] = m;
            }
            count++;
            if (!m.hasMore()) {
                return count;
            }
            m = s.recvMsg(0);
        }
    }

    void clearFrames() {
        for (int i = 0; i < MAX_FRAMES; i++) {
            frames[i] = null;
        }
    }

    private void onSocketEvent(ZEvent event) {
        if (closed) {
            return;
        }
        // A peer counts once its ZMTP handshake has negotiated the protocol, not at TCP connect: a handshake that
        // stalls and is dropped (handshakeTimeout) must not look like a lost peer and trigger a rebuild.
        final ZMonitor.Event type = event.getEvent();
        if (type == ZMonitor.Event.HANDSHAKE_PROTOCOL) {
            poller.connectionEvent(this, true);
        } else if (type == ZMonitor.Event.DISCONNECTED) {
            poller.connectionEvent(this, false);
        }
    }

    private void openDealer() {
        final String endpoint = spec.replayEndpoint();
        if (endpoint == null) {
            return;
        }
        final ZMQ.Socket d = context.socket(SocketType.DEALER);
        try {
            d.setLinger(0);
            d.setIPv6(true);
            d.setRcvHWM(config.receiveHighWaterMark());
            d.setReconnectIVL((int) config.reconnectInterval().toMillis());
            d.setReconnectIVLMax((int) config.reconnectIntervalMax().toMillis());
            d.setHandshakeIvl((int) config.handshakeTimeout().toMillis());
            d.connect(endpoint);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        dealer = d;
    }

    private void closeDealer() {
        final ZMQ.Socket d = dealer;
        if (d != null) {
            d.close();
            dealer = null;
        }
    }
}
