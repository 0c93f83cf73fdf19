package io.conductor.events;

/**
 * The replay side of one subscription, as seen by its {@link StreamSession}: vLLM's DEALER/ROUTER handshake.
 *
 * <p>Not thread-safe: called on the subscription's poller thread only.
 */
interface ReplayChannel {

    /**
     * Asks for every buffered batch with {@code seq >= fromSeq}: sends {@code ["", fromSeq as 8 bytes BE]}.
     *
     * @return false if the request could not be queued (the session then treats the replay as failed)
     */
    boolean request(long fromSeq);

    /** Drops the current exchange by replacing the socket, so late replies to an abandoned request never arrive. */
    void restart();
}
