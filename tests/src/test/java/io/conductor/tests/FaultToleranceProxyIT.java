package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.example.demo.DemoTopology;
import io.conductor.example.demo.DemoWorkload;
import io.conductor.example.demo.RequestRecord;
import io.conductor.example.demo.WorkloadRunner;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Failures in the running demo topology (real processes, real sockets): an engine crash and restart, a burst of
 * lost events, and a conductor outage. Every test leaves the topology healthy for the next.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FaultToleranceProxyIT {
    private DemoFixture fx;
    private final HttpClient client = HttpClient.newHttpClient();

    @BeforeAll
    void start() {
        fx = new DemoFixture(DemoTopology.Spec.DEFAULT);
    }

    @AfterAll
    void stop() {
        client.close();
        if (fx != null) {
            fx.close();
        }
    }

    @Test
    void shouldReindexEngineWhenItIsKilledAndRestartsWithSeqZero() {
        DemoTopology.Engine engine = fx.topology.prefill().getFirst();
        String before = DemoFixture.uniquePrompt("before", 80);
        // Several batches first, so that the restarted engine's seq numbers lie below the conductor's last seq.
        for (int i = 0; i < 8; i++) {
            fx.complete(engine, DemoFixture.uniquePrompt("warm" + i, 40));
        }
        fx.complete(engine, before);
        fx.await("the prompt indexed before the crash", () -> fx.gpuHit(engine, before) > 0);

        fx.topology.killEngine(engine);
        fx.topology.restartEngine(engine);
        // The conductor's SUB reconnects on its own; keep storing fresh prompts until one is indexed.
        List<String> after = new ArrayList<>();
        fx.await("a prompt stored after the restart to be indexed", () -> {
            String p = DemoFixture.uniquePrompt("after" + after.size(), 60);
            after.add(p);
            fx.complete(engine, p);
            return after.stream().anyMatch(a -> fx.gpuHit(engine, a) > 0);
        });

        fx.await("the crashed engine's old blocks to be dropped", () -> fx.gpuHit(engine, before) == 0);
        assertEquals(0, fx.complete(engine, before).at("/usage/prompt_tokens_details/cached_tokens").asInt(),
            "the restarted engine really lost its cache");
    }

    @Test
    void shouldHealDroppedEventBurstByReplayWhenNextBatchRevealsTheGap() {
        DemoTopology.Engine engine = fx.topology.prefill().get(1);
        fx.complete(engine, DemoFixture.uniquePrompt("sync", 40));
        fx.await("the stream to be live", () -> fx.gpuHit(engine, DemoFixture.uniquePrompt("sync", 40)) > 0);
        fx.topology.postJson(engine.url().resolve("/sim/drop_events?count=3&rank=0"), "");
        List<String> lost = List.of(DemoFixture.uniquePrompt("lost0", 50), DemoFixture.uniquePrompt("lost1", 50),
            DemoFixture.uniquePrompt("lost2", 50));

        for (String p : lost) {
            fx.complete(engine, p);
        }
        String reveal = DemoFixture.uniquePrompt("reveal", 50);
        fx.complete(engine, reveal);

        fx.await("the batch after the gap", () -> fx.gpuHit(engine, reveal) > 0);
        fx.await("every dropped batch to be replayed",
            () -> lost.stream().allMatch(p -> fx.gpuHit(engine, p) > 0));
    }

    @Test
    void shouldKeepServingThroughConductorOutageAndRouteAgainAfterRestart() throws Exception {
        // A workload runs through the proxy while the conductor is killed and started again under it.
        WorkloadRunner runner = new WorkloadRunner(fx.topology.proxyUrl(), DemoTopology.MODEL, 4, 4);
        List<RequestRecord> records = new CopyOnWriteArrayList<>();
        Thread load = Thread.ofVirtual().start(() -> {
            try {
                records.addAll(runner.run(DemoWorkload.standard(2, 8, 6, 8), "cache_aware", r -> { }));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        fx.await("the workload to get going", () -> fx.topology.getJson(fx.topology.proxyUrl()
            .resolve("/healthcheck")).path("routed_by_conductor").asLong() > 0);

        fx.topology.killConductor();
        List<HttpResponse<String>> during = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            during.add(proxyCompletion(DemoFixture.uniquePrompt("outage" + i, 30)));
        }
        fx.topology.restartConductor();
        List<HttpResponse<String>> afterRestart = new ArrayList<>();
        fx.await("the proxy to route by the conductor again", () -> {
            HttpResponse<String> r = proxyCompletion(DemoFixture.uniquePrompt("back" + afterRestart.size(), 30));
            afterRestart.add(r);
            return !r.headers().firstValue("X-Conductor-Route-Reason").orElse("fallback").startsWith("fallback");
        });
        load.join();

        for (HttpResponse<String> r : during) {
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("X-Conductor-Route-Reason").orElse("").startsWith("fallback_"),
                r.headers().map().toString());
        }
        for (HttpResponse<String> r : afterRestart) {
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(8 * 6 + 8, records.size());
        assertTrue(records.stream().allMatch(RequestRecord::ok), "a request failed during the outage: " + records);
    }

    private HttpResponse<String> proxyCompletion(String prompt) {
        try {
            return client.send(HttpRequest.newBuilder(fx.topology.proxyUrl().resolve("/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                    "{\"model\": \"" + DemoTopology.MODEL + "\", \"prompt\": \"" + prompt + "\", \"max_tokens\": 2}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new AssertionError("proxy request failed", e);
        }
    }
}
