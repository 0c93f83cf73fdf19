package io.conductor.daemon.service;

/**
 * The position of what the index holds for one stream: the subscriber's epoch (resets so far) and the seq of the
 * last batch applied in it ({@code -1}: none since the last reset). Immutable.
 *
 * @param epoch the stream's epoch
 * @param seq   the last applied seq, or -1
 */
public record AppliedPosition(long epoch, long seq) {
}
