package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.HashProfile;
import io.conductor.nativestore.NativeStoreConfig;
import io.conductor.nativestore.StoreDouble;
import io.conductor.nativestore.StoreKeyLayout;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store probe in the real {@code mooncake_conductor} process: a bad {@code native_store} field exits 2 naming
 * it; the gcc-built C double of {@code store_c.h}, loaded by the process through {@code library_path} and answering
 * the keys of {@code STORE_DOUBLE_KEYS_FILE}, gives {@code store} hits in {@code /query} and {@code /route}
 * (tp_size 2: a block counts only with both ranks' keys); a missing library leaves the daemon serving, with
 * {@code /ready} and {@code /metrics} saying the probe is down and why.
 */
class NativeStoreProcessIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final String MODEL = "Qwen/Qwen2.5-7B-Instruct";
    private static final int BLOCK = 16;
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path tmp;

    private static boolean gccPresent() {
        try {
            Process p = new ProcessBuilder("gcc", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String nativeStore(String library, int tpSize) {
        return """
                {"enabled": true, "library_path": "%s", "local_hostname": "127.0.0.1",
                 "metadata_server": "P2PHANDSHAKE", "master_server_address": "127.0.0.1:50051",
                 "model": "Qwen2.5-7B-Instruct", "tp_size": %d, "retry_initial_ms": 100, "retry_max_ms": 500}
                """.formatted(library, tpSize);
    }

    /** A config with one static vLLM entry (its publisher never sends: every hit comes from the store). */
    private Path config(int port, String nativeStore) throws IOException {
        Path file = tmp.resolve("conductor.json");
        Files.writeString(file, """
                {"http_server_port": %d, "native_store": %s,
                 "kvevent_instance": {"e0": {"type": "vLLM", "endpoint": "tcp://127.0.0.1:%d", "replay_endpoint": "",
                   "modelname": "%s", "instance_id": "e0", "tenant_id": "default", "lora_name": "",
                   "block_size": %d, "dp_rank": 0,
                   "hash_profile": {"strategy": "vllm_v1", "algorithm": "sha256_cbor", "python_hash_seed": "0",
                                    "index_projection": "low64_be"}}}}
                """.formatted(port, nativeStore, DaemonProcess.freePort(), MODEL, BLOCK));
        return file;
    }

    private static int[] prompt(int blocks) {
        int[] tokens = new int[blocks * BLOCK];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 17 * i + 3;
        }
        return tokens;
    }

    private static String queryBody(int[] tokens) {
        StringBuilder ids = new StringBuilder();
        for (int t : tokens) {
            ids.append(ids.isEmpty() ? "" : ",").append(t);
        }
        return "{\"model\": \"" + MODEL + "\", \"block_size\": " + BLOCK + ", \"token_ids\": [" + ids + "]}";
    }

    private static JsonNode post(int port, String path, String body) throws IOException, InterruptedException {
        HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), path + ": " + r.body());
        return JSON.readTree(r.body());
    }

    private static String storeDetail(int port) throws IOException, InterruptedException {
        for (JsonNode check : JSON.readTree(DaemonProcess.get(port, "/ready").body()).path("checks")) {
            if (check.path("name").asText().equals("store_probe")) {
                return check.path("detail").asText();
            }
        }
        return "";
    }

    private static void awaitDetail(DaemonProcess daemon, int port, String prefix) throws Exception {
        long end = System.nanoTime() + DEADLINE.toNanos();
        while (!storeDetail(port).startsWith(prefix)) {
            if (System.nanoTime() > end) {
                throw new AssertionError("store_probe never read '" + prefix + "': " + storeDetail(port) + "\n"
                        + daemon.output());
            }
            Thread.sleep(100);
        }
    }

    @Test
    void shouldExitTwoNamingTheFieldWhenTheNativeStoreBlockIsInvalid() throws Exception {
        Path file = config(DaemonProcess.freePort(), nativeStore("/opt/libmooncake_store.so", 0));
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", file.toString())) {

            int status = daemon.awaitExit(DEADLINE);

            String output = daemon.output();
            assertEquals(2, status, output);
            assertTrue(output.contains("native_store.tp_size: must be >= 1, was 0"), output);
        }
    }

    @Test
    void shouldReportTheDoublesKeysAsStoreHitsWhenTheProcessLoadsTheLibrary() throws Exception {
        Assumptions.assumeTrue(gccPresent(), "gcc not found on PATH: the store_c.h test double cannot be built");
        Path library = StoreDouble.compileInto(tmp);
        int[] tokens = prompt(6);
        BlockHashChain chain = new BlockHashChain().reset(HashProfile.of(HashAlgorithm.SHA256_CBOR, "0"), BLOCK,
                tokens, HashExtras.NONE);
        StoreKeyLayout layout = NativeStoreConfig.fromTree(
                JSON.readValue(nativeStore(library.toString(), 2), Map.class), name -> null).keyLayout();
        List<String> keys = new ArrayList<>();
        for (int b = 0; b < 4; b++) {
            byte[] digest = new byte[32];
            chain.copyDigest(b, digest, 0);
            keys.add(layout.key(0, digest));
            if (b < 3) {
                keys.add(layout.key(1, digest)); // block 3: tp rank 1's object is missing, so it is not loadable
            }
        }
        Path keysFile = tmp.resolve("keys.txt");
        Files.write(keysFile, keys);
        int port = DaemonProcess.freePort();
        Path file = config(port, nativeStore(library.toString(), 2));
        try (DaemonProcess daemon = DaemonProcess.start(tmp, Map.of("STORE_DOUBLE_KEYS_FILE", keysFile.toString()),
                "--config", file.toString())) {
            daemon.awaitHealthy(port, DEADLINE);
            awaitDetail(daemon, port, "store probe up");

            JsonNode query = post(port, "/query", queryBody(tokens)).at("/instances/e0");
            JsonNode route = post(port, "/route", queryBody(tokens));

            assertEquals(3 * BLOCK, query.path("store").asInt(), query.toString());
            assertEquals(3 * BLOCK, query.path("longest_matched").asInt());
            assertEquals(0, query.path("disk").asInt());
            assertEquals("e0", route.path("instance_id").asText(), route.toString());
            assertEquals(3 * BLOCK, route.path("store").asInt());
            assertEquals(3 * BLOCK, route.path("longest_matched").asInt());
        }
    }

    @Test
    void shouldServeAndSayWhyTheProbeIsDownWhenTheLibraryIsMissing() throws Exception {
        String missing = tmp.resolve("absent").resolve("libmooncake_store.so").toString();
        int port = DaemonProcess.freePort();
        Path file = config(port, nativeStore(missing, 1));
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", file.toString())) {
            daemon.awaitHealthy(port, DEADLINE);
            awaitDetail(daemon, port, "store probe down");

            HttpResponse<String> ready = DaemonProcess.get(port, "/ready");
            String metrics = DaemonProcess.get(port, "/metrics").body();
            JsonNode query = post(port, "/query", queryBody(prompt(2))).at("/instances/e0");

            assertEquals(503, ready.statusCode(), "a configured probe that is down makes it unready: " + ready.body());
            assertTrue(storeDetail(port).contains(missing), ready.body());
            assertTrue(metrics.contains("conductor_store_probe_up 0.0"), metrics);
            assertTrue(metrics.contains("conductor_store_probe_state{state=\"down\"} 1.0"), metrics);
            assertFalse(query.has("store"), query.toString());
            assertEquals(0, query.path("longest_matched").asInt());
        }
    }
}
