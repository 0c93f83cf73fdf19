package io.conductor.events;

import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;
import org.zeromq.SocketType;
import org.zeromq.ZEvent;
import org.zeromq.ZMQ;
import org.zeromq.ZMonitor;
import zmq.Msg;
import zmq.ZError;
import zmq.util.Errno;

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
    private ZMQ.Context context;
    private final SubscriberConfig config;
    private final Msg[] frames = new Msg[MAX_FRAMES];
    private ZMQ.@Nullable Socket sub;
    private ZMQ.@Nullable Socket dealer;
    private volatile boolean closed;
    private long reopenLiveAt = Long.MAX_VALUE;
    private int oversizeStreak;

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
        try {
            openSub();
            if (spec.hasReplay()) {
                openDealer();
            }
        } catch (RuntimeException e) {
            closeSockets();
            throw e;
        }
    }

    private void openSub() {
        final ZMQ.Socket s = context.socket(SocketType.SUB);
        try {
            s.setLinger(0);
            s.setIPv6(true);
            s.setMaxMsgSize(config.maxMessageBytes());
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
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * Poller thread: the live peer was dropped for an oversized frame. ZMQ treats that as a protocol error and
     * never reconnects that connection, so a connecting SUB is replaced after a delay that doubles per consecutive
     * oversized frame (reconnect interval up to its cap): a peer that only sends oversized frames costs one
     * connection per 5 s, and a publisher that sent one is back after the first delay. A binding SUB keeps its
     * listener; the peer reconnects itself.
     */
    void onLiveTooLarge(long now) {
        if (spec.bindsLive() || closed) {
            return;
        }
        final long min = config.reconnectInterval().toNanos();
        final long max = config.reconnectIntervalMax().toNanos();
        final long delay = Math.min(max, min << Math.min(oversizeStreak, 20));
        oversizeStreak++;
        reopenLiveAt = now + delay;
    }

    /** When {@link #reopenLiveIfDue} has work, or {@link Long#MAX_VALUE}. */
    long reopenLiveAt() {
        return reopenLiveAt;
    }

    /** Poller thread: replaces the live SUB if its reopen is due. */
    void reopenLiveIfDue(long now) {
        if (reopenLiveAt == Long.MAX_VALUE || now - reopenLiveAt < 0) {
            return;
        }
        reopenLiveAt = Long.MAX_VALUE;
        final ZMQ.Socket old = sub;
        if (old != null) {
            old.close();
            sub = null;
        }
        if (!closed) {
            openSub();
        }
        poller.socketsChanged();
    }

    long maxMessageBytes() {
        return config.maxMessageBytes();
    }

    ZMQ.@Nullable Socket sub() {
        return sub;
    }

    ZMQ.@Nullable Socket dealer() {
        return dealer;
    }

    void close() {
        closed = true;
        closeSockets();
    }

    /**
     * Poller thread, after JeroMQ's I/O thread died: closes the sockets of the dead context and opens new ones on
     * {@code fresh}. The session sees a lost peer, so the next handshake rebuilds the stream from the replay ring.
     *
     * @throws org.zeromq.ZMQException if ZMQ rejects an endpoint now (a bound port still held by the dead context)
     */
    void reopen(ZMQ.Context fresh) {
        closeSockets();
        context = fresh;
        session.onTransportRebuilt();
        open();
    }

    private void closeSockets() {
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
            oversizeStreak = 0;
            session.onLive(seq.getLong(0), payload.data(), 0, payload.size(), now);
        }
        clearFrames();
        return n;
    }

    /**
     * Reads up to {@code budget} replay replies. Both reply formats: {@code ["", topic, seq, payload]} (current
     * vLLM) and {@code ["", seq, payload]} (older vLLM, SGLang): drop the leading empty frame, take the last two
     * frames as (seq, payload); seq {@code ff x 8} ends the replay (an empty payload under another seq is data).
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
            // Only seq ff x 8 ends a replay: an empty payload under a real seq is a batch held in the ring (an
            // empty batch the engine published), and reading it as the end would stop every rebuild there.
            if (seqValue == -1L) {
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

    // Slots are cleared so received frames can be collected; a slot is read only after readMessage filled it
    // in the same drain, so no null is ever read from frames.
    @SuppressWarnings("NullAway")
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
            poller.connectionEvent(this, PollerThread.PeerEvent.CONNECTED);
        } else if (type == ZMonitor.Event.DISCONNECTED) {
            poller.connectionEvent(this, tooLarge() ? PollerThread.PeerEvent.LIVE_TOO_LARGE
                    : PollerThread.PeerEvent.DISCONNECTED);
        }
    }

    private void onDealerEvent(ZEvent event) {
        if (!closed && event.getEvent() == ZMonitor.Event.DISCONNECTED && tooLarge()) {
            poller.connectionEvent(this, PollerThread.PeerEvent.REPLAY_TOO_LARGE);
        }
    }

    /**
     * I/O thread, inside a disconnect notification: JeroMQ's decoder leaves EMSGSIZE in the I/O thread's errno
     * when it drops a peer for a frame above {@code MAXMSGSIZE}, and notifies synchronously on that thread.
     */
    private static boolean tooLarge() {
        return new Errno().get() == ZError.EMSGSIZE;
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
            d.setMaxMsgSize(config.maxMessageBytes());
            d.setRcvHWM(config.receiveHighWaterMark());
            d.setEventHook(this::onDealerEvent, ZMQ.EVENT_DISCONNECTED);
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
