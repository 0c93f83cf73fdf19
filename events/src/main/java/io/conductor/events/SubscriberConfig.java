package io.conductor.events;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a {@link KvEventSubscriber}. Validated up front; immutable; thread-safe.
 *
 * @param pollerThreads platform threads polling every subscription's sockets and calling the sinks (1 = every sink
 *     call on one thread)
 * @param ioThreads JeroMQ I/O threads
 * @param receiveHighWaterMark SUB and DEALER receive high-water mark, in messages (0 = unlimited): it bounds the
 *     backlog a slow daemon keeps in memory per socket. Above it a vLLM PUB drops (the gap is then healed by
 *     replay, so keep it well below vLLM's 10,000-batch replay ring); a publisher with {@code XPUB_NODROP} waits
 * @param replayTimeout how long a replay may stay silent (before its first reply, or between replies) before it
 *     counts as timed out
 * @param maxBufferedBatches live batches kept while a replay runs; more fails the replay
 * @param reconnectInterval ZMQ reconnect interval (ZMQ doubles it per failed attempt, adds jitter)
 * @param reconnectIntervalMax cap of the reconnect interval
 * @param heartbeatInterval ZMTP heartbeat interval detecting a dead peer (timeout = 3 intervals); zero disables
 * @param handshakeTimeout how long a new connection may take to finish its ZMTP handshake before it is dropped and
 *     retried. JeroMQ 0.6.0's connecting side occasionally stalls a handshake until this expires (libzmq's default,
 *     30 s, would leave a fresh subscription deaf that long), so keep it short
 * @param rebuildBackoffMin first delay before retrying a rebuild replay of a degraded stream
 * @param rebuildBackoffMax cap of that delay (doubles per failure, with jitter)
 * @param maxMessageBytes ZMQ {@code MAXMSGSIZE} of every SUB and DEALER socket: a peer announcing a larger frame is
 *     disconnected before anything is allocated for it (the drop is counted as {@link DropReason#FRAME_TOO_LARGE});
 *     -1 = unlimited (only for tests: a peer announcing a 2 GiB frame then kills JeroMQ's I/O thread)
 */
public record SubscriberConfig(int pollerThreads, int ioThreads, int receiveHighWaterMark, Duration replayTimeout,
                               int maxBufferedBatches, Duration reconnectInterval, Duration reconnectIntervalMax,
                               Duration heartbeatInterval, Duration handshakeTimeout, Duration rebuildBackoffMin,
                               Duration rebuildBackoffMax, long maxMessageBytes) {

    /**
     * Default receive high-water mark: 1,000 messages per socket. A 16-block vLLM batch is about 1.3 KB on the
     * wire (a 128-block one about 10 KB), so a stalled stream holds at most about 1.3-10 MB (plus JeroMQ's
     * per-message objects) instead of the 100,000 messages (130 MB+) of the earlier default, and a backlog that
     * overflows it is still inside vLLM's 10,000-batch replay ring when the gap is detected.
     */
    public static final int DEFAULT_RECEIVE_HIGH_WATER_MARK = 1_000;

    /**
     * Default frame cap: 16 MiB. vLLM's largest real batch is one scheduler step's stores: a 131,072-token prefill
     * step is about 1 MB of msgpack (5 bytes per token id, 34 per SHA-256 hash), and offloading a full 80 GB GPU's
     * blocks to CPU in one step is about 11 MB; 16 MiB is above both, yet a frame that large (plus the copy kept
     * while a replay runs) still fits the daemon's default 96 MB heap.
     */
    public static final long DEFAULT_MAX_MESSAGE_BYTES = 16L << 20;

    public SubscriberConfig {
        require(pollerThreads >= 1 && pollerThreads <= 64, "pollerThreads must be in 1..64", pollerThreads);
        require(ioThreads >= 1 && ioThreads <= 64, "ioThreads must be in 1..64", ioThreads);
        require(receiveHighWaterMark >= 0, "receiveHighWaterMark must be >= 0 (0 = unlimited)", receiveHighWaterMark);
        require(maxBufferedBatches >= 1, "maxBufferedBatches must be >= 1", maxBufferedBatches);
        requirePositive(replayTimeout, "replayTimeout");
        requirePositive(reconnectInterval, "reconnectInterval");
        requirePositive(reconnectIntervalMax, "reconnectIntervalMax");
        requirePositive(handshakeTimeout, "handshakeTimeout");
        requirePositive(rebuildBackoffMin, "rebuildBackoffMin");
        requirePositive(rebuildBackoffMax, "rebuildBackoffMax");
        Objects.requireNonNull(heartbeatInterval, "heartbeatInterval");
        require(!heartbeatInterval.isNegative(), "heartbeatInterval must be >= 0", heartbeatInterval);
        require(maxMessageBytes == -1 || (maxMessageBytes >= 1024 && maxMessageBytes <= Integer.MAX_VALUE - 8),
                "maxMessageBytes must be -1 (unlimited) or in 1024..2^31-9", maxMessageBytes);
    }

    /**
     * One poller thread, one I/O thread, {@value #DEFAULT_RECEIVE_HIGH_WATER_MARK}-message receive HWM, replay timeout 3 s, 16,384 buffered batches, reconnect
     * 100 ms..5 s, heartbeat 2 s, handshake timeout 2 s, rebuild backoff 1 s..60 s, frame cap
     * {@value #DEFAULT_MAX_MESSAGE_BYTES} bytes.
     */
    public static SubscriberConfig defaults() {
        return new SubscriberConfig(1, 1, DEFAULT_RECEIVE_HIGH_WATER_MARK, Duration.ofSeconds(3), 16_384, Duration.ofMillis(100),
                Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(1),
                Duration.ofSeconds(60), DEFAULT_MAX_MESSAGE_BYTES);
    }

    public SubscriberConfig withPollerThreads(int value) {
        return new SubscriberConfig(value, ioThreads, receiveHighWaterMark, replayTimeout, maxBufferedBatches,
                reconnectInterval, reconnectIntervalMax, heartbeatInterval, handshakeTimeout, rebuildBackoffMin,
                rebuildBackoffMax, maxMessageBytes);
    }

    public SubscriberConfig withReceiveHighWaterMark(int value) {
        return new SubscriberConfig(pollerThreads, ioThreads, value, replayTimeout, maxBufferedBatches,
                reconnectInterval, reconnectIntervalMax, heartbeatInterval, handshakeTimeout, rebuildBackoffMin,
                rebuildBackoffMax, maxMessageBytes);
    }

    public SubscriberConfig withReplayTimeout(Duration value) {
        return new SubscriberConfig(pollerThreads, ioThreads, receiveHighWaterMark, value, maxBufferedBatches,
                reconnectInterval, reconnectIntervalMax, heartbeatInterval, handshakeTimeout, rebuildBackoffMin,
                rebuildBackoffMax, maxMessageBytes);
    }

    public SubscriberConfig withRebuildBackoff(Duration min, Duration max) {
        return new SubscriberConfig(pollerThreads, ioThreads, receiveHighWaterMark, replayTimeout, maxBufferedBatches,
                reconnectInterval, reconnectIntervalMax, heartbeatInterval, handshakeTimeout, min, max, maxMessageBytes);
    }

    public SubscriberConfig withHandshakeTimeout(Duration value) {
        return new SubscriberConfig(pollerThreads, ioThreads, receiveHighWaterMark, replayTimeout, maxBufferedBatches,
                reconnectInterval, reconnectIntervalMax, heartbeatInterval, value, rebuildBackoffMin,
                rebuildBackoffMax, maxMessageBytes);
    }

    public SubscriberConfig withMaxMessageBytes(long value) {
        return new SubscriberConfig(pollerThreads, ioThreads, receiveHighWaterMark, replayTimeout, maxBufferedBatches,
                reconnectInterval, reconnectIntervalMax, heartbeatInterval, handshakeTimeout, rebuildBackoffMin,
                rebuildBackoffMax, value);
    }

    private static void require(boolean condition, String message, Object value) {
        if (!condition) {
            throw new IllegalArgumentException(message + ", was " + value);
        }
    }

    private static void requirePositive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        require(!d.isNegative() && !d.isZero(), name + " must be positive", d);
    }
}
