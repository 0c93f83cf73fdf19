package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Docs that run: every curl example of README.md and docs/*.md, and every curl line the demo prints, is run with the
 * real {@code curl} against {@code bin/mooncake_conductor demo --serve}, in document order (README first, then the
 * pages by name), and must answer 2xx ({@code curl --fail-with-body}). Examples use the demo's documented ports
 * (conductor 13333, proxy 8000, engines 8010.., decode 8020), its model and instance ids; when a port was taken the
 * demo says which one it took instead and the test maps it. A fenced block that starts its own processes (a
 * tutorial script) runs without those lines, against the demo's. Inline {@code `...curl...`} examples count too.
 */
class DocsExamplesIT {
    private static final Pattern FENCE = Pattern.compile("^```(\\w*)\\s*$");
    private static final Pattern INLINE = Pattern.compile("`([^`]*\\bcurl [^`]*)`", Pattern.DOTALL);
    private static final Pattern URL_LINE = Pattern.compile("^(conductor|proxy|prefill-\\d+|decode-\\d+)\\s+"
        + "http://127\\.0\\.0\\.1:(\\d+)\\b", Pattern.MULTILINE);

    @TempDir
    Path tmp;

    /** One runnable example: where it comes from and the shell text. */
    record Example(String source, String script) {
    }

    @Test
    void shouldRunEveryCurlExampleOfTheDocsAndOfTheDemoAgainstTheDemo() throws Exception {
        Path home = DaemonProcess.home();
        List<Example> examples = new ArrayList<>();
        examples.addAll(extract("README.md", Files.readString(home.resolve("README.md"))));
        try (Stream<Path> pages = Files.list(home.resolve("docs"))) {
            for (Path page : pages.filter(p -> p.toString().endsWith(".md")).sorted().toList()) {
                examples.addAll(extract("docs/" + page.getFileName(), Files.readString(page)));
            }
        }
        assertTrue(examples.size() >= 15, "the docs' curl examples were found: " + examples.size());

        String python = pythonWithMsgpack();
        try (DaemonProcess demo = DaemonProcess.startFromCheckout(tmp, java.util.Map.of(), "demo", "--serve")) {
            String printed = awaitServing(demo);
            Map<Integer, Integer> ports = portMap(printed);

            List<String> demoCurls = new ArrayList<>();
            for (String line : printed.split("\n")) {
                if (line.startsWith("  curl ")) {
                    demoCurls.add(line.trim());
                }
            }
            assertEquals(4, demoCurls.size(), "the demo prints its curl lines:\n" + printed);
            for (String curl : demoCurls) {
                assertTrue(curl.contains("127.0.0.1:" + ports.get(13333)) || curl.contains("127.0.0.1:"
                    + ports.get(8000)), "printed with the actual port: " + curl);
                String out = run(new Example("demo output", curl), Map.of(), python);
                assertFalse(out.chars().anyMatch(c -> c == 0 || c > 0x7e && c < 0xa0),
                    "a printed curl line answers text, not msgpack bytes: " + curl + "\n" + out);
            }
            for (Example e : examples) {
                run(e, ports, python);
            }
            // The demo's decode engine holds the workload's prompts too (KV pulled from prefill), but a /route
            // without candidates never sends a prompt's prefill there.
            String route = "curl -s -X POST 127.0.0.1:" + ports.get(13333) + "/route"
                + " -H 'Content-Type: application/json'"
                + " -d '{\"model\": \"sim-qwen\", \"block_size\": 16, \"token_ids\": [1, 2, 3]}'";
            for (int i = 0; i < 12; i++) {
                String answer = run(new Example("route without candidates", route), Map.of(), python);
                assertTrue(answer.contains("\"instance_id\":\"") && answer.contains("\"reason\":"), answer);
                assertFalse(answer.contains("\"decode-0\""), "decode-0 is never a candidate: " + answer);
            }
        }
    }

    /** Waits for the demo's "Serving until Ctrl-C" block and returns the output so far. */
    private static String awaitServing(DaemonProcess demo) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofMinutes(8).toNanos();
        while (System.nanoTime() < end) {
            String out = demo.output();
            if (out.contains("Serving until Ctrl-C") && out.contains("\ndecode-0 ")) {
                return out.substring(out.indexOf("Serving until Ctrl-C"));
            }
            if (!demo.process().isAlive()) {
                throw new AssertionError("the demo exited:\n" + out);
            }
            Thread.sleep(250);
        }
        throw new AssertionError("the demo did not serve in time:\n" + demo.output());
    }

    /** Documented port -> the port the demo took (equal when it was free). */
    private static Map<Integer, Integer> portMap(String printed) {
        Map<Integer, Integer> ports = new LinkedHashMap<>();
        Matcher m = URL_LINE.matcher(printed);
        while (m.find()) {
            String name = m.group(1);
            int documented = switch (name) {
                case "conductor" -> 13333;
                case "proxy" -> 8000;
                default -> name.startsWith("prefill-") ? 8010 + Integer.parseInt(name.substring(8))
                    : 8020 + Integer.parseInt(name.substring(7));
            };
            ports.put(documented, Integer.parseInt(m.group(2)));
        }
        assertTrue(ports.containsKey(13333) && ports.containsKey(8000) && ports.containsKey(8010)
            && ports.containsKey(8020), "the demo prints its ports and instance ids:\n" + printed);
        return ports;
    }

    /** The curl examples of one page: fenced shell blocks with a curl, and inline code spans holding a curl. */
    static List<Example> extract(String source, String markdown) {
        List<Example> out = new ArrayList<>();
        String[] lines = markdown.split("\n", -1);
        StringBuilder outside = new StringBuilder();
        for (int i = 0; i < lines.length; i++) {
            Matcher fence = FENCE.matcher(lines[i]);
            if (!fence.matches()) {
                outside.append(lines[i]).append('\n');
                continue;
            }
            String lang = fence.group(1);
            int start = i + 1;
            int endLine = start;
            while (endLine < lines.length && !lines[endLine].startsWith("```")) {
                endLine++;
            }
            if (lang.isEmpty() || lang.equals("bash") || lang.equals("sh") || lang.equals("shell")) {
                String script = runnablePart(List.of(lines).subList(start, Math.min(endLine, lines.length)));
                if (script.contains("curl ")) {
                    out.add(new Example(source + ":" + (start + 1), script));
                }
            }
            i = endLine;
        }
        for (String paragraph : outside.toString().split("\n\\s*\n")) { // code spans never cross paragraphs
            Matcher inline = INLINE.matcher(paragraph);
            while (inline.find()) {
                String code = inline.group(1).replace('\n', ' ').trim();
                boolean targetsAServer = code.contains("localhost:") || code.contains("127.0.0.1:");
                if ((code.startsWith("curl ") || code.contains("| curl ")) && targetsAServer) { // not `curl -d`
                    out.add(new Example(source + " (inline)", code));
                }
            }
        }
        return out;
    }

    /**
     * The block without the statements that start or stop processes (a tutorial's own engines, conductor, proxy):
     * statements are joined across backslash continuations and open quotes.
     */
    static String runnablePart(List<String> block) {
        StringBuilder script = new StringBuilder();
        StringBuilder statement = new StringBuilder();
        for (String line : block) {
            statement.append(line).append('\n');
            if (line.endsWith("\\") || openQuote(statement)) {
                continue;
            }
            String s = statement.toString();
            statement.setLength(0);
            String first = s.strip();
            boolean startsProcess = first.matches("(?s)^([A-Z_]+=\\S+\\s+)*(bin/mooncake_conductor|python3 "
                + "example_proxy\\.py|cd )\\b.*") || first.startsWith("kill ") || first.endsWith("&");
            if (!startsProcess) {
                script.append(s);
            }
        }
        return script.toString();
    }

    private static boolean openQuote(CharSequence text) {
        boolean single = false;
        boolean dbl = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' && !single) {
                i++;
            } else if (c == '\'' && !dbl) {
                single = !single;
            } else if (c == '"' && !single) {
                dbl = !dbl;
            } else if (c == '#' && !single && !dbl && (i == 0 || Character.isWhitespace(text.charAt(i - 1)))) {
                while (i < text.length() && text.charAt(i) != '\n') {
                    i++;
                }
            }
        }
        return single || dbl;
    }

    /** Runs an example under bash with curl failing on HTTP errors; returns its output or fails with it. */
    private String run(Example e, Map<Integer, Integer> ports, String python) throws Exception {
        String script = e.script();
        for (Map.Entry<Integer, Integer> p : ports.entrySet()) {
            for (String host : List.of("localhost:", "127.0.0.1:")) {
                script = script.replaceAll(Pattern.quote(host + p.getKey()) + "\\b", "127.0.0.1:" + p.getValue());
            }
        }
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path py = bin.resolve("python3");
        if (!Files.exists(py)) {
            Files.createSymbolicLink(py, Path.of(python));
        }
        // curl fails on an HTTP error status; an example that already says -f/--fail keeps it (curl refuses both).
        String prelude = """
            set -eo pipefail
            curl() {
                local a
                for a in "$@"; do
                    case "$a" in --fail|--fail-with-body|-[a-zA-Z]*f*) command curl --max-time 30 "$@"; return;; esac
                done
                command curl --fail-with-body --max-time 30 "$@"
            }
            """;
        Path log = Files.createTempFile(tmp, "example-", ".out");
        ProcessBuilder b = new ProcessBuilder("bash", "-c", prelude + script).redirectErrorStream(true)
            .redirectOutput(log.toFile());
        b.environment().put("PATH", bin + ":" + b.environment().getOrDefault("PATH", "/usr/bin:/bin"));
        Process p = b.start();
        boolean finished = p.waitFor(180, TimeUnit.SECONDS);
        if (!finished) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertTrue(finished, e.source() + " hangs:\n" + script + "\n--- output:\n" + out);
        assertEquals(0, p.exitValue(), "example at " + e.source() + " failed:\n" + script + "\n--- output:\n" + out);
        return out;
    }

    /** A python3 that imports msgpack (the docs' msgpack one-liners need it), absolute. */
    private static String pythonWithMsgpack() throws IOException, InterruptedException {
        for (String candidate : List.of("python3", "/usr/bin/python3")) {
            Process p = new ProcessBuilder("bash", "-c", "command -v " + candidate + " && " + candidate
                + " -c 'import msgpack; import sys; print(sys.executable)'").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                String[] lines = out.split("\n");
                return lines[lines.length - 1];
            }
        }
        String message = "the docs' msgpack examples need a python3 with msgpack: install python3-msgpack, as"
            + " .ci/run does";
        if ("true".equals(System.getenv("CI"))) {
            throw new AssertionError("CI=true: " + message);
        }
        org.junit.jupiter.api.Assumptions.abort("skipped (not in CI): " + message);
        return "";
    }
}
