package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clients/python/conductor_client.py} against a real daemon fed by simulated engines: its unittest suite
 * ({@code test_conductor_client.py}, msgpack and JSON on the wire, the round-robin fallback when nothing listens or
 * the conductor is silent) and the runnable {@code example_proxy.py} of docs/integration.md, which routes a repeated
 * prompt to the instance holding it and falls back to round robin, flagged, once the daemon is gone. Needs a
 * {@code python3} with msgpack (Debian's {@code python3-msgpack}, installed by {@code .ci/run}); without one the test
 * is skipped, except in CI ({@code CI=true}), where that is a failure.
 */
class PythonClientIT {
    @TempDir
    Path tmp;

    private static String python() throws InterruptedException {
        for (String candidate : List.of("python3", "/usr/bin/python3")) {
            try {
                Process p = new ProcessBuilder(candidate, "-c", "import msgpack").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    return candidate;
                }
            } catch (IOException e) {
                // not installed: try the next
            }
        }
        String message = "no python3 with msgpack: install python3 and python3-msgpack, as .ci/run does";
        if ("true".equals(System.getenv("CI"))) {
            throw new AssertionError("CI=true: " + message);
        }
        Assumptions.abort("skipped (not in CI): " + message);
        return null;
    }

    @Test
    void shouldPassItsSuiteAndMakeTheExampleProxyCacheAwareAgainstTheRealDaemon() throws Exception {
        String python = python();
        Path clients = DaemonProcess.home().resolve("clients/python");
        try (SimulatedCluster cluster = SimulatedCluster.start(tmp, 2)) {
            String prompt = DemoFixture.uniquePrompt("pyclient", 60);
            cluster.complete(1, prompt);
            int[] tokens = cluster.tokenize(prompt);
            cluster.await("the index to hold the prompt", () -> {
                try {
                    return cluster.gpuHit("prefill-1", tokens) >= 32;
                } catch (Exception e) {
                    return false;
                }
            });

            ProcessBuilder suite = new ProcessBuilder(python, "-m", "unittest", "-v", "test_conductor_client")
                .directory(clients.toFile()).redirectErrorStream(true);
            Map<String, String> env = suite.environment();
            env.put("CONDUCTOR_ADDRESS", cluster.address());
            env.put("CONDUCTOR_TEST_MODEL", SimulatedCluster.MODEL);
            env.put("CONDUCTOR_TEST_BLOCK_SIZE", Integer.toString(SimulatedCluster.BLOCK_SIZE));
            env.put("CONDUCTOR_TEST_TOKENS", Arrays.toString(tokens));
            env.put("CONDUCTOR_TEST_CACHED_INSTANCE", "prefill-1");
            env.put("CONDUCTOR_TEST_OTHER_INSTANCE", "prefill-0");
            env.put("CONDUCTOR_TEST_DEAD_ADDRESS", "127.0.0.1:" + DaemonProcess.freePort());
            env.put("PYTHONDONTWRITEBYTECODE", "1");
            Process p = suite.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "python suite hangs:\n" + out);
            assertEquals(0, p.exitValue(), "python suite failed:\n" + out);
            assertTrue(out.contains("Ran 17 tests") && out.contains("\nOK"), out);
            assertFalse(out.contains("skipped"), "nothing may be skipped against a live daemon:\n" + out);

            exampleProxy(python, clients, cluster, prompt);
        }
    }

    private void exampleProxy(String python, Path clients, SimulatedCluster cluster, String prompt) throws Exception {
        int port = DaemonProcess.freePort();
        List<String> command = new ArrayList<>(List.of(python, "example_proxy.py", "--conductor", cluster.address(),
            "--model", SimulatedCluster.MODEL, "--port", Integer.toString(port), "--timeout", "1"));
        for (int i = 0; i < 2; i++) {
            command.add("--prefill");
            command.add("prefill-" + i + "=http://127.0.0.1:" + cluster.engine(i).port());
        }
        ProcessBuilder builder = new ProcessBuilder(command).directory(clients.toFile()).redirectErrorStream(true);
        builder.environment().put("PYTHONDONTWRITEBYTECODE", "1");
        Process proxy = builder.start();
        try (HttpClient http = HttpClient.newHttpClient()) {
            BufferedReader out = new BufferedReader(new InputStreamReader(proxy.getInputStream(),
                StandardCharsets.UTF_8));
            String first = out.readLine();
            assertTrue(first != null && first.startsWith("listening on"), "example proxy did not start: " + first);
            Thread.ofVirtual().start(() -> {
                try {
                    out.transferTo(java.io.Writer.nullWriter()); // keep its pipe drained
                } catch (IOException ignored) {
                    // the process ended
                }
            });
            HttpResponse<String> routed = complete(http, port, prompt);
            assertEquals(200, routed.statusCode(), routed.body());
            assertEquals("prefill-1", routed.headers().firstValue("X-Conductor-Instance").orElse(""), headers(routed));
            assertEquals("longest_prefix", routed.headers().firstValue("X-Conductor-Reason").orElse(""));
            assertEquals("false", routed.headers().firstValue("X-Conductor-Fallback").orElse(""));
            assertTrue(Long.parseLong(routed.headers().firstValue("X-Conductor-Cached-Tokens").orElse("0")) >= 32,
                headers(routed));

            cluster.daemon().close(); // the conductor is gone: the proxy keeps serving, round robin, flagged
            List<String> picked = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = complete(http, port, DemoFixture.uniquePrompt("fallback" + i, 20));
                assertEquals(200, r.statusCode(), r.body());
                assertEquals("true", r.headers().firstValue("X-Conductor-Fallback").orElse(""), headers(r));
                picked.add(r.headers().firstValue("X-Conductor-Instance").orElse(""));
            }
            assertEquals(2, picked.stream().distinct().count(), "round robin over both instances: " + picked);
        } finally {
            proxy.destroy();
            if (!proxy.waitFor(10, TimeUnit.SECONDS)) {
                proxy.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private static String headers(HttpResponse<String> r) {
        return r.headers().map().toString();
    }

    private static HttpResponse<String> complete(HttpClient http, int port, String prompt) throws Exception {
        String body = SimulatedCluster.JSON.createObjectNode().put("model", SimulatedCluster.MODEL)
            .put("prompt", prompt).put("max_tokens", 1).toString();
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
            .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
