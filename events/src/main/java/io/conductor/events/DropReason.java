package io.conductor.events;

/**
 * Why a frame, a batch or a single event was dropped. Each drop is counted per stream and reason
 * ({@link StreamStats#drops()}) and logged at most once per stream, reason and minute.
 *
 * <p>Scope: the {@code *_FRAME*}, {@code BATCH_*}, {@code TRAILING_BYTES}, {@code DP_RANK_MISMATCH} reasons drop a
 * whole message
 * ({@code FRAME_TOO_LARGE}: the whole connection); every other reason drops one event, and its batch-mates still apply in order. {@code TRUNCATED}
 * found while validating a batch's structure drops the whole batch.
 *
 * <p>Immutable; thread-safe.
 */
public enum DropReason {
    /** A live message with a frame count other than 3, or a replay reply with fewer than 3 frames. */
    FRAME_COUNT,
    /**
     * A peer announced a frame above {@link SubscriberConfig#maxMessageBytes()}: ZMQ disconnected it before reading
     * the frame (the message is lost; the peer reconnects, and the gap is replayed if it can be).
     */
    FRAME_TOO_LARGE,
    /** A sequence frame that is not exactly 8 bytes. */
    SEQ_FRAME_LENGTH,
    /** msgpack that ends early or uses a reserved type byte. */
    TRUNCATED,
    /** Bytes left after the batch's msgpack value. */
    TRAILING_BYTES,
    /** A batch that is not an array of 2 or 3 elements nor a map with {@code ts} and {@code events}. */
    BATCH_SHAPE,
    /** A batch timestamp that is not a finite number. */
    BATCH_TIMESTAMP,
    /** A batch whose events element is not an array. */
    BATCH_EVENTS,
    /** A batch whose DP rank is set and differs from the subscription's rank. */
    DP_RANK_MISMATCH,
    /** An event that is neither a tagged array nor a tagged map, or has no tag. */
    EVENT_SHAPE,
    /** An event whose tag is not known. */
    UNKNOWN_EVENT_TAG,
    /** A field of the wrong msgpack type. */
    FIELD_TYPE,
    /** An integer field outside its range (e.g. a negative block size, a token id above 2^31-1). */
    FIELD_RANGE,
    /** A required field is missing ({@code block_hashes}; Mooncake {@code event_type}, {@code backend_id}). */
    MISSING_FIELD,
    /** A hash that is neither an integer nor a bin of at least 8 bytes. */
    HASH_FORM,
    /** An event with more hashes or tokens than the configured cap. */
    TOO_LARGE,
    /** A Mooncake event whose 64-bit key cannot be derived from its connector hash, object key or seq hashes. */
    UNINDEXABLE_KEY,
    /** A Mooncake event whose non-empty {@code seq_hashes} disagrees with the key derived from its object key. */
    HASH_MISMATCH,
    /**
     * A well-formed event the sink could not index ({@link KvBatch#reportUnindexed}), such as a token-rehash
     * stream whose table is full. When the sink says the stream is now incomplete, the stream goes DEGRADED.
     */
    UNINDEXED,
    /**
     * A replayed batch whose bytes differ from the live batch of the same seq: the replay server is not serving the
     * engine's ring. The replay is abandoned and the live batches apply (state DEGRADED).
     */
    REPLAY_MISMATCH
}
