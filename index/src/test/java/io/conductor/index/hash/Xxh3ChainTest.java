package io.conductor.index.hash;

import com.dynatrace.hash4j.hashing.Hashing;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RFC #1527 rolling XXH3 chain (hashing.md section 9). */
class Xxh3ChainTest {

    @Test
    void shouldReproduceSpecVectorWhenSeedIsZero() {
        final HashProfile profile = HashProfile.of(HashAlgorithm.XXH3, "0");
        final BlockHashChain chain = new BlockHashChain().reset(profile, 4, new int[] {1, 2, 3, 4, 5, 6, 7, 8},
                HashExtras.NONE);

        assertEquals(2, chain.blockCount());
        assertEquals(0x6fc1ebd4f4d6ea31L, chain.blockHash(0));
        assertEquals(8052976908588476977L, chain.blockHash(0));
        assertEquals(0x3a14937fd5340c7aL, chain.blockHash(1));
        assertEquals("4185132130981121146", Long.toUnsignedString(chain.blockHash(1)));
        assertEquals(8, chain.digestLength());
    }

    @Test
    void shouldMatchByteLevelRecipeWhenSeedAndTokensAreRandom() {
        final SplittableRandom random = new SplittableRandom(1527);
        final BlockHashChain chain = new BlockHashChain();
        for (int run = 0; run < 50; run++) {
            final long seed = random.nextLong();
            final int blockSize = 1 + random.nextInt(64);
            final int[] tokens = random.ints(blockSize * (1 + random.nextInt(5)) + random.nextInt(blockSize))
                    .toArray();
            chain.reset(HashProfile.forAnySeedText(HashAlgorithm.XXH3, Long.toUnsignedString(seed)), blockSize,
                    tokens, HashExtras.NONE);

            long seq = 0;
            for (int i = 0; i < chain.blockCount(); i++) {
                final byte[] block = new byte[4 * blockSize];
                for (int k = 0; k < blockSize; k++) {
                    final int t = tokens[i * blockSize + k];
                    block[4 * k] = (byte) t;
                    block[4 * k + 1] = (byte) (t >>> 8);
                    block[4 * k + 2] = (byte) (t >>> 16);
                    block[4 * k + 3] = (byte) (t >>> 24);
                }
                final long local = Hashing.xxh3_64(seed).hashBytesToLong(block);
                if (i == 0) {
                    seq = local;
                } else {
                    final byte[] pair = new byte[16];
                    for (int k = 0; k < 8; k++) {
                        pair[k] = (byte) (seq >>> (8 * k));
                        pair[8 + k] = (byte) (local >>> (8 * k));
                    }
                    seq = Hashing.xxh3_64(seed).hashBytesToLong(pair);
                }
                assertEquals(seq, chain.blockHash(i), "block " + i);
            }
        }
    }
}
