package io.conductor.events;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.time.Duration;

/**
 * Coverage-guided fuzzing (Jazzer) of the vLLM, SGLang and Mooncake batch decoders, driven through a real
 * {@link StreamSession} so the whole apply path runs: decode, drop accounting, the sink calls and the buffer
 * release. A malformed payload must end in a counted drop; any other throwable (an unchecked exception, an
 * out-of-memory error under the fuzz JVM's small heap) fails the target.
 *
 * <p>Without {@code JAZZER_FUZZ} set these run the committed corpus ({@code src/test/resources/.../*Inputs/})
 * once as regression tests; with it (the {@code fuzz} Maven profile, on in CI) each target is fuzzed for its
 * {@code maxDuration}, see docs/operations.md "Fuzzing".
 */
class DecoderFuzzTest {

    private static final KvEventSink SINK = new KvEventSink() {
        @Override
        public void onBatchBegin(KvBatch batch) {
        }

        @Override
        public void onEvent(KvBatch batch, KvEvent event) {
            // Touch what a real sink reads, so lazily decoded fields are decoded too.
            event.kind();
            event.blockCount();
            event.loraName();
            event.objectKey();
            event.extraKeysMsgpack();
        }

        @Override
        public void onBatchEnd(KvBatch batch) {
        }

        @Override
        public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        }
    };

    private static final SubscriberConfig CONFIG = SubscriberConfig.defaults()
            .withReplayTimeout(Duration.ofSeconds(1));

    private static void run(PublisherType type, byte[] payload) {
        final StreamCounters counters = new StreamCounters();
        final StreamSession session = new StreamSession(SubscriptionSpec.of(new StreamKey("fuzz", "default", 0),
                type, "tcp://127.0.0.1:1", null), SINK, counters, null, CONFIG);
        session.onLive(type.firstSeq(), payload, 0, payload.length, 0);
        // The same bytes again as the next batch, and as a slice with a prefix, so offsets are exercised too.
        final byte[] shifted = new byte[payload.length + 3];
        System.arraycopy(payload, 0, shifted, 3, payload.length);
        session.onLive(type.firstSeq() + 1, shifted, 3, payload.length, 1);
        // Nothing is skipped without a counter: a batch that did not apply left a drop behind.
        final long applied = counters.get(StreamCounters.BATCHES_APPLIED);
        long drops = 0;
        for (final DropReason r : DropReason.values()) {
            drops += counters.drops(r);
        }
        if (applied > 2 || (applied < 2 && drops == 0)) {
            throw new AssertionError(applied + " of 2 batches applied and " + drops + " drops counted");
        }
    }

    @FuzzTest(maxDuration = "20s")
    void vllmBatches(byte[] payload) {
        run(PublisherType.VLLM, payload);
    }

    @FuzzTest(maxDuration = "20s")
    void sglangBatches(byte[] payload) {
        run(PublisherType.SGLANG, payload);
    }

    @FuzzTest(maxDuration = "20s")
    void mooncakeBatches(byte[] payload) {
        run(PublisherType.MOONCAKE, payload);
    }
}
