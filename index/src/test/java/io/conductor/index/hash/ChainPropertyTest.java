package io.conductor.index.hash;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The fast writers against the slow reference model on random inputs: token runs with negative and large ids,
 * LoRA names and salts with multi-byte UTF-8, block sizes 1..4096, and the pickle framing thresholds.
 */
class ChainPropertyTest {
    private static final String[] ALPHABET = {"a", "Z", "0", "-", "_", " ", "é", "ß", "ÿ", "模", "型", "盐", "🚀",
        "𝄞", "\u0000", "\u007f", "\u0080", "\u07ff", "\u0800", "\uffff", "\uD800\uDC00", "\uDBFF\uDFFF"};

    @ParameterizedTest
    @EnumSource(value = HashAlgorithm.class, names = {"SHA256", "SHA256_CBOR"})
    void shouldMatchReferenceWhenInputsAreRandom(HashAlgorithm algorithm) {
        final SplittableRandom random = new SplittableRandom(20261122L + algorithm.ordinal());
        final BlockHashChain chain = new BlockHashChain();       // one chain reused across all runs, as in service
        for (int run = 0; run < 150; run++) {
            final int blockSize = run % 10 == 0 ? 1 + random.nextInt(4096) : 1 + random.nextInt(48);
            final int blocks = random.nextInt(blockSize > 512 ? 3 : 6);
            final int[] tokens = randomTokens(random, blocks * blockSize + random.nextInt(blockSize));
            final String lora = random.nextInt(3) == 0 ? "" : randomText(random, random.nextInt(300));
            final String salt = random.nextInt(3) == 0 ? null : randomText(random, random.nextInt(300));
            final String seed = random.nextBoolean() ? Integer.toUnsignedString(random.nextInt()) : "vllm-none-hash";

            assertSameAsReference(chain, algorithm, seed, blockSize, tokens, lora, salt);
        }
    }

    @ParameterizedTest
    @EnumSource(value = HashAlgorithm.class, names = {"SHA256", "SHA256_CBOR"})
    void shouldMatchReferenceWhenLoraAndSaltAreTheSameText(HashAlgorithm algorithm) {
        final BlockHashChain chain = new BlockHashChain();
        for (String text : new String[] {"a", "ÿ", "\u0100", "模", "🚀", "ab"}) {
            assertSameAsReference(chain, algorithm, "0", 1, new int[] {7, 8}, text, text);
        }
    }

    @Test
    void shouldWriteMemoReferenceWhenLoraAndSaltAreTheSameCachedCharacter() {
        // hashing.md 6.4: (parent, (7,), ("a", "a")) ends ... 94 4b 07 85 94 8c 01 61 94 68 02 86 94 87 94 2e
        final PickleBlockEncoder encoder = new PickleBlockEncoder();
        final HashExtras extras = HashExtras.of("a", "a");

        final int n = encoder.encode(new byte[32], 0, 32, new int[] {7}, 0, 1, extras.loraNameUtf8(),
                extras.cacheSaltUtf8(), extras.sameCachedObject());

        final String hex = HexFormat.of().formatHex(Arrays.copyOf(encoder.buffer(), n));
        assertEquals("944b0785948c0161946802869487942e", hex.substring(hex.length() - 32));
    }

    @Test
    void shouldKeepClosingOpcodesInFirstFrameWhenLastTokenFillsIt() {
        // hashing.md 6.3 edge: B = 21834 tokens of 256 leave frame 1 at 65538 bytes; 74 94 still join it (65540)
        // and frame 2 is 4e 87 94 2e with a header.
        final int[] tokens = new int[21834];
        Arrays.fill(tokens, 256);
        final PickleBlockEncoder encoder = new PickleBlockEncoder();

        final int n = encoder.encode(new byte[32], 0, 32, tokens, 0, tokens.length, new byte[0], new byte[0], false);

        assertEquals(2 + 9 + 65540 + 9 + 4, n);
        final byte[] b = encoder.buffer();
        assertEquals("95" + "0400010000000000", HexFormat.of().formatHex(b, 2, 11));
        assertEquals("7494" + "950400000000000000" + "4e87942e", HexFormat.of().formatHex(b, n - 15, n));
    }

    /**
     * Sizes straddling CPython's 64 KiB frame target and the large-payload threshold: token runs whose pending frame
     * crosses 65536 bytes at a token, just before {@code 74 94} (the B = 21834 edge) or just after; LoRA names and
     * salts of 65535 / 65536 bytes (in frame / unframed), both large, and a large name after a large token run.
     */
    @ParameterizedTest
    @CsvSource({
        "21834, 256, 0, -1", "21835, 256, 0, -1", "21833, 256, 0, -1", "22000, 256, 0, -1",
        "13106, -1, 0, -1", "13107, -1, 0, -1", "13108, -1, 0, -1", "32752, 7, 0, -1", "32751, 7, 0, -1",
        "4, 1, 65535, -1", "4, 1, 65536, -1", "4, 1, 0, 65535", "4, 1, 0, 65536", "4, 1, 65536, 65536",
        "4, 1, 65536, 3", "4, 1, 3, 65536", "22000, 256, 70000, 70000", "21834, 256, 1, 1", "1, 300, 65400, 200",
    })
    void shouldMatchReferenceWhenFramesCrossTheTarget(int blockSize, int token, int loraLength, int saltLength) {
        final int[] tokens = new int[2 * blockSize];
        Arrays.fill(tokens, token);
        final String lora = "l".repeat(loraLength);
        final String salt = saltLength < 0 ? null : "s".repeat(saltLength);

        assertSameAsReference(new BlockHashChain(), HashAlgorithm.SHA256, "0", blockSize, tokens, lora, salt);
        assertSameAsReference(new BlockHashChain(), HashAlgorithm.SHA256_CBOR, "0", blockSize, tokens, lora, salt);
    }

    @Test
    void shouldMatchReferenceRootsWhenSeedsAreTheSpecSeeds() {
        for (String seed : new String[] {"0", "00", "random", "4294967295", "vllm-none-hash"}) {
            for (HashAlgorithm algorithm : new HashAlgorithm[] {HashAlgorithm.SHA256, HashAlgorithm.SHA256_CBOR}) {
                assertArrayEquals(ReferenceChain.root(algorithm, seed), HashProfile.of(algorithm, seed).rootDigest(),
                        algorithm + " " + seed);
            }
        }
    }

    @Test
    void shouldMatchReferenceRootWhenSeedTextIsLongOrMultiByte() {
        for (String seed : new String[] {"x".repeat(255), "x".repeat(256), "x".repeat(65535), "x".repeat(65536),
            "模".repeat(30000), "🚀"}) {
            for (HashAlgorithm algorithm : new HashAlgorithm[] {HashAlgorithm.SHA256, HashAlgorithm.SHA256_CBOR}) {
                assertArrayEquals(ReferenceChain.root(algorithm, seed),
                        HashProfile.forAnySeedText(algorithm, seed).rootDigest(), algorithm + " " + seed.length());
            }
        }
    }

    private static void assertSameAsReference(BlockHashChain chain, HashAlgorithm algorithm, String seed,
                                              int blockSize, int[] tokens, String lora, String salt) {
        final HashProfile profile = HashProfile.forAnySeedText(algorithm, seed);
        chain.reset(profile, blockSize, tokens, HashExtras.of(lora, salt));
        final List<byte[]> expected = ReferenceChain.digests(algorithm, seed, blockSize, tokens, lora, salt);

        assertEquals(expected.size(), chain.blockCount());
        final byte[] digest = new byte[32];
        for (int i = expected.size() - 1; i >= 0; i--) {           // backwards: the first call hashes them all
            chain.copyDigest(i, digest, 0);
            assertArrayEquals(expected.get(i), digest, () -> "block " + blockSize + "/" + lora.length());
            assertEquals(ReferenceChain.low64Be(expected.get(i)), chain.blockHash(i));
        }
    }

    private static int[] randomTokens(SplittableRandom random, int count) {
        final int[] tokens = new int[count];
        for (int i = 0; i < count; i++) {
            tokens[i] = switch (random.nextInt(6)) {
                case 0 -> random.nextInt(24);
                case 1 -> random.nextInt(256);
                case 2 -> random.nextInt(65536);
                case 3 -> 65536 + random.nextInt(Integer.MAX_VALUE - 65536);
                case 4 -> -1 - random.nextInt(300);
                default -> random.nextInt();
            };
        }
        return tokens;
    }

    private static String randomText(SplittableRandom random, int parts) {
        final StringBuilder text = new StringBuilder();
        for (int i = 0; i < parts; i++) {
            text.append(ALPHABET[random.nextInt(ALPHABET.length)]);
        }
        return text.toString();
    }
}
