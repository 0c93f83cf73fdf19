package io.conductor.index.hash;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class HashProfileTest {

    @Test
    void shouldResolveEveryGoldenSeedRootWhenAlgorithmIsSha256Cbor() {
        assertSeedRoots(GoldenVectors.load(GoldenVectors.CBOR_FILE));
    }

    @Test
    void shouldResolveEveryGoldenSeedRootWhenAlgorithmIsSha256Pickle() {
        assertSeedRoots(GoldenVectors.load(GoldenVectors.PICKLE_FILE));
    }

    private static void assertSeedRoots(GoldenVectors.File file) {
        for (GoldenVectors.SeedRoot v : file.seedRoots()) {
            final HashProfile profile = HashProfile.parse("vllm_v1", file.algorithm().wireName(), v.seed(), "low64_be");

            assertEquals(v.rootHex(), profile.rootDigestHex(), v.seed());
            assertArrayEquals(HexFormat.of().parseHex(v.rootHex()), profile.rootDigest(), v.seed());
            final byte[] encoded = file.algorithm() == HashAlgorithm.SHA256
                    ? RootDigests.pickleStr(v.seed().getBytes(java.nio.charset.StandardCharsets.UTF_8))
                    : RootDigests.cborText(v.seed().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            assertEquals(v.encodedHex(), HexFormat.of().formatHex(encoded), v.seed());
        }
        final HashProfile fileProfile = HashProfile.of(file.algorithm(), file.seed());
        assertEquals(file.rootHex(), fileProfile.rootDigestHex());
    }

    @ParameterizedTest
    @CsvSource({
        "sha256, 0, 1973e23848344dc43a988a9b478663803cfffe1243480253f9a3cf004b14aa7c",
        "sha256, 00, 67c61e0f70ad5d3fc0eacb59744008ac6f2a8bd2edad43540a743eaf0fb4993c",
        "sha256, random, fa1326fc0ad784c54e10f808051a77f999f7b675b12fba49cbef92b3e1a09cb7",
        "sha256, 4294967295, 670c2eca46f5f7e11b9dce5c3bd2ff0e9e19567fd45b50c2db5cc0c9aae470d9",
        "sha256, vllm-none-hash, 066b1e8987e027138e98701c46128929378935f9b6cd1549105ae6b4f0d71198",
        "sha256_cbor, 0, 4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c3e",
        "sha256_cbor, 00, 8d912e4e62b3cc377b1d1c7a14ef61dffbdaa0990237035c05401c29414c4172",
        "sha256_cbor, random, 78d6ac7e28de859e492449dcea03e3807377d69998c5af819fed33a6df490cad",
        "sha256_cbor, 4294967295, 177f280a5695322a18f16c96a26dc99d9c03f905940103dfe24a9c646fe446a8",
        "sha256_cbor, vllm-none-hash, 9bd96a485ad84efdafb72ee48a1d7a69bcead0f8f0433173941b276b9581eef0",
    })
    void shouldMatchSpecRootWhenSeedIsAcceptedAtRegistration(String algorithm, String seed, String root) {
        final HashProfile profile = HashProfile.parse("vllm_v1", algorithm, seed, "low64_be");

        assertEquals(root, profile.rootDigestHex());
        assertEquals(seed, profile.pythonHashSeed());
        assertEquals(HashStrategy.VLLM_V1, profile.strategy());
        assertEquals(IndexProjection.LOW64_BE, profile.indexProjection());
    }

    @Test
    void shouldDifferWhenSeedHasLeadingZero() {
        final HashProfile zero = HashProfile.of(HashAlgorithm.SHA256, "0");
        final HashProfile zeroZero = HashProfile.of(HashAlgorithm.SHA256, "00");

        assertNotEquals(zero, zeroZero);
        assertNotEquals(zero.rootDigestHex(), zeroZero.rootDigestHex());
    }

    @Test
    void shouldBeEqualOnlyWhenAllFiveFieldsAreEqual() {
        final HashProfile a = HashProfile.parse("vllm_v1", "sha256", "42", "low64_be");
        final HashProfile b = HashProfile.of(HashAlgorithm.SHA256, "42");
        final HashProfile otherAlgorithm = HashProfile.of(HashAlgorithm.SHA256_CBOR, "42");

        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, otherAlgorithm);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "vllm_v2 | sha256 | 0 | low64_be | strategy | unsupported hash strategy: vllm_v2",
        "vllm_v1 | SHA256 | 0 | low64_be | algorithm | unsupported hash algorithm: SHA256",
        "vllm_v1 | xxhash | 0 | low64_be | algorithm | unsupported hash algorithm: xxhash",
        "vllm_v1 | sha256 | 0 | high64_be | index_projection | unsupported index projection: high64_be",
        "vllm_v1 | sha256 | 4294967296 | low64_be | python_hash_seed | python_hash_seed must be in range 0..4294967295",
        "vllm_v1 | sha256 | 000004294967296 | low64_be | python_hash_seed | python_hash_seed must be in range 0..4294967295",
        "vllm_v1 | sha256 | 99999999999999999999999 | low64_be | python_hash_seed | python_hash_seed must be in range 0..4294967295",
        "vllm_v1 | sha256 | -1 | low64_be | python_hash_seed | python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
        "vllm_v1 | sha256 | ' 1' | low64_be | python_hash_seed | python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
        "vllm_v1 | sha256 | Random | low64_be | python_hash_seed | python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
        "vllm_v1 | sha256 | '' | low64_be | python_hash_seed | python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
        "vllm_v1 | sha256 | ١٢ | low64_be | python_hash_seed | python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295",
        "vllm_v2 | md5 | x | high64_be | strategy | unsupported hash strategy: vllm_v2",
        "vllm_v1 | md5 | x | high64_be | algorithm | unsupported hash algorithm: md5",
        "vllm_v1 | sha256 | x | high64_be | index_projection | unsupported index projection: high64_be",
    })
    void shouldRejectWithReferenceTextAndFieldWhenProfileIsInvalid(String strategy, String algorithm, String seed,
                                                                   String projection, String field, String message) {
        final HashProfileException e = assertThrows(HashProfileException.class,
                () -> HashProfile.parse(strategy, algorithm, seed, projection));

        assertEquals(field, e.field());
        assertEquals(message, e.getMessage());
    }

    @Test
    void shouldRejectSeedWhenItIsNotWellFormedUtf8() {
        final HashProfileException e = assertThrows(HashProfileException.class,
                () -> HashProfile.parse("vllm_v1", "sha256", "0\uD800", "low64_be"));

        assertEquals("python_hash_seed", e.field());
        assertEquals("python_hash_seed must contain valid UTF-8", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"hello", "模型", "", " 0", "random\n"})
    void shouldHashAnyTextVerbatimWhenSeedComesFromTheHashCommand(String seed) {
        final HashProfile pickle = HashProfile.forAnySeedText(HashAlgorithm.SHA256, seed);
        final HashProfile cbor = HashProfile.forAnySeedText(HashAlgorithm.SHA256_CBOR, seed);

        final byte[] utf8 = seed.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        assertArrayEquals(RootDigests.sha256(RootDigests.pickleStr(utf8)), pickle.rootDigest());
        assertArrayEquals(RootDigests.sha256(RootDigests.cborText(utf8)), cbor.rootDigest());
    }

    @Test
    void shouldUseDecimalSeedAsRootWhenAlgorithmIsXxh3() {
        final HashProfile profile = HashProfile.parse("vllm_v1", "xxh3", "4294967295", "low64_be");
        final HashProfile max = HashProfile.forAnySeedText(HashAlgorithm.XXH3, "18446744073709551615");

        assertEquals("00000000ffffffff", profile.rootDigestHex());
        assertEquals("ffffffffffffffff", max.rootDigestHex());
        assertEquals("python_hash_seed", assertThrows(HashProfileException.class,
                () -> HashProfile.of(HashAlgorithm.XXH3, "random")).field());
        assertThrows(HashProfileException.class,
                () -> HashProfile.forAnySeedText(HashAlgorithm.XXH3, "18446744073709551616"));
    }

    @Test
    void shouldRefuseConstructionWhenRootDoesNotMatchSeed() {
        final HashProfile good = HashProfile.of(HashAlgorithm.SHA256, "0");

        assertThrows(IllegalArgumentException.class, () -> new HashProfile(good.strategy(), good.algorithm(), "1",
                good.indexProjection(), good.rootDigestHex()));
    }

    @Test
    void shouldCopyRootWithoutAllocatingWhenAskedForTheBytes() {
        final HashProfile profile = HashProfile.of(HashAlgorithm.SHA256_CBOR, "vllm-none-hash");
        final byte[] destination = new byte[40];

        profile.copyRootDigest(destination, 8);

        assertArrayEquals(profile.rootDigest(), java.util.Arrays.copyOfRange(destination, 8, 40));
    }
}
