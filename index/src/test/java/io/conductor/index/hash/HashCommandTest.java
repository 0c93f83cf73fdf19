package io.conductor.index.hash;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hashing of the hash command (its command line is the daemon's front end, tested there). */
class HashCommandTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String stdin, HashCommand.Request request) {
        return HashCommand.run(request, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @Test
    void shouldPrintGoldenLinesWhenTokensAreGiven() {
        // hash_golden_vectors_sha256.json, case lora_then_salt
        final int code = run("", new HashCommand.Request(HashAlgorithm.SHA256, "0", 4, "adapter-A", "tenant-salt",
                new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9}));

        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        assertEquals("""
                0\tdacd8a5addba8cf4b89589bedab04999b3676299a455ba3e085cc7777be6b328\t602575766154556200
                1\t55575bd9b63ced6a3dc36c355afbb5f551599533795c26d27d8b5fc836681618\t9046429590014662168
                """, out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldReadTokensFromStdinWhenNoneAreGiven() {
        // hash_golden_vectors.json (sha256_cbor), case spec_unsalted
        final int code = run("1 2\n3\t4  5 6 7 8\n",
                new HashCommand.Request(HashAlgorithm.SHA256_CBOR, "0", 4, "", null, new int[0]));

        assertEquals(0, code);
        assertEquals("""
                0\tc9d58ba695280d69b243e1e0df813136ca9196b286fb1a021e0b2e028ef071cb\t2164874634404590027
                1\t24125b23e68883b5c2141db2959d48433fe6bde2f26bd914efad121d154ab2d6\t17270480062156288726
                """, out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldExitTwoWhenStdinHoldsSomethingElseThanTokens() {
        final int code = run("1 2 x", new HashCommand.Request(HashAlgorithm.SHA256, "0", 1, "", null, new int[0]));

        assertEquals(2, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("token is not a decimal int32: x"));
        assertEquals("", out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldRefuseRequestWhenBlockSizeIsNotPositive() {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new HashCommand.Request(HashAlgorithm.SHA256, "0", 0, "", null, new int[0]));

        assertEquals("--block-size must be a positive integer, was: 0", e.getMessage());
    }
}
