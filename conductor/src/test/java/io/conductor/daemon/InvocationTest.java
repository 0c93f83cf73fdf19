package io.conductor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class InvocationTest {

    @Test
    void shouldUseDefaultsWhenNoArgumentsAreGiven() throws Exception {
        assertEquals(new Invocation.Run(null, Invocation.NO_PORT, "0.0.0.0", false),
            Invocation.parse(new String[0]));
    }

    @Test
    void shouldReadEveryOptionWhenGivenAsSeparateOrInlineValues() throws Exception {
        assertEquals(new Invocation.Run("/etc/c.json", 55001, "127.0.0.1", true), Invocation.parse(
            new String[] {"--config", "/etc/c.json", "--port=55001", "--host", "127.0.0.1", "--lenient"}));
    }

    @Test
    void shouldAskForHelpOrVersionWhenFlagIsPresentAnywhere() throws Exception {
        assertInstanceOf(Invocation.Help.class, Invocation.parse(new String[] {"--port", "1", "--help"}));
        assertInstanceOf(Invocation.Help.class, Invocation.parse(new String[] {"-h"}));
        assertInstanceOf(Invocation.ShowVersion.class, Invocation.parse(new String[] {"--version"}));
    }

    @Test
    void shouldDispatchSubcommandWithRemainingArgumentsWhenFirstArgumentIsHash() throws Exception {
        assertEquals(new Invocation.Subcommand("hash", List.of("--seed", "0", "1", "2")),
            Invocation.parse(new String[] {"hash", "--seed", "0", "1", "2"}));
    }

    @Test
    void shouldExplainUsageErrorWhenArgumentsAreWrong() {
        assertEquals("unknown option: --prot", usageError("--prot", "1"));
        assertEquals("unexpected argument: demo (subcommands: hash; demo, engine and proxy are run by "
            + "bin/mooncake_conductor)", usageError("demo"));
        assertEquals("--config needs a value", usageError("--config"));
        assertEquals("--host needs a non-empty value", usageError("--host="));
        assertEquals("--lenient takes no value", usageError("--lenient=yes"));
        assertEquals("--port: expected an integer in 0..65535 (0 = any free port), got \"65536\"",
            usageError("--port", "65536"));
        assertEquals("--port: expected an integer in 0..65535 (0 = any free port), got \"-1\"",
            usageError("--port", "-1"));
        assertEquals("--port: expected an integer in 0..65535 (0 = any free port), got \"80a\"",
            usageError("--port", "80a"));
    }

    @Test
    void shouldRunTheHashCommandWhenFirstArgumentIsHash() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        int status = Main.runSubcommand("hash",
            List.of("--algorithm", "sha256", "--seed", "0", "--block-size", "4", "1", "2", "3", "4", "5"),
            new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));

        assertEquals(0, status);
        String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(1, lines.length, "one complete block of 4 tokens, the tail of 1 ignored");
        assertTrue(lines[0].startsWith("0\t"), lines[0]);
    }

    @Test
    void shouldFallBackToDevVersionWhenNotRunFromTheJar() {
        assertEquals("dev", Main.version());
    }

    private static String usageError(String... args) {
        return assertThrows(Invocation.UsageException.class, () -> Invocation.parse(args)).getMessage();
    }
}
