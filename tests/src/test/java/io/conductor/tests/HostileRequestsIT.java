package io.conductor.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

/**
 * Issue 15 points 1-3 against the real {@code bin/mooncake_conductor} with the launcher's JVM defaults (96 MB heap,
 * exit at once on OutOfMemoryError): each hostile request shape that killed the daemon before is sent, and the
 * daemon must answer it with a 4xx/503 (never die) and keep serving a normal query afterwards.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class HostileRequestsIT {
    private static final Duration START_DEADLINE = Duration.ofSeconds(90);
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final int MAX_TOKENS = 4_194_304;

    @TempDir
    Path tmp;

    /** Runs {@code test} against a fresh daemon with the launcher's defaults and one token-rehash context. */
    private void withDaemon(DaemonTest test) throws Exception {
        int port = DaemonProcess.freePort();
        Path config = tmp.resolve("c-" + port + ".json");
        Files.writeString(config, "{\"http_server_port\": " + port + ", \"kvevent_instance\": {}}");
        try (DaemonProcess daemon = DaemonProcess.start(tmp, "--config", config.toString(), "--host", "127.0.0.1")) {
            daemon.awaitHealthy(port, START_DEADLINE);
            // A token-rehash context, so that queries hash (the chain is part of a query's cost).
            HttpResponse<String> reg = register(port, "i0", 0);
            assertEquals(200, reg.statusCode(), reg.body());
            test.run(daemon, port);
            assertAlive(daemon, port, "the test");
        }
    }

    private interface DaemonTest {
        void run(DaemonProcess daemon, int port) throws Exception;
    }

    /** Distinct endpoint ports (nothing listens on them): a port probed free twice would conflict. */
    private static final java.util.concurrent.atomic.AtomicInteger ENDPOINT_PORT =
            new java.util.concurrent.atomic.AtomicInteger(41000);

    private static HttpResponse<String> register(int port, String instance, int rank) throws Exception {
        return post(port, "/register", "application/json", ("{\"endpoint\": \"tcp://127.0.0.1:"
                + ENDPOINT_PORT.incrementAndGet() + "\", \"type\": \"vLLM\", \"modelname\": \"m\", \"instance_id\": \""
                + instance + "\", \"block_size\": 16, \"dp_rank\": " + rank + "}").getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void shouldAnswerArraysDeclaringMoreElementsThanTheLimitWithoutDying() throws Exception {
        withDaemon((daemon, port) -> {
            // 1. A msgpack token_ids array of 10M elements (no registration needed): a 10 MB body that decoded to
            //    an 80 MB long[] before its size was checked.
            assertStatus(Set.of(400), post(port, "/query", "application/msgpack", tokenArrayQuery(10_000_000)),
                    daemon, port, "10M-element msgpack token_ids");
            // ... and the same as seq_hashes and as /route candidates.
            assertStatus(Set.of(400), post(port, "/query_by_hash", "application/msgpack",
                    arrayBody("seq_hashes", 10_000_000)), daemon, port, "10M-element seq_hashes");
            assertStatus(Set.of(400), post(port, "/route", "application/msgpack",
                    arrayBody("candidates", 10_000_000)), daemon, port, "10M-element candidates");
            // JSON token_ids of 3M elements (a 6 MB body whose long[] grows by doubling).
            assertStatus(Set.of(200, 413, 503), post(port, "/query", "application/json", jsonTokens(3_000_000)),
                    daemon, port, "3M-element JSON token_ids");
        });
    }

    @Test
    void shouldSurviveMaximalAndConcurrentQueriesWithinTheDocumentedLimits() throws Exception {
        withDaemon((daemon, port) -> {
            // 2. One maximal query (4,194,304 tokens, a 16 MiB bin), then three at once, then 16 concurrent
            //    400k-token queries: each is answered (200, 413 or 503), none kills the daemon.
            byte[] maxQuery = binQuery(MAX_TOKENS);
            assertStatus(Set.of(200, 413, 503), post(port, "/query", "application/msgpack", maxQuery), daemon, port,
                    "one max-size query");
            concurrently(3, () -> post(port, "/query", "application/msgpack", maxQuery), Set.of(200, 413, 503),
                    daemon, port, "3 concurrent max-size queries");
            byte[] query400k = tokenArrayQuery(400_000);
            concurrently(16, () -> post(port, "/query", "application/msgpack", query400k), Set.of(200, 503),
                    daemon, port, "16 concurrent 400k-token queries");
            assertStatus(Set.of(200), post(port, "/query", "application/msgpack", tokenArrayQuery(2048)), daemon,
                    port, "a normal query afterwards");
        });
    }

    @Test
    void shouldSurviveIdleDeclaredUploadsAndLargeChunkedBodies() throws Exception {
        withDaemon((daemon, port) -> {
            // 3. Five idle connections that each declare 16 MiB and send one byte; then three chunked 17 MiB
            //    bodies. Meanwhile and afterwards a normal query is answered.
            List<Socket> idle = new ArrayList<>();
            try {
                for (int i = 0; i < 5; i++) {
                    Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
                    OutputStream out = s.getOutputStream();
                    out.write(("POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                            + "Content-Length: 16777216\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(0x85);
                    out.flush();
                    idle.add(s);
                }
                assertStatus(Set.of(200), post(port, "/query", "application/msgpack", tokenArrayQuery(2048)), daemon,
                        port, "a normal query next to 5 idle 16 MiB uploads");
                concurrently(3, () -> chunked(port, 17 << 20), Set.of(413, 503), daemon, port,
                        "3 chunked 17 MiB bodies");
            } finally {
                for (Socket s : idle) {
                    s.close();
                }
            }
            assertStatus(Set.of(200), post(port, "/query", "application/msgpack", tokenArrayQuery(2048)), daemon,
                    port, "a normal query at the end");
        });
    }

    @Test
    void shouldHoldManyTokenRehashRegistrationsAndKeepLogLinesWhole() throws Exception {
        withDaemon((daemon, port) -> {
            // 4. Each token-rehash registration allocated a 3.43 MB table at once: the 24th killed the daemon.
            for (int rank = 1; rank <= 40; rank++) {
                HttpResponse<String> r = register(port, "legacy", rank);
                assertEquals(200, r.statusCode(), "registration " + rank + ": " + r.body());
            }
            assertAlive(daemon, port, "40 token-rehash registrations");
            // 12. An instance_id holding a newline cannot forge a log line; a loopback bind gets no exposure WARN.
            HttpResponse<String> forged = register(port, "evil\\nINFO forged line", 0);
            assertEquals(200, forged.statusCode(), forged.body());
            String output = awaitOutput(daemon, "evil\\nINFO forged line");
            assertTrue(output.lines().noneMatch(l -> l.startsWith("INFO forged line")), output);
            assertTrue(!output.contains("event=api_exposed"), output);
        });
    }

    private static String awaitOutput(DaemonProcess daemon, String text) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!daemon.output().contains(text) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        String output = daemon.output();
        assertTrue(output.contains(text), "expected " + text + " in:\n" + output);
        return output;
    }

    private interface Call {
        HttpResponse<String> call() throws Exception;
    }

    private static void concurrently(int n, Call call, Set<Integer> allowed, DaemonProcess daemon, int port,
            String what) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                futures.add(pool.submit(call::call));
            }
            java.util.Map<Integer, Integer> statuses = new java.util.TreeMap<>();
            for (Future<HttpResponse<String>> f : futures) {
                HttpResponse<String> r = f.get(5, TimeUnit.MINUTES);
                statuses.merge(r.statusCode(), 1, Integer::sum);
                assertTrue(allowed.contains(r.statusCode()), what + ": " + r.statusCode() + " " + r.body());
                if (r.statusCode() == 503) {
                    assertEquals("1", r.headers().firstValue("Retry-After").orElse(""), what + ": Retry-After");
                }
            }
            System.out.println(what + ": statuses " + statuses);
        } finally {
            pool.shutdownNow();
        }
        assertAlive(daemon, port, what);
    }

    private static void assertStatus(Set<Integer> allowed, HttpResponse<String> r, DaemonProcess daemon, int port,
            String what) throws Exception {
        assertTrue(allowed.contains(r.statusCode()), what + ": " + r.statusCode() + " " + r.body());
        assertAlive(daemon, port, what);
    }

    private static void assertAlive(DaemonProcess daemon, int port, String what) throws Exception {
        assertTrue(daemon.process().isAlive(), "daemon died after " + what + ":\n" + daemon.output());
        assertEquals(200, DaemonProcess.get(port, "/health").statusCode(), what);
    }

    private static HttpResponse<String> post(int port, String path, String type, byte[] body)
            throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofMinutes(3)).header("Content-Type", type)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
    }

    /** Sends a chunked body of {@code size} bytes over a raw socket and returns the status line's code. */
    private static HttpResponse<String> chunked(int port, int size) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(120_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                    + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = new byte[64 * 1024];
            String header = Integer.toHexString(chunk.length) + "\r\n";
            try {
                for (int sent = 0; sent < size; sent += chunk.length) {
                    out.write(header.getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } catch (IOException refusedEarly) {
                // the server may answer 413 and close before the whole body is sent
            }
            InputStream in = s.getInputStream();
            String response = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            int code = Integer.parseInt(response.substring(9, 12));
            return new RawResponse(code, response);
        }
    }

    private static byte[] tokenArrayQuery(int tokens) throws IOException {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packMapHeader(3).packString("model").packString("m").packString("block_size").packInt(16);
        p.packString("token_ids").packArrayHeader(tokens);
        for (int i = 0; i < tokens; i++) {
            p.packInt(i % 100); // positive fixints: one byte per element, the cheapest body per element
        }
        return p.toByteArray();
    }

    private static byte[] arrayBody(String field, int elements) throws IOException {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packMapHeader(3).packString("model").packString("m").packString("block_size").packInt(16);
        p.packString(field).packArrayHeader(elements);
        for (int i = 0; i < elements; i++) {
            p.packInt(1);
        }
        return p.toByteArray();
    }

    private static byte[] binQuery(int tokens) throws IOException {
        ByteBuffer bin = ByteBuffer.allocate(4 * tokens).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < tokens; i++) {
            bin.putInt(i % 128_000);
        }
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packMapHeader(3).packString("model").packString("m").packString("block_size").packInt(16);
        p.packString("token_ids").packBinaryHeader(bin.capacity()).writePayload(bin.array());
        return p.toByteArray();
    }

    private static byte[] jsonTokens(int tokens) {
        StringBuilder b = new StringBuilder(tokens * 2 + 64)
                .append("{\"model\":\"m\",\"block_size\":16,\"token_ids\":[");
        for (int i = 0; i < tokens; i++) {
            b.append(i == 0 ? "" : ",").append(i % 10);
        }
        return b.append("]}").toString().getBytes(StandardCharsets.US_ASCII);
    }

    /** A response read from a raw socket, enough for status assertions. */
    private record RawResponse(int statusCode, String body) implements HttpResponse<String> {
        @Override
        public HttpRequest request() {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.util.Optional<HttpResponse<String>> previousResponse() {
            return java.util.Optional.empty();
        }

        @Override
        public java.net.http.HttpHeaders headers() {
            java.util.Map<String, List<String>> headers = new java.util.HashMap<>();
            String head = body.contains("\r\n\r\n") ? body.substring(0, body.indexOf("\r\n\r\n")) : body;
            for (String line : head.split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    headers.computeIfAbsent(line.substring(0, colon).trim(), k -> new ArrayList<>())
                            .add(line.substring(colon + 1).trim());
                }
            }
            return java.net.http.HttpHeaders.of(headers, (a, b) -> true);
        }

        @Override
        public java.util.Optional<javax.net.ssl.SSLSession> sslSession() {
            return java.util.Optional.empty();
        }

        @Override
        public URI uri() {
            return URI.create("http://127.0.0.1/");
        }

        @Override
        public HttpClient.Version version() {
            return HttpClient.Version.HTTP_1_1;
        }
    }
}
