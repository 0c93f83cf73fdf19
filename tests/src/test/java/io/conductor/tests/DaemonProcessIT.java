package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
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
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", "example/conductor_config.json",
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
            assertTrue(output.contains("event=config_loaded path=example/conductor_config.json origin=flag "
                + "found=true subscriptions=2 formats=legacy:2 http_port=" + port), output);
            assertTrue(output.contains("event=http_started host=127.0.0.1 port=" + port), output);
            assertTrue(output.contains("event=stopped"), output);
            assertTrue(Pattern.compile("(?m)^\\S+ INFO ").matcher(output).find(), "structured lines: " + output);
            assertTrue(!output.contains("Javalin started") && !output.contains("jetty-"),
                "no framework banner or start-up chatter at INFO: " + output);
        }
    }

    @Test
    void shouldStartWithoutSubscriptionsAndExitZeroOnSigintWhenConfigFileIsMissing() throws Exception {
        int port = DaemonProcess.freePort();
        Path missing = tmp.resolve("absent.json");
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", missing.toString(),
            "--port", Integer.toString(port), "--host", "127.0.0.1")) {

            daemon.awaitHealthy(port, START_DEADLINE);
            HttpResponse<String> ready = DaemonProcess.get(port, "/ready");
            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(daemon.process().pid())).start();
            assertEquals(0, kill.waitFor(), "kill -INT");
            int status = daemon.awaitExit(STOP_DEADLINE);

            String output = daemon.output();
            assertEquals(0, status, output);
            assertEquals(200, ready.statusCode(), "no subscriptions: ready at once; " + ready.body());
            assertTrue(output.contains("config file " + missing + " does not exist: starting with no subscriptions"),
                output);
            assertTrue(output.contains("found=false subscriptions=0"), output);
            assertTrue(output.contains("event=stopped"), output);
        }
    }

    @Test
    void shouldExitNonZeroNamingThePortWhenPortIsTaken() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             DaemonProcess daemon = DaemonProcess.start(tmp, "--config", "example/conductor_config.json",
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
}
