package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A Mooncake master stream over real sockets: no replay, object events keyed by the derived 64-bit key. */
@Timeout(60)
class MooncakeTransportTest {

    @Test
    void shouldApplyStoredRemovedAndClearedWhenMasterPublishes() {
        try (KvEventSubscriber subscriber = new KvEventSubscriber(SubscriptionTransportTest.CONFIG);
             VllmTestPublisher master = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final RecordingSink sink = new RecordingSink();
            final StreamKey key = new StreamKey("store", "tenant-a", 0);
            subscriber.add(SubscriptionSpec.of(key, PublisherType.MOONCAKE, master.endpoint(), null), sink).join();
            final byte[] empty = SglangAndMooncakeDecoderTest.mooncakeBatch();
            Await.until(() -> {
                if (sink.batches() > 0) {
                    return true;
                }
                master.publish(empty);
                return false;
            }, () -> "first batch");

            master.publish(SglangAndMooncakeDecoderTest.mooncakeBatch(
                    SglangAndMooncakeDecoderTest.mooncakeEvent("stored", "0x2a", null, List.of(42L)),
                    SglangAndMooncakeDecoderTest.mooncakeEvent("stored",
                            "m@tp_rank:0@pcp0@dcp0@pp_rank:0@00000000000000ff", null, null)));
            master.publish(SglangAndMooncakeDecoderTest.mooncakeBatch(
                    SglangAndMooncakeDecoderTest.mooncakeEvent("removed", "0x2a", null, null)));
            Await.until(() -> sink.held().equals(Set.of(255L)), () -> "held " + sink.held());

            master.publish(SglangAndMooncakeDecoderTest.mooncakeBatch(
                    SglangAndMooncakeDecoderTest.mooncakeEvent("cleared", null, null, null)));
            Await.until(() -> sink.held().isEmpty(), () -> "cleared");

            final StreamStats s = subscriber.stats(key);
            assertEquals(StreamState.LIVE, s.state());
            assertEquals(2, s.blocksStored());
            assertEquals(1, s.blocksRemoved());
            assertEquals(1, s.clears());
            assertEquals("backend-1", sink.events().get(0).backendId());
        }
    }
}
