package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.conductor.example.demo.DemoTopology;
import io.conductor.example.demo.DemoWorkload;
import io.conductor.example.demo.PolicySummary;
import io.conductor.example.demo.RequestRecord;
import io.conductor.example.demo.WorkloadRunner;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The demo topology as real processes: conductor daemon, three simulated prefill engines (one with two DP ranks),
 * one decode engine and the proxy, all on loopback.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CacheAwareDemoIT {
    private DemoFixture fx;

    @BeforeAll
    void start() {
        fx = new DemoFixture(DemoTopology.Spec.DEFAULT);
    }

    @AfterAll
    void stop() {
        if (fx != null) {
            fx.close();
        }
    }

    @Test
    void shouldRegisterEveryRankAndStreamThroughTheProxyWhenTopologyIsUp() throws Exception {
        JsonNode view = fx.topology.getJson(fx.topology.conductorUrl().resolve("/global_view"));
        HttpResponse<String> r;
        try (HttpClient client = HttpClient.newHttpClient()) {
            r = client.send(HttpRequest.newBuilder(fx.topology.proxyUrl().resolve("/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                    "{\"model\": \"" + DemoTopology.MODEL + "\", \"messages\": [{\"role\": \"user\", \"content\":"
                        + " \"hello\"}], \"max_tokens\": 3, \"stream\": true}")).build(),
                HttpResponse.BodyHandlers.ofString());
        }

        // The demo model's context: the daemon's own start-up warm-up context may still be listed beside it.
        JsonNode instances = null;
        for (JsonNode context : view.path("contexts")) {
            if (DemoTopology.MODEL.equals(context.path("model_name").asText())) {
                instances = context.path("instances");
            }
        }
        assertTrue(instances != null, view.toString());
        assertEquals(List.of(0, 1), List.of(instances.path("prefill-2").path(0).asInt(),
            instances.path("prefill-2").path(1).asInt()), view.toString());
        assertTrue(instances.has("prefill-0") && instances.has("prefill-1") && instances.has("decode-0"),
            view.toString());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().trim().endsWith("data: [DONE]"), r.body());
        assertTrue(r.headers().firstValue("X-Conductor-Prefill-Instance").orElse("").startsWith("prefill-"));
    }

    @Test
    void shouldBeatRoundRobinOnHitRateAndTtftWhenChatsSharePrefixes() throws Exception {
        DemoWorkload workload = DemoWorkload.demo();
        WorkloadRunner runner = new WorkloadRunner(fx.topology.proxyUrl(), DemoTopology.MODEL, 6, 8);
        for (String policy : List.of("cache_aware", "round_robin")) {
            runner.run(DemoWorkload.warmUp(), policy, r -> { }); // JIT warm-up, so neither run pays for it
        }

        assertTrue(fx.topology.resetCachesAndAwaitEmptyIndex(), "conductor index not emptied");
        PolicySummary cacheAware = PolicySummary.of("cache_aware", runner.run(workload, "cache_aware", r -> { }));
        assertTrue(fx.topology.resetCachesAndAwaitEmptyIndex(), "conductor index not emptied");
        List<RequestRecord> rr = runner.run(workload, "round_robin", r -> { });
        PolicySummary roundRobin = PolicySummary.of("round_robin", rr);

        String table = PolicySummary.table(List.of(cacheAware, roundRobin));
        System.out.println(table); // into the failsafe output file, for the record
        assertEquals(0, cacheAware.failures() + roundRobin.failures(), table);
        assertTrue(cacheAware.hitRate() > roundRobin.hitRate() + 0.10, table);
        // TTFT is wall-clock latency: on a machine saturated by other work (load ~30 on 2 cores while other suites
        // build) the seven processes' CPU starvation, not the simulated prefill, decides it, and the cache-aware
        // run, which concentrates requests on the instances holding the prefixes, queues longest. Compare it only
        // when the machine is not saturated (a load average of at most 4 per core; failures were seen above 14 per
        // core, passes up to 13); hit rate and prediction above are asserted always.
        double load = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        int cores = Runtime.getRuntime().availableProcessors();
        if (load >= 0 && load <= 4.0 * cores) {
            assertTrue(cacheAware.ttftP50Millis() < roundRobin.ttftP50Millis(), table);
        } else {
            System.out.println("TTFT not compared: load average " + load + " on " + cores + " cores");
        }
        assertTrue(cacheAware.predictedTokens() > 0, table);
        assertTrue(Math.abs(cacheAware.predictedTokens() - cacheAware.cachedTokens())
            <= 0.25 * cacheAware.cachedTokens(), "prediction far from the engines' actual hits\n" + table);
        assertEquals(0, roundRobin.predictedTokens(), table);
        // Every cache-aware request reported the engine's cached tokens back (asynchronously).
        fx.await("the proxy's /feedback reports", () -> metricSum("conductor_feedback_reports_total")
            >= workload.totalRequests());
        URI health = fx.topology.proxyUrl().resolve("/healthcheck");
        assertTrue(fx.topology.getJson(health).path("routed_by_conductor").asLong() >= workload.totalRequests());
    }

    /** Sums every sample of one metric family in the conductor's Prometheus text. */
    private double metricSum(String name) {
        try (HttpClient client = HttpClient.newHttpClient()) {
            String text = client.send(HttpRequest.newBuilder(fx.topology.conductorUrl().resolve("/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
            double sum = 0;
            for (String line : text.lines().toList()) {
                if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                    sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            return sum;
        } catch (Exception e) {
            return -1;
        }
    }
}
