package io.conductor.index.hash;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** Every case of both golden files, through the production chain, the production encoders and the reference. */
class GoldenVectorTest {
    private static final HexFormat HEX = HexFormat.of();

    static Stream<GoldenVectors.Case> cborCases() {
        return GoldenVectors.load(GoldenVectors.CBOR_FILE).cases().stream();
    }

    static Stream<GoldenVectors.Case> pickleCases() {
        return GoldenVectors.load(GoldenVectors.PICKLE_FILE).cases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cborCases")
    void shouldReproduceCborVectorWhenChainIsHashed(GoldenVectors.Case c) {
        assertCase(HashAlgorithm.SHA256_CBOR, c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("pickleCases")
    void shouldReproducePickleVectorWhenChainIsHashed(GoldenVectors.Case c) {
        assertCase(HashAlgorithm.SHA256, c);
    }

    private static void assertCase(HashAlgorithm algorithm, GoldenVectors.Case c) {
        final HashProfile profile = HashProfile.of(algorithm, "0");
        final HashExtras extras = HashExtras.of(c.loraName(), c.cacheSalt());
        final BlockHashChain chain = new BlockHashChain().reset(profile, c.blockSize(), c.tokens(), extras);

        assertEquals(c.expected().size(), chain.blockCount(), "complete blocks");
        final byte[] digest = new byte[32];
        final List<byte[]> reference = ReferenceChain.digests(algorithm, "0", c.blockSize(), c.tokens(),
                c.loraName(), c.cacheSalt());
        byte[] parent = profile.rootDigest();
        for (int i = 0; i < chain.blockCount(); i++) {
            final GoldenVectors.Block expected = c.expected().get(i);
            chain.copyDigest(i, digest, 0);
            assertEquals(expected.digestHex(), HEX.formatHex(digest), "digest of block " + i);
            assertEquals(expected.projectedHex(), HEX.toHexDigits(chain.blockHash(i)), "key of block " + i);
            assertEquals(expected.projectedDecimal(), Long.toUnsignedString(chain.blockHash(i)), "decimal " + i);
            assertEquals(expected.digestHex(), HEX.formatHex(reference.get(i)), "reference digest of block " + i);

            final byte[] encoded = encode(algorithm, parent, c, i, extras);
            if (expected.pickleHex() != null) {
                assertEquals(expected.pickleHex(), HEX.formatHex(encoded), "pickle bytes of block " + i);
            }
            if (expected.pickleLength() >= 0) {
                assertEquals(expected.pickleLength(), encoded.length, "pickle length of block " + i);
            }
            final Object value = ReferenceChain.blockValue(parent, c.tokens(), i * c.blockSize(), c.blockSize(),
                    c.loraName(), c.cacheSalt(), i);
            assertArrayEquals(ReferenceChain.serialize(algorithm, value), encoded, "reference bytes of block " + i);
            parent = digest.clone();
        }
        if (c.incorrectLow64ParentDigest() != null) {
            // Chaining the 8-byte key instead of the full digest must give the documented wrong value, and we don't.
            final byte[] key0 = Arrays.copyOfRange(HEX.parseHex(c.expected().get(0).digestHex()), 24, 32);
            final Object wrong = ReferenceChain.blockValue(key0, c.tokens(), c.blockSize(), c.blockSize(),
                    c.loraName(), c.cacheSalt(), 1);
            final byte[] wrongDigest = ReferenceChain.sha256(ReferenceChain.serialize(algorithm, wrong));
            assertEquals(c.incorrectLow64ParentDigest(), HEX.formatHex(wrongDigest));
            chain.copyDigest(1, digest, 0);
            assertNotEquals(c.incorrectLow64ParentDigest(), HEX.formatHex(digest));
        }
    }

    private static byte[] encode(HashAlgorithm algorithm, byte[] parent, GoldenVectors.Case c, int block,
                                 HashExtras extras) {
        final byte[] salt = block == 0 ? extras.cacheSaltUtf8() : new byte[0];
        if (algorithm == HashAlgorithm.SHA256) {
            final PickleBlockEncoder encoder = new PickleBlockEncoder();
            final int n = encoder.encode(parent, 0, 32, c.tokens(), block * c.blockSize(), c.blockSize(),
                    extras.loraNameUtf8(), salt, block == 0 && extras.sameCachedObject());
            return Arrays.copyOf(encoder.buffer(), n);
        }
        final CborBlockEncoder encoder = new CborBlockEncoder();
        final int n = encoder.encode(parent, 0, 32, c.tokens(), block * c.blockSize(), c.blockSize(),
                extras.loraNameUtf8(), salt);
        return Arrays.copyOf(encoder.buffer(), n);
    }

    @Test
    void shouldCoverEveryCaseOfBothFiles() {
        assertEquals(11, cborCases().count());
        assertEquals(19, pickleCases().count());
        assertEquals(14, cborCases().mapToInt(c -> c.expected().size()).sum());
        assertEquals(25, pickleCases().mapToInt(c -> c.expected().size()).sum());
    }
}
