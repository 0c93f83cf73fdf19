package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code deploy/prometheus} and {@code deploy/grafana} against a real Prometheus (Debian's {@code prometheus}
 * package, which {@code .ci/run} installs): {@code promtool} accepts the rules and the config; Prometheus, started on
 * a loopback ephemeral port with the shipped config (intervals shortened to 1 s), scrapes a real daemon fed by
 * simulated engines; every recording rule and every alert rule evaluates without error, every recording rule and
 * every dashboard panel expression returns data, and the hit-rate series equal the ratios of the daemon's own
 * counters. Without Prometheus the test is skipped, except in CI ({@code CI=true}), where that is a failure.
 */
class PrometheusDeployIT {
    private static final Pattern RECORD = Pattern.compile("^\\s*- record:\\s*(\\S+)\\s*$", Pattern.MULTILINE);
    private static final Pattern ALERT = Pattern.compile("^\\s*- alert:\\s*(\\S+)\\s*$", Pattern.MULTILINE);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path tmp;

    private static Path binary(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private static Path requireBinary(String name) {
        Path p = binary(name);
        if (p == null) {
            String message = name + " not found on PATH: install Debian's prometheus package (apt-get install "
                + "prometheus), as .ci/run does";
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError("CI=true: " + message);
            }
            Assumptions.abort("skipped (not in CI): " + message);
        }
        return p;
    }

    private static String run(Path dir, String... command) throws Exception {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " hangs");
        assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + out);
        return out;
    }

    @Test
    void shouldEvaluateEveryRuleAndPanelOnARealPrometheusScrapingTheDaemon() throws Exception {
        Path prometheus = requireBinary("prometheus");
        Path promtool = requireBinary("promtool");
        Path deploy = DaemonProcess.home().resolve("deploy");
        Path rulesDir = deploy.resolve("prometheus");
        String recordingText = Files.readString(rulesDir.resolve("conductor-recording-rules.yml"));
        String alertText = Files.readString(rulesDir.resolve("conductor-alerts.yml"));
        String checked = run(rulesDir, promtool.toString(), "check", "rules", "conductor-recording-rules.yml",
            "conductor-alerts.yml");
        assertTrue(checked.contains("SUCCESS"), checked);

        try (SimulatedCluster cluster = SimulatedCluster.start(tmp, 2)) {
            // The shipped config, pointed at this daemon, with 1 s intervals so that the test is quick.
            Path conf = Files.createDirectories(tmp.resolve("prometheus"));
            for (String f : List.of("conductor-recording-rules.yml", "conductor-alerts.yml")) {
                Files.copy(rulesDir.resolve(f), conf.resolve(f));
            }
            String yml = Files.readString(rulesDir.resolve("prometheus.yml"));
            assertTrue(yml.contains("localhost:13333") && yml.contains("scrape_interval: 15s"), yml);
            Files.writeString(conf.resolve("prometheus.yml"), yml.replace("localhost:13333", cluster.address())
                .replace("scrape_interval: 15s", "scrape_interval: 1s")
                .replace("evaluation_interval: 15s", "evaluation_interval: 1s"));
            run(conf, promtool.toString(), "check", "config", "prometheus.yml");

            int promPort = DaemonProcess.freePort();
            Path promLog = tmp.resolve("prometheus.log");
            Process prom = new ProcessBuilder(prometheus.toString(), "--config.file=" + conf.resolve("prometheus.yml"),
                "--storage.tsdb.path=" + tmp.resolve("tsdb"), "--web.listen-address=127.0.0.1:" + promPort)
                .redirectErrorStream(true).redirectOutput(promLog.toFile()).start();
            try {
                PromApi api = new PromApi(promPort, prom, promLog);
                // The series exist at zero from registration: wait for a scrape of them before any traffic, so the
                // windows of the rates start at zero and their ratios are exact.
                api.await("a first scrape of the daemon", () -> !api.query(
                    "conductor_query_tokens_total{model_name=\"" + SimulatedCluster.MODEL + "\"}").isEmpty()
                    && !api.query("conductor_instance_query_tokens_total{instance_id=\"prefill-1\"}").isEmpty());

                traffic(cluster);

                Map<String, Double> expected = new TreeMap<>();
                String model = "{model_name=\"" + SimulatedCluster.MODEL + "\"";
                double tokens = cluster.metric("conductor_query_tokens_total" + model + "}");
                expected.put("model_name:conductor_hit_rate:ratio_rate5m" + model + "}",
                    cluster.metric("conductor_query_matched_tokens_total" + model + ",tier=\"disk\"}") / tokens);
                expected.put("model_name:conductor_gpu_hit_rate:ratio_rate5m" + model + "}",
                    cluster.metric("conductor_query_matched_tokens_total" + model + ",tier=\"gpu\"}") / tokens);
                for (String id : cluster.instanceIds()) {
                    String sel = "{instance_id=\"" + id + "\"";
                    expected.put("instance_id:conductor_hit_rate:ratio_rate5m" + sel + "}",
                        cluster.metric("conductor_instance_matched_tokens_total" + sel + ",tier=\"disk\"}")
                            / cluster.metric("conductor_instance_query_tokens_total" + sel + "}"));
                }
                for (Map.Entry<String, Double> e : expected.entrySet()) {
                    assertTrue(e.getValue() > 0 && e.getValue() < 1, "traffic hit some cache, not all: " + e);
                }
                api.await("the hit-rate series to equal the daemon's counters " + expected, () -> {
                    for (Map.Entry<String, Double> e : expected.entrySet()) {
                        List<Double> v = api.values(e.getKey());
                        if (v.size() != 1 || Math.abs(v.getFirst() - e.getValue()) > 1e-9) {
                            return false;
                        }
                    }
                    return true;
                });

                // Every rule loaded and healthy; every recording rule returns data.
                JsonNode groups = api.get("/api/v1/rules").path("data").path("groups");
                List<String> recorded = new ArrayList<>();
                List<String> alerts = new ArrayList<>();
                for (JsonNode g : groups) {
                    for (JsonNode r : g.path("rules")) {
                        assertEquals("ok", r.path("health").asText(), "rule evaluation: " + r);
                        (r.path("type").asText().equals("recording") ? recorded : alerts).add(r.path("name").asText());
                    }
                }
                assertEquals(names(RECORD, recordingText), recorded);
                assertEquals(names(ALERT, alertText), alerts);
                for (String rule : recorded) {
                    api.await("recording rule " + rule + " to return data", () -> !api.query(rule).isEmpty());
                }
                // Every panel expression of the dashboard returns data.
                JsonNode dashboard = SimulatedCluster.JSON.readTree(deploy.resolve("grafana/conductor.json").toFile());
                int exprs = 0;
                for (JsonNode panel : dashboard.path("panels")) {
                    for (JsonNode target : panel.path("targets")) {
                        String expr = target.path("expr").asText();
                        assertFalse(expr.isEmpty(), "panel without expression: " + panel.path("title"));
                        api.await("panel '" + panel.path("title").asText() + "': " + expr,
                            () -> !api.query(expr).isEmpty());
                        exprs++;
                    }
                }
                assertTrue(exprs >= 20, "the dashboard has its panels: " + exprs);
            } finally {
                prom.destroy();
                if (!prom.waitFor(20, TimeUnit.SECONDS)) {
                    prom.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    private static List<String> names(Pattern p, String text) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(text);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** Prompts cached on one engine, queried (hits and misses), routed, and fed back. */
    private static void traffic(SimulatedCluster cluster) throws Exception {
        for (int i = 0; i < 4; i++) {
            String prompt = DemoFixture.uniquePrompt("prom" + i, 60);
            int engine = i % 2;
            cluster.complete(engine, prompt);
            int[] tokens = cluster.tokenize(prompt);
            String id = cluster.instanceIds().get(engine);
            cluster.await("the index to hold prompt " + i, () -> {
                try {
                    return cluster.gpuHit(id, tokens) > 0;
                } catch (Exception e) {
                    return false;
                }
            });
            int[] miss = cluster.tokenize(DemoFixture.uniquePrompt("cold" + i, 40));
            assertEquals(200, cluster.postJson("/query", cluster.queryBody(miss).toString()).statusCode());
            assertEquals(200, cluster.postJson("/route", cluster.queryBody(tokens).toString()).statusCode());
            long predicted = cluster.gpuHit(id, tokens);
            assertEquals(200, cluster.postJson("/feedback", SimulatedCluster.JSON.createObjectNode()
                .put("instance_id", id).put("predicted_tokens", predicted)
                .put("cached_tokens", Math.max(0, predicted - 16))
                .toString()).statusCode());
        }
    }

    /** Prometheus's HTTP API on loopback. */
    private record PromApi(int port, Process process, Path log) {
        JsonNode get(String pathAndQuery) {
            try {
                HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + pathAndQuery)).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                JsonNode body = SimulatedCluster.JSON.readTree(r.body());
                if (r.statusCode() != 200 || !"success".equals(body.path("status").asText())) {
                    throw new AssertionError("Prometheus " + pathAndQuery + " -> " + r.statusCode() + " "
                        + r.body());
                }
                return body;
            } catch (IOException e) {
                return SimulatedCluster.JSON.createObjectNode(); // not up yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }

        /** The instant vector of an expression (empty while Prometheus is not up yet). */
        JsonNode query(String expr) {
            return get("/api/v1/query?query=" + urlEncode(expr)).path("data").path("result");
        }

        List<Double> values(String expr) {
            List<Double> out = new ArrayList<>();
            for (JsonNode sample : query(expr)) {
                out.add(Double.parseDouble(sample.path("value").get(1).asText()));
            }
            return out;
        }

        void await(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (System.nanoTime() < end) {
                if (!process.isAlive()) {
                    throw new AssertionError("prometheus exited while waiting for " + what + ":\n" + tail());
                }
                if (condition.getAsBoolean()) {
                    return;
                }
                Thread.sleep(250);
            }
            throw new AssertionError("timed out waiting for " + what + "\n" + tail());
        }

        private String tail() {
            try {
                List<String> lines = Files.readAllLines(log);
                return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
            } catch (IOException e) {
                return "(no log: " + e + ")";
            }
        }

        private static String urlEncode(String s) {
            return URLEncoder.encode(s, StandardCharsets.UTF_8);
        }
    }
}
