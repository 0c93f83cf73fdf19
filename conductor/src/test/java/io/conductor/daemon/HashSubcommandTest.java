package io.conductor.daemon;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code mooncake_conductor hash} through the real front end (picocli) and {@code HashCommand}. */
class HashSubcommandTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String stdin, String... args) {
        final InputStream in = new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8));
        final String[] all = new String[args.length + 1];
        all[0] = "hash";
        System.arraycopy(args, 0, all, 1, args.length);
        return Main.run(all, in, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), new Main.Environment(java.util.Map.of(), null));
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldPrintGoldenLinesWhenTokensAreArguments() {
        // hash_golden_vectors_sha256.json, case lora_then_salt
        final int code = run("", "--algorithm", "sha256", "--seed", "0", "--block-size", "4",
                "--lora-name", "adapter-A", "--cache-salt", "tenant-salt", "1", "2", "3", "4", "5", "6", "7", "8", "9");

        assertEquals(0, code, err());
        assertEquals("""
                0\tdacd8a5addba8cf4b89589bedab04999b3676299a455ba3e085cc7777be6b328\t602575766154556200
                1\t55575bd9b63ced6a3dc36c355afbb5f551599533795c26d27d8b5fc836681618\t9046429590014662168
                """, out());
    }

    @Test
    void shouldReadTokensFromStdinWhenNoneAreArguments() {
        // hash_golden_vectors.json (sha256_cbor), case spec_unsalted
        final int code = run("1 2\n3\t4  5 6 7 8\n", "--algorithm=sha256_cbor", "--seed=0", "--block-size=4");

        assertEquals(0, code, err());
        assertEquals("""
                0\tc9d58ba695280d69b243e1e0df813136ca9196b286fb1a021e0b2e028ef071cb\t2164874634404590027
                1\t24125b23e68883b5c2141db2959d48433fe6bde2f26bd914efad121d154ab2d6\t17270480062156288726
                """, out());
    }

    @Test
    void shouldAcceptNegativeTokensWhenGivenAsArguments() {
        // hash_golden_vectors_sha256.json, case signed_integer_boundaries
        final int code = run("", "--algorithm", "sha256", "--seed", "0", "--block-size", "8",
                "-2147483648", "-1", "0", "255", "256", "65535", "65536", "2147483647");

        assertEquals(0, code, err());
        assertTrue(out().startsWith("0\t"), out());
        assertEquals(1, out().lines().count());
    }

    @Test
    void shouldPrintXxh3SeqHashWhenAlgorithmIsXxh3() {
        final int code = run("", "--algorithm", "xxh3", "--seed", "0", "--block-size", "4",
                "1", "2", "3", "4", "5", "6", "7", "8");

        assertEquals(0, code, err());
        assertEquals("0\t6fc1ebd4f4d6ea31\t8052976908588476977\n1\t3a14937fd5340c7a\t4185132130981121146\n", out());
    }

    @Test
    void shouldPrintNothingButNoteWhenNoBlockIsComplete() {
        final int code = run("", "--algorithm", "sha256", "--seed", "0", "--block-size", "4", "1", "2", "3");

        assertEquals(0, code);
        assertEquals("", out());
        assertTrue(err().contains("no complete block"), err());
    }

    @Test
    void shouldExitTwoWithMessageWhenUsageIsWrong() {
        assertUsageError("--algorithm is required", "--seed", "0", "--block-size", "4", "1");
        assertUsageError("--seed is required", "--algorithm", "sha256", "--block-size", "4", "1");
        assertUsageError("vllm-none-hash", "--algorithm", "sha256", "--block-size", "4", "1");
        assertUsageError("--block-size is required", "--algorithm", "sha256", "--seed", "0", "1");
        assertUsageError("--algorithm must be sha256, sha256_cbor or xxh3, was: md5",
                "--algorithm", "md5", "--seed", "0", "--block-size", "4");
        assertUsageError("--block-size must be a positive integer, was: 0",
                "--algorithm", "sha256", "--seed", "0", "--block-size", "0");
        assertUsageError("token is not a decimal int32: 2147483648",
                "--algorithm", "sha256", "--seed", "0", "--block-size", "1", "2147483648");
        assertUsageError("Unknown option: '--salt'", "--algorithm", "sha256", "--seed", "0", "--salt", "x");
        assertUsageError("Missing required parameter for option '--seed'", "--algorithm", "sha256", "--seed");
        assertUsageError("python_hash_seed must be ASCII decimal", "--algorithm", "xxh3", "--seed", "random",
                "--block-size", "4", "1");
    }

    @Test
    void shouldExitTwoWhenStdinHoldsSomethingElseThanTokens() {
        final int code = run("1 2 x", "--algorithm", "sha256", "--seed", "0", "--block-size", "1");

        assertEquals(2, code);
        assertTrue(err().contains("token is not a decimal int32: x"), err());
        assertEquals("", out());
    }

    @Test
    void shouldPrintUsageWhenHelpIsAsked() {
        final int code = run("", "--help");

        assertEquals(0, code);
        assertTrue(out().contains("Usage: mooncake_conductor hash [-hV] [--algorithm=A]"), out());
        assertTrue(out().contains("vllm-none-hash"), out());
    }

    private void assertUsageError(String expected, String... args) {
        out.reset();
        err.reset();

        final int code = run("", args);

        assertEquals(2, code, err());
        assertTrue(err().contains(expected), () -> "expected <" + expected + "> in <" + err() + ">");
        assertEquals("", out());
    }
}
