package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Randomly mutated real payloads: every input either decodes or fails with a {@link DecodeException} carrying a
 * reason; nothing else escapes (no {@code ArrayIndexOutOfBoundsException}, no {@code NegativeArraySizeException}).
 */
class DecoderMutationTest {

    private static final int ITERATIONS = 20_000;

    @Test
    void shouldOnlyEverThrowDecodeExceptionWhenBytesAreMutated() {
        final List<byte[]> seeds = List.of(
                Captures.payload("vllm-map-seq0.txt"), Captures.payload("vllm-array-seq0.txt"),
                Captures.payload("vllm-map-seq1.txt"), Captures.payload("vllm-array-seq1.txt"),
                SglangAndMooncakeDecoderTest.mooncakeBatch(SglangAndMooncakeDecoderTest.mooncakeEvent("stored",
                        "m@tp_rank:0@pcp0@dcp0@pp_rank:0@00ff", null, null)));
        final SplittableRandom random = new SplittableRandom(20261121);
        int decoded = 0;

        for (int i = 0; i < ITERATIONS; i++) {
            final byte[] input = seeds.get(random.nextInt(seeds.size())).clone();
            final int flips = 1 + random.nextInt(4);
            for (int f = 0; f < flips; f++) {
                input[random.nextInt(input.length)] = (byte) random.nextInt(256);
            }
            final int length = random.nextInt(8) == 0 ? random.nextInt(input.length + 1) : input.length;
            final byte[] cut = java.util.Arrays.copyOf(input, length);
            for (final PublisherType type : PublisherType.values()) {
                final DecodedBatch batch = DecodedBatch.decode(type, cut); // throws anything but DecodeException
                if (batch.batchDrop() == null) {
                    decoded++;
                }
            }
        }

        assertTrue(decoded > 0, "some mutations must still decode");
    }
}
