package io.conductor.events;

/**
 * Whether a {@link KvEventSubscriber}'s transport (JeroMQ's I/O threads and the subscriber's poller threads) is
 * ingesting, as its watchdog last saw it. A daemon reports not-ready while {@link #healthy()} is false: the index
 * is then frozen or about to be.
 *
 * <p>Immutable; thread-safe.
 *
 * @param healthy every poller thread is alive and polled recently, and no JeroMQ I/O thread death is unrepaired
 * @param problem what is wrong, or {@code ""} when healthy
 * @param rebuilds transports rebuilt so far after a JeroMQ I/O thread died
 */
public record TransportHealth(boolean healthy, String problem, int rebuilds) {

    static final TransportHealth OK = new TransportHealth(true, "", 0);
}
