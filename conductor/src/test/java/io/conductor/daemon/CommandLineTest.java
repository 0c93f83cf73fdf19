package io.conductor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one front end (picocli) of {@code mooncake_conductor}, run in process up to the point a daemon would start. */
class CommandLineTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @TempDir
    Path tmp;

    private int run(String... args) {
        return Main.run(args, new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), new Main.Environment(Map.of(), null));
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldExitTwoWithSuggestionWhenDaemonFlagIsMisspelled() {
        int status = run("--confg", "c.json");

        assertEquals(2, status, err());
        assertTrue(err().contains("Unknown options: '--confg'"), err());
        assertTrue(err().contains("Possible solutions: --config"), "suggests the right flag: " + err());
    }

    @Test
    void shouldExitTwoWithSuggestionWhenSubcommandIsMisspelled() {
        int status = run("hsah");

        assertEquals(2, status, err());
        assertTrue(err().contains("hash"), err());
    }

    @Test
    void shouldListEverySubcommandAndEveryEnvironmentVariableWhenHelpIsAsked() throws IOException {
        int status = run("--help");

        assertEquals(0, status, err());
        for (String sub : new String[] {"daemon", "hash"}) {
            assertTrue(Pattern.compile("(?m)^\\s+" + sub + "\\s").matcher(out()).find(), sub + " in: " + out());
        }
        for (String name : environmentVariablesInSources()) {
            assertTrue(out().contains(name), name + " is read by the sources but not in --help:\n" + out());
        }
        assertTrue(out().contains("CONDUCTOR_LOG_FORMAT"), out());
        assertTrue(!out().contains("\u001b["), "no ANSI escapes");
    }

    @Test
    void shouldExitTwoWhenConfigFileDoesNotExist() {
        Path missing = tmp.resolve("absent.json");

        int status = run("--config", missing.toString(), "--port", "0");

        assertEquals(2, status, err());
        assertTrue(err().contains("--config " + missing + ": no such file"), err());
    }

    @Test
    void shouldSayTheHostDoesNotResolveWhenItDoesNot() throws IOException {
        Path config = Files.writeString(tmp.resolve("c.json"), "{}");

        int status = run("daemon", "--config", config.toString(), "--host", "no-such-host.invalid", "--port", "0");

        assertEquals(2, status, err());
        assertTrue(err().contains("--host no-such-host.invalid: cannot resolve this address"), err());
        String first = err().lines().findFirst().orElse("");
        assertTrue(!first.contains("port"), "the error is about the host, not a port: " + first);
    }

    @Test
    void shouldExitTwoWithRangeWhenPortIsInvalid() {
        int status = run("--port", "70000");

        assertEquals(2, status, err());
        assertTrue(err().contains("expected an integer in 0..65535 (0 = any free port), got \"70000\""), err());
    }

    @Test
    void shouldExitTwoWithDidYouMeanWhenConfigHasUnknownTopLevelKey() throws IOException {
        Path config = Files.writeString(tmp.resolve("c.json"), "{\"kvevent_instances\": {}}");

        int status = run("--config", config.toString(), "--port", "0", "--host", "127.0.0.1");

        assertEquals(2, status, err());
    }

    @Test
    void shouldPrintVersionWhenAsked() {
        int status = run("--version");

        assertEquals(0, status);
        assertEquals("mooncake_conductor dev\n", out());
    }

    /** Every CONDUCTOR_* name in the product sources and launcher scripts of the repository. */
    private static TreeSet<String> environmentVariablesInSources() throws IOException {
        Path root = Path.of("..").toRealPath();
        Pattern name = Pattern.compile("\\b(CONDUCTOR_[A-Z][A-Z0-9_]*)\\b");
        TreeSet<String> names = new TreeSet<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile)
                    .filter(p -> p.toString().contains("/src/main/java/") && p.toString().endsWith(".java")
                            || p.startsWith(root.resolve("bin")) && !p.toString().endsWith(".md"))
                    .filter(p -> !p.toString().contains("/target/") && !p.toString().contains("/__pycache__/"))
                    ::iterator) {
                Matcher m = name.matcher(Files.readString(file));
                while (m.find()) {
                    names.add(m.group(1));
                }
            }
        }
        assertTrue(names.contains("CONDUCTOR_CONFIG_PATH"), "found " + names);
        return names;
    }
}
