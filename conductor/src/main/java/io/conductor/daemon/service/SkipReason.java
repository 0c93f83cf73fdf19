package io.conductor.daemon.service;

import java.util.Locale;

/**
 * Why a well-formed event that the decoder delivered did not (or not yet) reach the index. Every such event is
 * counted once per stream and reason ({@code conductor_events_skipped_total}, {@code /services}
 * {@code SkippedEvents}); decoder-level drops of malformed input are counted separately
 * ({@code conductor_event_decode_errors_total}). Immutable; thread-safe.
 */
public enum SkipReason {
    /** An engine event of a KV-cache group other than group 0 full attention (hybrid models). */
    NON_PRIMARY_GROUP,
    /** Token-rehash mode: the event's parent hash was never seen, so its chain cannot be recomputed. */
    UNKNOWN_PARENT,
    /** Token-rehash mode: {@code token_ids} is not {@code blocks x block_size} long (or is missing). */
    TOKEN_COUNT_MISMATCH,
    /** Token-rehash mode: the engine-hash map is full; the stream's blocks were dropped and it starts over. */
    REHASH_TABLE_FULL,
    /** A remove (engine or store) whose hashes this stream never indexed: nothing to remove. */
    UNKNOWN_HASH_REMOVED,
    /** A store object event without an object key (the generic RFC #1527 form): no binding can be kept. */
    NO_OBJECT_KEY,
    /** A store object event with no 64-bit key. */
    NO_HASH,
    /** A store object whose key names a {@code cache_role} other than {@code kv} (a hybrid model's state). */
    STATE_OBJECT,
    /** An LMCache chunk object whose other workers' objects are not all present yet: held until they are. */
    CHUNK_INCOMPLETE,
    /**
     * An LMCache chunk object that could not be tracked: the stream's bound on tracked chunks (65536) or on
     * objects per chunk (16384) was reached.
     */
    CHUNK_TRACKING_FULL,
    /** An event kind that does not belong to the stream's publisher type. */
    WRONG_STREAM_KIND,
    /** Hybrid model: {@code group_idx} is not a group of the registered layout. */
    GROUP_NOT_IN_LAYOUT,
    /** Hybrid model: the event's attention kind or sliding window contradicts the registered group. */
    GROUP_KIND_MISMATCH,
    /** Hybrid model: a {@code BlockStored}'s {@code block_size} differs from the group's (Mamba partial blocks). */
    GROUP_BLOCK_SIZE_MISMATCH,
    /** Hybrid model, token-rehash mode: hashes of a non-full group its full-attention group never mapped. */
    UNMAPPED_GROUP_HASH;

    /**
     * Returns the metric label value, e.g. {@code unknown_parent}.
     *
     * @return the label
     */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
