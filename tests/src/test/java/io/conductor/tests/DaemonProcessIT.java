package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code bin/mooncake_conductor} process: starts on the bundled example, serves /health, /ready and
 * /metrics, stops with exit 0 within 5 s of SIGTERM or SIGINT; starts without a config file; refuses a taken port
 * and a malformed or invalid config.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DaemonProcessIT {
    /** JVM start on a loaded 2-core machine can be slow; this only bounds a failure. */
    private static final Duration START_DEADLINE = Duration.ofSeconds(90);
    /** The contract: an orderly stop and exit 0 within 5 s of SIGTERM. */
    private static final Duration STOP_DEADLINE = Duration.ofSeconds(5);
    private static final Duration EXIT_DEADLINE = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    @Test
    void shouldServeHealthReadyMetricsAndExitZeroWhenStartedOnExampleAndSigtermed() throws Exception {
        int port = DaemonProcess.freePort();
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", "config/conductor_config.json",
            "--port", Integer.toString(port), "--host", "127.0.0.1")) {

            daemon.awaitHealthy(port, START_DEADLINE);
            HttpResponse<String> health = DaemonProcess.get(port, "/health");
            HttpResponse<String> metrics = DaemonProcess.get(port, "/metrics");
            HttpResponse<String> ready = DaemonProcess.get(port, "/ready");
            daemon.process().destroy(); // SIGTERM
            int status = daemon.awaitExit(STOP_DEADLINE);

            assertTrue(health.body().contains("\"status\":\"up\""), health.body());
            assertTrue(health.body().contains("\"version\":\"0.1.0\""), "version from the jar manifest");
            assertEquals(200, metrics.statusCode());
            assertTrue(metrics.body().contains("\njvm_threads_current "), "JVM metrics");
            assertTrue(metrics.body().contains("\nprocess_cpu_seconds_total "), "process metrics");
            // Readiness depends on the engines behind the example config, which do not run here; what must hold is
            // that /ready answers with a status consistent with its code.
            assertTrue(ready.statusCode() == 200 && ready.body().contains("\"status\":\"ready\"")
                    || ready.statusCode() == 503 && ready.body().contains("\"status\":\"not_ready\""),
                ready.statusCode() + " " + ready.body());
            String output = daemon.output();
            assertEquals(0, status, output);
            assertTrue(output.contains("event=config_loaded path=config/conductor_config.json origin=flag "
                + "found=true subscriptions=2 formats=legacy:2 http_port=" + port), output);
            assertTrue(output.contains("event=http_started host=127.0.0.1 port=" + port), output);
            assertTrue(output.contains("event=stopped"), output);
            assertTrue(Pattern.compile("(?m)^\\S+ INFO ").matcher(output).find(), "structured lines: " + output);
            assertTrue(!output.contains("Javalin started") && !output.contains("jetty-"),
                "no framework banner or start-up chatter at INFO: " + output);
        }
    }

    @Test
    void shouldStartWithoutSubscriptionsAndExitZeroOnSigintWhenConfigHasNone() throws Exception {
        int port = DaemonProcess.freePort();
        Path empty = Files.writeString(tmp.resolve("empty.json"), "{}");
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", empty.toString(),
            "--port", Integer.toString(port), "--host", "127.0.0.1")) {

            daemon.awaitHealthy(port, START_DEADLINE);
            HttpResponse<String> ready = DaemonProcess.get(port, "/ready");
            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(daemon.process().pid())).start();
            assertEquals(0, kill.waitFor(), "kill -INT");
            int status = daemon.awaitExit(STOP_DEADLINE);

            String output = daemon.output();
            assertEquals(0, status, output);
            assertEquals(200, ready.statusCode(), "no subscriptions: ready at once; " + ready.body());
            assertTrue(output.contains("found=true subscriptions=0"), output);
            assertTrue(output.contains("event=stopped"), output);
        }
    }

    @Test
    void shouldExitTwoNamingTheFileWhenConfigFlagNamesAMissingFile() throws Exception {
        Path missing = tmp.resolve("absent.json");
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", missing.toString())) {

            int status = daemon.awaitExit(EXIT_DEADLINE);

            assertEquals(2, status, daemon.output());
            assertTrue(daemon.output().contains("--config " + missing + ": no such file"), daemon.output());
        }
    }

    @Test
    void shouldHoldOnlyTheDaemonAndNeverBuildWhenUnpacked() throws Exception {
        Path dist = DaemonProcess.distribution();
        String launcher = Files.readString(dist.resolve("bin/mooncake_conductor"));
        List<String> jar = new ArrayList<>();
        try (java.util.jar.JarFile file = new java.util.jar.JarFile(dist.resolve("lib/mooncake-conductor.jar").toFile())) {
            file.stream().forEach(entry -> jar.add(entry.getName()));
        }

        assertTrue(jar.contains("io/conductor/daemon/Main.class"), "the daemon is in the jar");
        assertTrue(jar.stream().noneMatch(e -> e.startsWith("io/conductor/example/")),
            "no simulator, proxy or demo classes in the daemon jar");
        assertTrue(jar.stream().noneMatch(e -> e.equals("META-INF/services/io.conductor.daemon.ConductorSubcommand")),
            "no contributed subcommands");
        assertTrue(!launcher.contains("mvn") && !launcher.contains("package"), "the launcher never builds:\n"
            + launcher);
        for (String file : List.of("config/conductor_config.json", "config/conductor_config.full.json",
            "systemd/mooncake-conductor.service", "README.md", "docs/operations.md", "bin/lib/jdk.sh",
            "bin/lib/run.sh")) {
            assertTrue(Files.isRegularFile(dist.resolve(file)), file + " in the distribution");
        }
        assertTrue(Files.isExecutable(dist.resolve("bin/mooncake_conductor")));
        String unit = Files.readString(dist.resolve("systemd/mooncake-conductor.service"));
        assertTrue(unit.contains("ExecStart=/opt/conductor/bin/mooncake_conductor daemon"), unit);
        assertTrue(unit.contains("RestartPreventExitStatus=2"), unit);
    }

    @Test
    void shouldExitNonZeroNamingThePortWhenPortIsTaken() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             DaemonProcess daemon = DaemonProcess.start(tmp, "--config", "config/conductor_config.json",
                 "--port", Integer.toString(taken.getLocalPort()), "--host", "127.0.0.1")) {

            int status = daemon.awaitExit(EXIT_DEADLINE);

            String output = daemon.output();
            assertNotEquals(0, status, output);
            assertTrue(output.contains("cannot listen on 127.0.0.1:" + taken.getLocalPort()), output);
        }
    }

    @Test
    void shouldExitTwoWithLineAndColumnWhenConfigIsMalformed() throws Exception {
        Path config = tmp.resolve("broken.json");
        Files.writeString(config, "{\n  \"http_server_port\": 13333\n  \"kvevent_instance\": {}\n}\n");
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", config.toString())) {

            int status = daemon.awaitExit(EXIT_DEADLINE);

            String output = daemon.output();
            assertEquals(2, status, output);
            assertTrue(output.contains("malformed JSON in " + config + " at line 3, column 3: "), output);
        }
    }

    @Test
    void shouldExitTwoNamingEntryFieldAndExpectedFormWhenAnEntryIsInvalid() throws Exception {
        Path config = tmp.resolve("invalid.json");
        Files.writeString(config, """
            {"kvevent_instance": {"vllm-1": {"ip": "127.0.0.1", "port": "3337", "type": "vLLM",
             "modelname": "qwen2.5"}}}""");
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", config.toString())) {

            int status = daemon.awaitExit(EXIT_DEADLINE);

            String output = daemon.output();
            assertEquals(2, status, output);
            assertTrue(output.contains("invalid entry \"vllm-1\": port: expected an integer in 1..65534 (the replay "
                + "endpoint is port+1), got \"3337\""), output);
            assertTrue(output.contains("pass --lenient to skip invalid ones"), output);
        }
    }

    @Test
    void shouldPrintManifestVersionWhenAskedForVersion() throws Exception {
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--version")) {

            int status = daemon.awaitExit(EXIT_DEADLINE);

            assertEquals(0, status, daemon.output());
            assertEquals("mooncake_conductor 0.1.0\n", daemon.output());
        }
    }

    /**
     * The distribution ships the ahead-of-time cache recorded at build time, and its launcher makes the JVM use it:
     * most classes of a start come from the cache, not from the jar. (A cache whose jar timestamp or JVM flags do not
     * match is silently ignored by the JVM, so only this count shows that it works.)
     */
    @Test
    void shouldLoadMostClassesFromTheShippedAheadOfTimeCache() throws Exception {
        Path dist = DaemonProcess.distribution();
        assertTrue(Files.isRegularFile(dist.resolve("lib/mooncake-conductor.aot")), "the cache is in the distribution");
        Path classLog = tmp.resolve("classes.txt");
        try (DaemonProcess daemon = DaemonProcess.start(tmp,
                java.util.Map.of("CONDUCTOR_JAVA_OPTS", "-Xlog:class+load=info:file=" + classLog), "--version")) {

            assertEquals(0, daemon.awaitExit(EXIT_DEADLINE), daemon.output());
        }
        List<String> loaded = Files.readAllLines(classLog);
        long fromCache = loaded.stream().filter(line -> line.contains("source: shared objects file")).count();
        assertTrue(fromCache > loaded.size() / 2, fromCache + " of " + loaded.size() + " classes came from the cache");
    }

    /** The start-up warm-up runs in the distribution's daemon and only then does /ready answer 200. */
    @Test
    void shouldWarmUpBeforeReadyWhenStartedFromTheDistribution() throws Exception {
        Path config = tmp.resolve("empty.json");
        Files.writeString(config, "{\"kvevent_instance\": {}}");
        int port = DaemonProcess.freePort();
        try (DaemonProcess daemon = DaemonProcess.start(tmp, java.util.Map.of("CONDUCTOR_WARMUP_SECONDS", "1"),
                "--config", config.toString(), "--port", Integer.toString(port), "--host", "127.0.0.1")) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            String body = "";
            while (System.nanoTime() < deadline) {
                try {
                    HttpResponse<String> ready = DaemonProcess.get(port, "/ready");
                    body = ready.body();
                    if (ready.statusCode() == 200) {
                        break;
                    }
                } catch (java.io.IOException notYet) {
                    body = notYet.toString();
                }
                Thread.sleep(50);
            }
            assertTrue(body.contains("warmed up in"), body + "\n" + daemon.output());
            assertTrue(daemon.output().contains("event=warmup_done"), daemon.output());
        }
    }

    @Test
    void shouldWriteOneJsonObjectPerLineWithoutFrameworkChatterWhenLogFormatIsJson() throws Exception {
        int port = DaemonProcess.freePort();
        try (DaemonProcess daemon = DaemonProcess.start(tmp,
            java.util.Map.of("CONDUCTOR_LOG_FORMAT", "json", "CONDUCTOR_LOG_LEVEL", "debug"),
            "--config", "config/conductor_config.json", "--port", Integer.toString(port), "--host", "127.0.0.1")) {

            daemon.awaitHealthy(port, START_DEADLINE);
            daemon.process().destroy(); // SIGTERM
            int status = daemon.awaitExit(STOP_DEADLINE);

            String output = daemon.output();
            assertEquals(0, status, output);
            com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
            List<String> messages = new ArrayList<>();
            for (String line : output.split("\n")) {
                com.fasterxml.jackson.databind.JsonNode node = json.readTree(line); // throws unless one object
                assertTrue(node.isObject() && node.hasNonNull("@timestamp") && node.hasNonNull("level")
                    && node.hasNonNull("logger_name"), line);
                messages.add(node.path("message").asText());
            }
            assertTrue(messages.stream().anyMatch(m -> m.startsWith("event=http_started host=127.0.0.1 port=" + port)),
                output);
            assertTrue(messages.stream().anyMatch(m -> m.startsWith("event=stopped")), output);
            assertTrue(!output.contains("days old") && !output.contains("Javalin started")
                && !output.contains("Listening on"), "no Javalin banner or version notice, even at DEBUG: " + output);
        }
    }
}
