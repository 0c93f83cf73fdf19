package io.conductor.daemon.warmup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.Daemon;
import io.conductor.daemon.DaemonExtension;
import io.conductor.daemon.DaemonSettings;
import io.conductor.daemon.api.ApiLimits;
import io.conductor.daemon.config.ConfigLoader;
import io.conductor.daemon.service.ConductorApiExtension;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.daemon.store.StoreTier;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The warm-up against a real in-process daemon on loopback: it keeps {@code /ready} at 503 until it has run, its
 * queries go through the real HTTP server and index (they hit: the metrics count matched tokens), and it leaves no
 * stream or context behind.
 */
class StartupWarmupTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void drivesTheRealServerThenLeavesNothingBehind() throws Exception {
        StartupWarmup warmup = StartupWarmup.fromEnvironment("0.5");
        try (Daemon daemon = Daemon.start(new DaemonSettings("127.0.0.1", 0, false, "test"),
                ConfigLoader.parse("{\"http_server_port\": 0}", "test", false).config(),
                List.<DaemonExtension>of(
                    new ConductorApiExtension(ZmqEventStreams::withDefaults, ApiLimits.defaults(), new StoreTier()),
                    context -> context.addReadinessCheck("warmup", warmup.readinessCheck())))) {
            String base = "http://127.0.0.1:" + daemon.port();
            HttpResponse<String> before = get(base + "/ready");
            assertEquals(503, before.statusCode(), before.body());
            assertTrue(before.body().contains("warmup"), before.body());

            warmup.start("127.0.0.1", daemon.port());
            assertTrue(warmup.await(Duration.ofSeconds(120)), "warm-up did not end");

            HttpResponse<String> after = get(base + "/ready");
            assertEquals(200, after.statusCode(), after.body());
            assertTrue(after.body().contains("warmed up"), "the warm-up failed: " + after.body());

            String metrics = get(base + "/metrics").body();
            assertTrue(counter(metrics, "conductor_queries_total\\{route=\"query\"") > 0, "no /query was answered");
            assertTrue(counter(metrics, "conductor_queries_total\\{route=\"route\"") > 0, "no /route was answered");
            // The warm-up's own model series are removed with its stream; its answer says what the queries found.
            java.util.regex.Matcher hits = Pattern.compile("(\\d+) full hits").matcher(after.body());
            assertTrue(hits.find() && Long.parseLong(hits.group(1)) > 0,
                "the warm-up's full-hit queries never hit its published blocks: " + after.body());

            String services = get(base + "/services").body();
            assertFalse(services.contains(StartupWarmup.INSTANCE_ID), services);
            String view = get(base + "/global_view").body();
            assertFalse(view.contains(StartupWarmup.TENANT), view);
        }
    }

    @Test
    void zeroSecondsTurnsItOffAndIsReadyAtOnce() {
        StartupWarmup off = StartupWarmup.fromEnvironment("0");
        assertFalse(off.enabled());
        assertTrue(off.readinessCheck().check().ready());
        assertTrue(StartupWarmup.fromEnvironment(null).enabled());
        assertTrue(StartupWarmup.fromEnvironment(" ").enabled());
    }

    @Test
    void badDurationsAreRefusedWithTheVariableNamed() {
        for (String bad : new String[] {"abc", "-1", "601", "NaN"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StartupWarmup.fromEnvironment(bad), bad);
            assertTrue(e.getMessage().contains(StartupWarmup.ENV_SECONDS), e.getMessage());
        }
    }

    private static HttpResponse<String> get(String url) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
            HttpResponse.BodyHandlers.ofString());
    }

    /** Sum of the samples of a counter whose name and leading labels match {@code prefix}. */
    private static double counter(String exposition, String prefix) {
        Matcher m = Pattern.compile("(?m)^" + prefix + "[^\\n]* ([0-9.eE+]+)$").matcher(exposition);
        double sum = 0;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }
}
