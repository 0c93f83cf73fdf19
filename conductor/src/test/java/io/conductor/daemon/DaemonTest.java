package io.conductor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.conductor.daemon.config.ConductorConfig;
import io.prometheus.metrics.core.metrics.Counter;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A real daemon on a loopback ephemeral port, driven by a real HTTP client. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DaemonTest {
    private static final JsonMapper JSON = new JsonMapper();
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final DaemonSettings SETTINGS = new DaemonSettings("127.0.0.1", 0, false, "test-version");
    private static final ConductorConfig CONFIG = ConductorConfig.empty("(test)");

    private final List<Daemon> started = new ArrayList<>();

    @AfterEach
    void stopAll() {
        started.forEach(Daemon::stop);
    }

    private Daemon start(DaemonExtension... extensions) throws DaemonStartException {
        Daemon daemon = Daemon.start(SETTINGS, CONFIG, List.of(extensions));
        started.add(daemon);
        return daemon;
    }

    private static HttpResponse<String> get(Daemon daemon, String path) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port() + path))
            .timeout(Duration.ofSeconds(20)).build();
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldAnswerHealthWithJsonStatusAndVersionWhenRunning() throws Exception {
        Daemon daemon = start();

        HttpResponse<String> response = get(daemon, "/health");

        assertEquals(200, response.statusCode());
        assertEquals("application/json", response.headers().firstValue("Content-Type").orElse(""));
        JsonNode body = JSON.readTree(response.body());
        assertEquals("up", body.get("status").textValue());
        assertEquals("test-version", body.get("version").textValue());
        assertTrue(body.get("uptime_seconds").isIntegralNumber());
    }

    @Test
    void shouldBeReadyWhenNoCheckIsRegistered() throws Exception {
        Daemon daemon = start();

        HttpResponse<String> response = get(daemon, "/ready");

        assertEquals(200, response.statusCode());
        assertEquals("{\"status\":\"ready\",\"checks\":[]}", response.body());
    }

    @Test
    void shouldAnswer503UntilEveryCheckPassesWhenExtensionsRegisterChecks() throws Exception {
        AtomicBoolean connected = new AtomicBoolean();
        Daemon daemon = start(context -> {
            context.addReadinessCheck("subscriptions", () -> connected.get()
                ? ReadinessCheck.Result.ready("1 of 1 connected")
                : ReadinessCheck.Result.notReady("0 of 1 connected"));
            context.addReadinessCheck("store", () -> ReadinessCheck.Result.ready("off"));
        });

        HttpResponse<String> before = get(daemon, "/ready");
        connected.set(true);
        HttpResponse<String> after = get(daemon, "/ready");

        assertEquals(503, before.statusCode());
        JsonNode notReady = JSON.readTree(before.body());
        assertEquals("not_ready", notReady.get("status").textValue());
        assertEquals("subscriptions", notReady.get("checks").get(0).get("name").textValue());
        assertEquals("0 of 1 connected", notReady.get("checks").get(0).get("detail").textValue());
        assertTrue(notReady.get("checks").get(1).get("ready").booleanValue());
        assertEquals(200, after.statusCode());
        assertEquals("ready", JSON.readTree(after.body()).get("status").textValue());
    }

    @Test
    void shouldReportNotReadyWithReasonWhenCheckThrows() throws Exception {
        Daemon daemon = start(context -> context.addReadinessCheck("broken", () -> {
            throw new IllegalStateException("probe exploded");
        }));

        HttpResponse<String> response = get(daemon, "/ready");

        assertEquals(503, response.statusCode());
        assertTrue(response.body().contains("check failed: java.lang.IllegalStateException: probe exploded"),
            response.body());
    }

    @Test
    void shouldRefuseSecondReadinessCheckWhenNameIsTaken() {
        DaemonStartException e = assertThrows(DaemonStartException.class, () -> start(context -> {
            context.addReadinessCheck("subscriptions", () -> ReadinessCheck.Result.ready(""));
            context.addReadinessCheck("subscriptions", () -> ReadinessCheck.Result.ready(""));
        }));

        assertTrue(e.getMessage().contains("a readiness check named \"subscriptions\" is already registered"),
            e.getMessage());
    }

    @Test
    void shouldExposeJvmProcessAndExtensionMetricsInPrometheusTextWhenScraped() throws Exception {
        Daemon daemon = start(context -> Counter.builder().name("conductor_test_events_total").help("test")
            .register(context.metrics()).inc(3));

        HttpResponse<String> response = get(daemon, "/metrics");

        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
        String body = response.body();
        assertTrue(body.contains("\njvm_memory_used_bytes{area=\"heap\"}"), "JVM metrics");
        assertTrue(body.contains("\nprocess_cpu_seconds_total "), "process metrics");
        assertTrue(body.contains("conductor_build_info{version=\"test-version\"} 1"), "build info");
        assertTrue(body.contains("\nconductor_test_events_total 3.0"), "an extension's meter");
    }

    @Test
    void shouldServeOpenMetricsWhenScraperAsksForIt() throws Exception {
        Daemon daemon = start();
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port() + "/metrics"))
            .header("Accept", "application/openmetrics-text; version=1.0.0").build();

        HttpResponse<String> response = CLIENT.send(request, HttpResponse.BodyHandlers.ofString());

        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/openmetrics-text"));
        assertTrue(response.body().endsWith("# EOF\n"));
    }

    @Test
    void shouldServeExtensionRoutesAndExposeConfigWhenInstalled() throws Exception {
        Daemon daemon = start(context -> context.http().get("/services",
            ctx -> ctx.result(context.config().source() + " " + context.settings().version())));

        HttpResponse<String> response = get(daemon, "/services");

        assertEquals(200, response.statusCode());
        assertEquals("(test) test-version", response.body());
    }

    @Test
    void shouldStopHttpFirstThenRunStepsInReverseOrderWhenStopped() throws Exception {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger port = new AtomicInteger();
        Daemon daemon = start(
            context -> context.addShutdownStep("subscriptions", () -> {
                events.add("subscriptions http=" + httpAnswers(port.get()));
            }),
            context -> {
                context.addShutdownStep("api", () -> events.add("api http=" + httpAnswers(port.get())));
                context.addShutdownStep("failing", () -> {
                    throw new IOException("a failing step does not stop the others");
                });
            });
        port.set(daemon.port());

        daemon.stop();
        daemon.stop();

        assertEquals(List.of("api http=false", "subscriptions http=false"), events);
    }

    @Test
    void shouldFailNamingThePortAndRunRegisteredStepsWhenPortIsTaken() throws Exception {
        AtomicBoolean stepRan = new AtomicBoolean();
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            DaemonSettings settings = new DaemonSettings("127.0.0.1", taken.getLocalPort(), false, "v");

            DaemonStartException e = assertThrows(DaemonStartException.class, () -> Daemon.start(settings, CONFIG,
                List.of(context -> context.addShutdownStep("events", () -> stepRan.set(true)))));

            assertEquals("cannot listen on 127.0.0.1:" + taken.getLocalPort() + " (choose another port with --port "
                + "or http_server_port): Address already in use", e.getMessage());
            assertTrue(stepRan.get(), "what the extensions started is stopped again");
        }
    }

    @Test
    void shouldFailAndRunEarlierStepsWhenAnExtensionThrows() {
        AtomicBoolean stepRan = new AtomicBoolean();

        DaemonStartException e = assertThrows(DaemonStartException.class, () -> start(
            context -> context.addShutdownStep("first", () -> stepRan.set(true)),
            context -> {
                throw new IllegalStateException("cannot open store library");
            }));

        assertTrue(e.getMessage().contains("cannot open store library"), e.getMessage());
        assertTrue(stepRan.get());
    }

    @Test
    void shouldReturnFirstRequestedStatusWhenExtensionRequestsStop() throws Exception {
        AtomicBoolean requested = new AtomicBoolean();
        List<DaemonContext> contexts = new ArrayList<>();
        Daemon daemon = start(contexts::add);

        contexts.get(0).requestStop(3, "subscription thread died");
        contexts.get(0).requestStop(4, "ignored: the first request wins");
        requested.set(true);

        assertEquals(3, daemon.awaitStopRequest());
        assertEquals(3, daemon.requestedExitStatus());
    }

    @Test
    void shouldExitStatusBeZeroWhenNoStopWasRequested() throws Exception {
        Daemon daemon = start();

        assertEquals(0, daemon.requestedExitStatus());
    }

    private static boolean httpAnswers(int port) {
        try {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                .timeout(Duration.ofSeconds(5)).build();
            return CLIENT.send(request, HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
        } catch (ConnectException e) {
            return false;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
