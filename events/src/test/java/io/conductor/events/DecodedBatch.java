package io.conductor.events;

import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/** The outcome of decoding one payload with a {@link BatchDecoder}: the batch drop, or the envelope, the events
 *  and the per-event drops in order. */
record DecodedBatch(@Nullable DropReason batchDrop, double timestampSeconds, int dpRank, int eventCount,
                    List<DecodedEvent> events, List<DropReason> eventDrops) {

    static DecodedBatch decode(PublisherType type, byte[] payload) {
        return decode(type, payload, 0);
    }

    static DecodedBatch decode(PublisherType type, byte[] payload, int registeredRank) {
        final BatchDecoder decoder = BatchDecoder.forPublisher(type);
        final KvBatch batch = new KvBatch(new StreamKey("i", "default", registeredRank), type);
        final KvEvent event = new KvEvent(1, 1);
        try {
            decoder.begin(payload, 0, payload.length, batch, registeredRank);
        } catch (DecodeException e) {
            return new DecodedBatch(e.reason(), Double.NaN, KvBatch.NO_DP_RANK, 0, List.of(), List.of());
        }
        final List<DecodedEvent> events = new ArrayList<>();
        final List<DropReason> drops = new ArrayList<>();
        while (decoder.hasNextEvent()) {
            try {
                decoder.nextEvent(event);
                events.add(DecodedEvent.of(event));
            } catch (DecodeException e) {
                drops.add(e.reason());
            }
        }
        return new DecodedBatch(null, batch.timestampSeconds(), batch.dpRank(), batch.eventCount(), events, drops);
    }

    DecodedEvent event(int i) {
        return events.get(i);
    }
}
