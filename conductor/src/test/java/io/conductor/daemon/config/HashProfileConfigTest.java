package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The §2.4 rules, widened by xxh3 and vllm-none-hash. */
class HashProfileConfigTest {

    @ParameterizedTest
    @ValueSource(strings = {"0", "00", "007", "random", "vllm-none-hash", "4294967295", "0004294967295", "123"})
    void shouldAcceptSeedWhenItIsRandomNoneHashOrDecimalInRange(String seed) {
        assertNull(HashProfileConfig.seedProblem("sha256", seed));
        assertEquals(seed, new HashProfileConfig("vllm_v1", "sha256", seed, "low64_be").pythonHashSeed(),
            "the seed text is kept verbatim");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "Random", "RANDOM", "none", "١٢٣"})
    void shouldRejectSeedWithExpectedFormWhenItIsNotRandomNoneHashOrAsciiDecimal(String seed) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new HashProfileConfig("vllm_v1", "sha256", seed, "low64_be"));

        assertEquals("python_hash_seed must be \"random\" or ASCII decimal text in 0..4294967295", e.getMessage(),
            "the same text as POST /register (HashProfile's per-field rule)");
    }

    @ParameterizedTest
    @ValueSource(strings = {"4294967296", "99999999999", "00004294967296"})
    void shouldRejectSeedWithRangeMessageWhenValueExceedsUint32(String seed) {
        assertEquals("python_hash_seed must be in range 0..4294967295", HashProfileConfig.seedProblem("sha256", seed));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sha256", "sha256_cbor", "xxh3"})
    void shouldAcceptAlgorithmWhenSupported(String algorithm) {
        assertEquals(algorithm, new HashProfileConfig("vllm_v1", algorithm, "0", "low64_be").algorithm());
    }

    @Test
    void shouldUseSpecErrorTextsInReferenceOrderWhenSeveralFieldsAreWrong() {
        assertEquals("unsupported hash strategy: v2", HashProfileConfig.problem("v2", "md5", "x", "hi"));
        assertEquals("unsupported hash algorithm: md5", HashProfileConfig.problem("vllm_v1", "md5", "x", "hi"));
        assertEquals("unsupported hash algorithm: xxhash", HashProfileConfig.problem("vllm_v1", "xxhash", "0",
            "low64_be"));
        assertEquals("unsupported index projection: hi", HashProfileConfig.problem("vllm_v1", "sha256", "x", "hi"));
        assertNull(HashProfileConfig.problem("vllm_v1", "sha256", "0", "low64_be"));
    }

    @Test
    void shouldTreatSeedTextsAsDifferentWhenOnlyLeadingZerosDiffer() {
        assertNotEquals(new HashProfileConfig("vllm_v1", "sha256", "0", "low64_be"),
            new HashProfileConfig("vllm_v1", "sha256", "00", "low64_be"));
    }

    @Test
    void shouldRejectNonDecimalSeedWhenAlgorithmIsXxh3AsRegisterDoes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new HashProfileConfig("vllm_v1", "xxh3", "random", "low64_be"));

        assertEquals("python_hash_seed must be ASCII decimal text in 0..4294967295 for xxh3 (it is the seed S)",
            e.getMessage());
        assertEquals(e.getMessage(), io.conductor.index.hash.HashProfile.seedProblem(
            io.conductor.index.hash.HashAlgorithm.XXH3, "random"), "one rule, two callers");
    }
}
