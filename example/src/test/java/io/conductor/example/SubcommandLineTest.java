package io.conductor.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.Main;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** demo, engine and proxy as subcommands of the conductor's one front end (found through the service loader). */
class SubcommandLineTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return Main.run(args, new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldListAllFiveSubcommandsWhenHelpIsAsked() {
        int status = run("--help");

        String help = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, status, err());
        for (String sub : new String[] {"daemon", "hash", "demo", "engine", "proxy"}) {
            assertTrue(Pattern.compile("(?m)^\\s+" + sub + "\\s").matcher(help).find(), sub + " in: " + help);
        }
    }

    @Test
    void shouldExitTwoWithoutStackTraceWhenDemoUsersHasNoValue() {
        int status = run("demo", "--users");

        assertEquals(2, status, err());
        assertTrue(err().contains("Missing required parameter for option '--users'"), err());
        assertFalse(err().contains("Exception") || err().contains("\tat "), "no stack trace: " + err());
    }

    @Test
    void shouldExitTwoWithoutStackTraceWhenDemoUsersIsNotANumber() {
        int status = run("demo", "--users", "many");

        assertEquals(2, status, err());
        assertTrue(err().contains("'many' is not an int"), err());
        assertFalse(err().contains("\tat "), "no stack trace: " + err());
    }

    @Test
    void shouldExitTwoSuggestingTheFlagWhenProxyFlagIsMisspelled() {
        int status = run("proxy", "--conductor-adress", "127.0.0.1:13333", "--prefill", "http://127.0.0.1:1",
            "--decode", "http://127.0.0.1:2");

        assertEquals(2, status, err());
        assertTrue(err().contains("Unknown options: '--conductor-adress'"), err());
        assertTrue(err().contains("Possible solutions: --conductor-address"), err());
    }

    @Test
    void shouldExitTwoSuggestingTheFlagWhenEngineFlagIsMisspelled() {
        int status = run("engine", "sim", "--block-sise", "16");

        assertEquals(2, status, err());
        assertTrue(err().contains("--block-size"), err());
    }
}
