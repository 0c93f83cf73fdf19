package io.conductor.index.hash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The {@code sglang} and {@code lmcache} strategies against the spec's vectors (events.md 4, hashing.md 8 and 10)
 * and a salted SGLang chain computed independently with Python's hashlib.
 */
class EngineStrategiesTest {

    private static int[] range(int from, int toInclusive) {
        int[] t = new int[toInclusive - from + 1];
        for (int i = 0; i < t.length; i++) {
            t[i] = from + i;
        }
        return t;
    }

    private static long[] hashes(HashProfile profile, int blockSize, int[] tokens, HashExtras extras) {
        BlockHashChain chain = new BlockHashChain().reset(profile, blockSize, tokens, extras);
        long[] out = new long[chain.blockCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = chain.blockHash(i);
        }
        return out;
    }

    @Test
    void shouldReproduceSglangPublishedHashesFromTheSpec() {
        HashProfile sglang = HashProfile.parse("sglang", "sha256", "0", "high64_be");

        assertArrayEquals(new long[] {8635429971592222890L, 1256577331724852459L, 5689809685380680247L},
                hashes(sglang, 16, range(1, 48), HashExtras.NONE));
        assertArrayEquals(new long[] {-745911699836886992L}, hashes(sglang, 16, new int[16], HashExtras.NONE));
    }

    @Test
    void shouldSeedTheSglangChainWithTheSaltedNamespaceDigest() {
        HashProfile sglang = HashProfile.sglang("");
        long[] salted = hashes(sglang, 16, range(1, 32), HashExtras.of("", "tenant-a"));

        // SHA-256("sglang-cache-salt-v1\0tenant-a") as the first page's parent (hashlib, independently)
        assertArrayEquals(new long[] {3451139630862032982L, -5034188771989179167L}, salted);
        assertNotEquals(hashes(sglang, 16, range(1, 32), HashExtras.NONE)[0], salted[0]);
    }

    @Test
    void shouldHashLmcacheChunksLikeVllmWithoutExtraKeysAndSkipThePartialChunk() {
        HashProfile lmcache = HashProfile.parse("lmcache", "sha256_cbor", "0", "low64_be");
        long[] plain = {2164874634404590027L, -1176264011553262890L};   // hashing.md 8.1, 17270480062156288726

        assertArrayEquals(plain, hashes(lmcache, 4, range(1, 10), HashExtras.NONE));
        assertArrayEquals(plain, hashes(lmcache, 4, range(1, 8), HashExtras.of("adapter-A", "tenant-salt")));
        assertEquals(HashStrategy.LMCACHE, lmcache.strategy());
        assertNotEquals(lmcache, HashProfile.parse("vllm_v1", "sha256_cbor", "0", "low64_be"));
    }

    @Test
    void shouldRejectSglangProfilesWithAnotherAlgorithmOrProjection() {
        HashProfileException algorithm = assertThrows(HashProfileException.class,
                () -> HashProfile.parse("sglang", "sha256_cbor", "0", "high64_be"));
        HashProfileException projection = assertThrows(HashProfileException.class,
                () -> HashProfile.parse("sglang", "sha256", "0", "low64_be"));
        HashProfileException strategy = assertThrows(HashProfileException.class,
                () -> HashProfile.parse("trtllm", "sha256", "0", "low64_be"));

        assertEquals(HashProfileException.ALGORITHM, algorithm.field());
        assertEquals(HashProfileException.INDEX_PROJECTION, projection.field());
        assertEquals(HashProfileException.STRATEGY, strategy.field());
    }

    @Test
    void shouldPrintSignedSglangValuesFromTheHashCommand() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = HashCommand.run(new HashCommand.Request(HashStrategy.SGLANG, HashAlgorithm.SHA256, "", 16, "",
                null, new int[16]), new ByteArrayInputStream(new byte[0]),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));

        assertEquals(HashCommand.EXIT_OK, code, err.toString(StandardCharsets.UTF_8));
        String line = out.toString(StandardCharsets.UTF_8).trim();
        assertTrue(line.startsWith("0\tf5a5fd42d16a2030"), line);
        assertTrue(line.endsWith("\t-745911699836886992"), line);
    }
}
