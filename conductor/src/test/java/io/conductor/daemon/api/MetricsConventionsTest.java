package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.service.ZmqEventStreams;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The exposition follows Prometheus conventions and stays bounded, on the real API server with real ZMQ streams:
 * no {@code instance}/{@code job} label and no composite stream label; every family docs/metrics.md documents is
 * exposed at zero before any traffic; the per-query hit-ratio histogram counts beside the token counters; a
 * model's and an instance's series go with their last registration; registration churn leaves the series count
 * where it started; label values are capped at the registry's cap.
 */
class MetricsConventionsTest {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})? (.+)$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
    /** Documented families that a plain API server cannot show: the daemon shell's, the store probe's. */
    /**
     * Families this in-process server cannot show at start: the daemon's build info; the snapshot meters, which
     * exist only when a {@code snapshot} or {@code cluster} block is configured; and the cost model's per-instance
     * learning meters, whose first series comes with the first {@code /feedback} carrying a TTFT or prefill time
     * (docs/metrics.md says so for each).
     */
    private static final Set<String> NOT_IN_API_SERVER = Set.of("conductor_build_info",
            "conductor_snapshot_last_write_bytes", "conductor_snapshot_last_write_timestamp_seconds",
            "conductor_snapshot_restored_pairs", "conductor_snapshot_writes_total",
            "conductor_route_prediction_error_ratio", "conductor_route_prefill_tokens_per_second");

    private ApiTestServer server;

    @BeforeEach
    void start() {
        server = new ApiTestServer(ApiLimits.defaults(), ZmqEventStreams.withDefaults());
    }

    @AfterEach
    void stop() {
        server.close();
    }

    /** Every sample line: family-or-series name, labels (name to value), value. */
    private record Sample(String name, Map<String, String> labels, double value) {
    }

    private List<Sample> scrape() throws Exception {
        List<Sample> out = new ArrayList<>();
        for (String line : server.metricsText().split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher m = SAMPLE.matcher(line);
            assertTrue(m.matches(), "unparsable exposition line: " + line);
            Map<String, String> labels = new LinkedHashMap<>();
            if (m.group(3) != null) {
                Matcher l = LABEL.matcher(m.group(3));
                while (l.find()) {
                    labels.put(l.group(1), l.group(2));
                }
            }
            out.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(4))));
        }
        return out;
    }

    private double value(String name, Map<String, String> labels) throws Exception {
        for (Sample s : scrape()) {
            if (s.name().equals(name) && s.labels().equals(labels)) {
                return s.value();
            }
        }
        throw new AssertionError("no sample " + name + labels + " in\n" + server.metricsText());
    }

    private Map<String, Object> registration(String instance, String model, int port) {
        return Map.of("endpoint", "tcp://127.0.0.1:" + port, "type", "vLLM", "modelname", model,
                "instance_id", instance, "block_size", 16L, "dp_rank", 0L);
    }

    private void register(String instance, String model, int port) throws Exception {
        ApiTestServer.Response r = server.post("/register", WireFormat.JSON, registration(instance, model, port));
        assertEquals(200, r.status(), String.valueOf(r.body()));
    }

    private void unregister(String instance) throws Exception {
        ApiTestServer.Response r = server.post("/unregister", WireFormat.JSON,
                Map.of("instance_id", instance, "dp_rank", 0L));
        assertEquals(200, r.status(), String.valueOf(r.body()));
    }

    private void queryAndFeedback(String model, String instance) throws Exception {
        List<Long> tokens = new ArrayList<>();
        for (long i = 0; i < 40; i++) {
            tokens.add(i);
        }
        assertEquals(200, server.post("/query", WireFormat.JSON,
                Map.of("model", model, "block_size", 16L, "token_ids", tokens)).status());
        assertEquals(200, server.post("/feedback", WireFormat.JSON,
                Map.of("instance_id", instance, "predicted_tokens", 16L, "cached_tokens", 0L)).status());
    }

    /** The {@code conductor_*} families named in the first column of docs/metrics.md's tables. */
    private static Set<String> documentedFamilies() throws Exception {
        Path doc = Path.of("..", "docs", "metrics.md");
        Set<String> families = new TreeSet<>();
        boolean storeProbe = false;
        for (String line : Files.readAllLines(doc, StandardCharsets.UTF_8)) {
            if (line.startsWith("## ")) {
                storeProbe = line.contains("Store probe"); // present only with native_store.enabled
            }
            if (!line.startsWith("| `conductor_") || storeProbe) {
                continue;
            }
            Matcher m = Pattern.compile("`(conductor_[a-z0-9_]+)`").matcher(line.substring(0, line.indexOf('|', 1)));
            while (m.find()) {
                families.add(m.group(1));
            }
        }
        assertTrue(families.size() > 30, "docs/metrics.md lists the families: " + families);
        return families;
    }

    private Set<String> exposedFamilies() throws Exception {
        Set<String> names = new TreeSet<>();
        for (String line : server.metricsText().split("\n")) {
            if (line.startsWith("# TYPE ")) {
                String name = line.split(" ")[2];
                names.add(name);
                names.add(name + "_total"); // the text format names counter families without the suffix
            }
        }
        return names;
    }

    @Test
    void shouldExposeEveryDocumentedFamilyAtZeroBeforeAnyTraffic() throws Exception {
        // A daemon that has only its registrations (static config or /register) and has seen nothing yet.
        register("fresh-0", "qwen", 7301);
        Set<String> exposed = exposedFamilies();
        List<String> missing = new ArrayList<>();
        for (String family : documentedFamilies()) {
            if (!exposed.contains(family) && !NOT_IN_API_SERVER.contains(family)
                    && !family.equals("conductor_event_last_batch_age_seconds")) { // absent before a first batch
                missing.add(family);
            }
        }
        assertEquals(List.of(), missing, "documented families missing from a fresh /metrics:\n"
                + server.metricsText());
        for (Sample s : scrape()) {
            if (s.name().startsWith("conductor_") && !s.name().startsWith("conductor_index_")
                    && !s.name().equals("conductor_event_streams")
                    && !s.name().equals("conductor_http_requests_total")) { // the /register call itself
                assertEquals(0.0, s.value(), "nothing counted yet: " + s);
            }
        }
        assertEquals(0.0, value("conductor_query_tokens_total", Map.of("model_name", "qwen")));
        assertEquals(0.0, value("conductor_instance_query_tokens_total", Map.of("instance_id", "fresh-0")));
        assertEquals(0.0, value("conductor_event_gaps_total",
                Map.of("dp_rank", "0", "instance_id", "fresh-0", "tenant", "default")));
    }

    @Test
    void shouldNeverUseReservedOrCompositeLabels() throws Exception {
        register("a|b", "m", 7311);
        queryAndFeedback("m", "a|b");
        for (Sample s : scrape()) {
            assertFalse(s.labels().containsKey("instance"), "label 'instance' is rewritten by Prometheus: " + s);
            assertFalse(s.labels().containsKey("job"), "label 'job' is rewritten by Prometheus: " + s);
            assertFalse(s.labels().containsKey("stream"), "composite stream label: " + s);
            assertFalse(s.labels().containsKey("model"), "use model_name: " + s);
        }
        assertEquals(0.0, value("conductor_event_batches_total",
                Map.of("dp_rank", "0", "instance_id", "a|b", "tenant", "default")));
    }

    @Test
    void shouldObserveEachQuerysHitRatioBesideTheTokenCounters() throws Exception {
        register("h-0", "qwen", 7321);
        queryAndFeedback("qwen", "h-0"); // 40 tokens, nothing cached: ratio 0
        assertEquals(1.0, value("conductor_query_hit_ratio_count", Map.of("model_name", "qwen")));
        assertEquals(0.0, value("conductor_query_hit_ratio_sum", Map.of("model_name", "qwen")));
        assertEquals(1.0, value("conductor_query_hit_ratio_bucket", Map.of("model_name", "qwen", "le", "0.0")));
        assertEquals(40.0, value("conductor_query_tokens_total", Map.of("model_name", "qwen")));
        assertEquals(1.0, value("conductor_feedback_reports_total", Map.of("instance_id", "h-0")));
        assertEquals(16.0, value("conductor_feedback_absolute_error_tokens_total", Map.of("instance_id", "h-0")));
    }

    @Test
    void shouldRemoveSeriesOfUnregisteredInstancesAndStayBoundedUnderChurn() throws Exception {
        register("keep-0", "qwen", 7330);
        queryAndFeedback("qwen", "keep-0");
        int baseline = scrape().size();
        for (int i = 0; i < 150; i++) {
            String id = "churn-" + i;
            String model = "model-" + i;
            register(id, model, 7400 + i);
            queryAndFeedback(model, id);
            if (i % 25 == 0) {
                Set<String> seen = new TreeSet<>();
                for (Sample s : scrape()) {
                    seen.add(s.labels().getOrDefault("instance_id", ""));
                }
                assertTrue(seen.contains(id), "a registered instance has series: " + seen);
            }
            unregister(id);
        }
        List<Sample> after = scrape();
        for (Sample s : after) {
            String id = s.labels().getOrDefault("instance_id", "");
            String model = s.labels().getOrDefault("model_name", "");
            assertFalse(id.startsWith("churn-") || model.startsWith("model-"), "series of a gone registration: " + s);
        }
        assertEquals(baseline, after.size(), "series count after churn equals the count before it");
        assertEquals(40.0, value("conductor_query_tokens_total", Map.of("model_name", "qwen")));
    }

    @Test
    void shouldCapLabelValuesAtTheRegistrysCap() {
        ApiMetrics metrics = new ApiMetrics(new PrometheusRegistry());
        for (int i = 0; i < ServiceRegistry.MAX_SERVICES + 100; i++) {
            metrics.feedback("id-" + i, 1, 1);
        }
        assertEquals(ServiceRegistry.MAX_SERVICES, metrics.labelValueCount());
        assertEquals(ServiceRegistry.MAX_SERVICES, ApiMetrics.MAX_LABEL_VALUES);
    }
}
