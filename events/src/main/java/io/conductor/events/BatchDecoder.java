package io.conductor.events;

import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * Decodes one batch payload in place: {@link #begin} validates the whole msgpack value and reads the envelope,
 * then {@link #nextEvent} fills a reused {@link KvEvent} per event.
 *
 * <p>Error scope: {@code begin} throws for a batch-level problem (nothing of the batch applies); {@code nextEvent}
 * throws for one event and leaves the cursor on the next event, so its batch-mates still decode in order. Because
 * {@code begin} walks the whole value (reading the envelope's fields, skipping each event, which validates it),
 * every later skip is known to succeed. With several problems in one batch, the first one met in that walk is
 * the reason reported.
 *
 * <p>Usage:
 * <pre>{@code
 *   decoder.begin(payload, 0, payload.length, batch, registeredRank);
 *   while (decoder.hasNextEvent()) {
 *       try { decoder.nextEvent(event); sink.onEvent(batch, event); }
 *       catch (DecodeException e) { count(e.reason()); }
 *   }
 * }</pre>
 *
 * <p>Not thread-safe: one instance per stream, used on that stream's poller thread.
 */
abstract sealed class BatchDecoder permits VllmBatchDecoder, MooncakeBatchDecoder {

    /** Cap on hashes or tokens in one event; larger events are dropped as {@link DropReason#TOO_LARGE}. */
    static final int MAX_ELEMENTS_PER_EVENT = 1 << 20;

    private static final byte[] TS = ascii("ts");
    private static final byte[] TIMESTAMP = ascii("timestamp");
    private static final byte[] TIMESTAMP_MS = ascii("timestamp_ms");
    private static final byte[] EVENTS = ascii("events");
    private static final byte[] DATA_PARALLEL_RANK = ascii("data_parallel_rank");
    private static final byte[] ATTN_DP_RANK = ascii("attn_dp_rank");
    private static final byte[] DP_RANK = ascii("dp_rank");

    final MsgpackReader reader = new MsgpackReader();
    final StringInterner strings = new StringInterner();
    private int eventsRemaining;

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    static BatchDecoder forPublisher(PublisherType type) {
        return switch (type) {
            case VLLM -> new VllmBatchDecoder(false);
            case SGLANG -> new VllmBatchDecoder(true);
            case MOONCAKE -> new MooncakeBatchDecoder();
        };
    }

    /** Divisor turning the envelope's timestamp into seconds (Mooncake sends milliseconds). */
    abstract double timestampUnitsPerSecond();

    /**
     * Validates the payload and reads the envelope into {@code batch} (timestamp, rank, event count).
     *
     * @param registeredRank the subscription's DP rank; a batch carrying another rank is dropped
     * @throws DecodeException for any batch-level problem; the batch must then be dropped whole
     */
    final void begin(byte[] payload, int offset, int length, KvBatch batch, int registeredRank) {
        final MsgpackReader r = reader;
        // One pass validates and reads the envelope: every element is either read (timestamp, rank) or skipped
        // whole (each event, unknown keys), and skipping validates, so no separate validation walk over the token
        // arrays (most of the bytes) is needed before it.
        r.wrap(payload, offset, length);
        double ts = Double.NaN;
        int eventsPosition = -1;
        int eventCount = 0;
        int rank = KvBatch.NO_DP_RANK;
        if (r.isArrayNext()) {
            final int n = r.readArrayHeader();
            if (n < 2 || n > 3) {
                throw DecodeException.of(DropReason.BATCH_SHAPE, "batch array of %d elements, 2 or 3 expected", n);
            }
            ts = readTimestamp(r);
            if (!r.isArrayNext()) {
                throw DecodeException.of(DropReason.BATCH_EVENTS, "events must be an array");
            }
            eventCount = r.readArrayHeader();
            eventsPosition = r.position();
            for (int i = 0; i < eventCount; i++) {
                r.skipValue();
            }
            if (n == 3) {
                rank = readRank(r);
            }
        } else if (r.isMapNext()) {
            final int n = r.readMapHeader();
            for (int i = 0; i < n; i++) {
                if (!r.isStrNext()) {
                    r.skipValue();
                    r.skipValue();
                    continue;
                }
                final int keyLength = r.readStr();
                if (r.lastRawEquals(keyLength, TS) || r.lastRawEquals(keyLength, TIMESTAMP)
                        || r.lastRawEquals(keyLength, TIMESTAMP_MS)) {
                    ts = readTimestamp(r);
                } else if (r.lastRawEquals(keyLength, EVENTS)) {
                    if (!r.isArrayNext()) {
                        throw DecodeException.of(DropReason.BATCH_EVENTS, "events must be an array");
                    }
                    eventCount = r.readArrayHeader();
                    eventsPosition = r.position();
                    for (int e = 0; e < eventCount; e++) {
                        r.skipValue();
                    }
                } else if (r.lastRawEquals(keyLength, DATA_PARALLEL_RANK) || r.lastRawEquals(keyLength, ATTN_DP_RANK)
                        || r.lastRawEquals(keyLength, DP_RANK)) {
                    rank = readRank(r);
                } else {
                    r.skipValue();
                }
            }
            if (eventsPosition < 0 || Double.isNaN(ts)) {
                throw DecodeException.of(DropReason.BATCH_SHAPE, "batch map without %s",
                        eventsPosition < 0 ? "events" : "ts");
            }
        } else {
            throw DecodeException.of(DropReason.BATCH_SHAPE, "batch must be an array or a map, found type byte 0x%02x",
                    r.peek() & 0xff);
        }
        if (r.hasRemaining()) {
            throw DecodeException.of(DropReason.TRAILING_BYTES, "%d bytes after the batch",
                    r.limit() - r.position());
        }
        if (rank != KvBatch.NO_DP_RANK && rank != registeredRank) {
            throw DecodeException.of(DropReason.DP_RANK_MISMATCH, "batch rank %d, subscription rank %d", rank,
                    registeredRank);
        }
        batch.timestampSeconds(ts / timestampUnitsPerSecond());
        batch.dpRank(rank);
        batch.eventCount(eventCount);
        r.position(eventsPosition);
        eventsRemaining = eventCount;
    }

    final boolean hasNextEvent() {
        return eventsRemaining > 0;
    }

    /**
     * Decodes the next event into {@code event}.
     *
     * @throws DecodeException if this event is malformed; the cursor is then on the next event
     */
    final void nextEvent(KvEvent event) {
        eventsRemaining--;
        final int start = reader.position();
        try {
            decodeEvent(event);
        } catch (DecodeException e) {
            reader.position(start);
            reader.skipValue();
            throw e;
        }
    }

    abstract void decodeEvent(KvEvent event);

    private static double readTimestamp(MsgpackReader r) {
        final double ts;
        try {
            ts = r.readNumber();
        } catch (DecodeException e) {
            throw DecodeException.of(DropReason.BATCH_TIMESTAMP, "timestamp must be a number");
        }
        if (!Double.isFinite(ts)) {
            throw DecodeException.of(DropReason.BATCH_TIMESTAMP, "timestamp is not finite: %s", ts);
        }
        return ts;
    }

    private static int readRank(MsgpackReader r) {
        if (r.tryReadNil()) {
            return KvBatch.NO_DP_RANK;
        }
        try {
            return r.readIntInRange(0, Integer.MAX_VALUE, "dp rank");
        } catch (DecodeException e) {
            throw DecodeException.of(DropReason.BATCH_SHAPE, "dp rank must be nil or a non-negative int");
        }
    }

    /** Reads nil or a string and interns it. */
    final @Nullable String readOptionalString() {
        final MsgpackReader r = reader;
        if (r.tryReadNil()) {
            return null;
        }
        final int length = r.readStr();
        return strings.intern(r.buffer(), r.lastRawOffset(), length);
    }

    /** Reads an array of hashes into the event. */
    final void readHashes(KvEvent event) {
        final MsgpackReader r = reader;
        if (!r.isArrayNext()) {
            throw DecodeException.of(r.isNilNext() ? DropReason.MISSING_FIELD : DropReason.FIELD_TYPE,
                    "block hashes must be an array");
        }
        final int n = r.readArrayHeader();
        if (n > MAX_ELEMENTS_PER_EVENT) {
            throw DecodeException.of(DropReason.TOO_LARGE, "%d hashes in one event", n);
        }
        final long[] hashes = event.hashesFor(n);
        for (int i = 0; i < n; i++) {
            hashes[i] = r.readHash();
        }
    }
}
