package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.service.QueryHashing;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

/**
 * Issue 15 points 1-3 in process, where the budget's accounting is observable: declared sizes are checked before
 * allocation, a request over its budget is a 413, a full global budget a 503 with {@code Retry-After}, bodies are
 * charged as they arrive (a connection that declares a large body and sends little holds little), and a huge query
 * does not leave its thread's hashing scratch grown.
 */
class MemoryAdmissionTest {
    private static byte[] msgpackTokenArray(String field, int elements) throws IOException {
        MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
        p.packMapHeader(3).packString("model").packString("m").packString("block_size").packInt(16);
        p.packString(field).packArrayHeader(elements);
        for (int i = 0; i < elements; i++) {
            p.packInt(1);
        }
        return p.toByteArray();
    }

    @Test
    void shouldRefuseAnArrayAboveTheElementLimitBeforeAllocatingIt() throws Exception {
        ApiLimits limits = new ApiLimits(1 << 20, 1000, 64, null);
        for (String field : List.of("token_ids", "seq_hashes", "candidates")) {
            try (MemoryBudget.Charge charge = MemoryBudget.unlimited().open()) {
                byte[] body = msgpackTokenArray(field, 2000);
                ApiException e = assertThrows(ApiException.class,
                        () -> RequestDecoder.decodeRootMap(WireFormat.MSGPACK, body, limits, charge));
                assertEquals(400, e.status());
                assertEquals(Reason.OUT_OF_RANGE, e.reason());
                assertEquals(field, e.field());
                assertEquals(field + " must have at most 1000 elements", e.getMessage());
                assertTrue(charge.used() < 2000 * RequestDecoder.LONG_BYTES, "refused before charging the array");
            }
        }
        StringBuilder json = new StringBuilder("{\"model\":\"m\",\"token_ids\":[");
        for (int i = 0; i < 2000; i++) {
            json.append(i == 0 ? "" : ",").append(i);
        }
        byte[] jsonBody = json.append("]}").toString().getBytes(StandardCharsets.US_ASCII);
        try (MemoryBudget.Charge charge = MemoryBudget.unlimited().open()) {
            ApiException e = assertThrows(ApiException.class,
                    () -> RequestDecoder.decodeRootMap(WireFormat.JSON, jsonBody, limits, charge));
            assertEquals(Reason.OUT_OF_RANGE, e.reason());
            assertEquals("token_ids", e.field());
        }
    }

    @Test
    void shouldAnswer413WhenOneRequestNeedsMoreThanItsBudget() throws Exception {
        try (ApiTestServer server = new ApiTestServer(ApiLimits.defaults(), new MemoryBudget(4 << 20, 1 << 20))) {
            ApiTestServer.Response r = server.send("/query", "POST", "application/msgpack",
                    msgpackTokenArray("token_ids", 200_000), Map.of());

            assertEquals(413, r.status(), r.body().toString());
            assertEquals("payload_too_large", r.map().get("reason"));
            awaitInFlight(server.budget(), 0, 0); // given back once the handler returns, just after the response
            assertEquals(1, server.budget().rejectedPerRequest());
            assertEquals(200, server.send("/query", "POST", "application/msgpack",
                    msgpackTokenArray("token_ids", 2048), Map.of()).status());
        }
    }

    @Test
    void shouldHoldOnlyWhatArrivedAndAnswer503WithRetryAfterWhenTheGlobalBudgetIsFull() throws Exception {
        MemoryBudget budget = new MemoryBudget(2_500_000, 2_000_000);
        try (ApiTestServer server = new ApiTestServer(ApiLimits.defaults(), budget);
                Socket idle = new Socket(InetAddress.getLoopbackAddress(), server.app.port());
                Socket slow = new Socket(InetAddress.getLoopbackAddress(), server.app.port())) {
            // Declares 1.9 MB (within the request budget), sends one byte: holds one small read buffer, not the
            // declared size.
            start(idle, 1_900_000).write(0x83);
            idle.getOutputStream().flush();
            awaitInFlight(budget, 1, 64 * 1024);
            // Declares 1 MB, sends 700 KB: its buffer has grown to hold what came (at most the declared size; the
            // charge keeps the peak of old and new buffer during a step).
            OutputStream out = start(slow, 1_000_000);
            out.write(new byte[700_000]);
            out.flush();
            awaitInFlight(budget, 700_000, 2_000_000 + 64 * 1024);

            // A normal query still fits next to them.
            assertEquals(200, server.send("/query", "POST", "application/msgpack",
                    msgpackTokenArray("token_ids", 2048), Map.of()).status());
            // A second large upload does not: 503 with Retry-After, not an OutOfMemoryError.
            try (Socket third = new Socket(InetAddress.getLoopbackAddress(), server.app.port())) {
                third.setSoTimeout(60_000);
                OutputStream o = start(third, 1_000_000);
                CompletableFuture<String> response = CompletableFuture.supplyAsync(() -> {
                    try {
                        return readResponse(third.getInputStream());
                    } catch (IOException e) {
                        return "no response: " + e + "; in flight " + budget.inFlightBytes();
                    }
                });
                try {
                    o.write(new byte[1_000_000]);
                    o.flush();
                } catch (IOException closedEarly) {
                    // the server answers and closes before everything is sent
                }
                String text = response.get(90, TimeUnit.SECONDS);
                assertTrue(text.startsWith("HTTP/1.1 503 "), text);
                assertTrue(text.contains("\r\nRetry-After: 1\r\n"), text);
                assertTrue(text.contains("overloaded"), text);
                assertEquals(1, budget.rejectedGlobal());
            }
        }
        awaitInFlight(budget, 0, 0); // closed connections give their memory back
    }

    @Test
    void shouldNotKeepAHugeQuerysChainOnTheThread() {
        QueryHashing hashing = new QueryHashing();
        int[] small = new int[160];
        int[] huge = new int[16 * (QueryHashing.RETAINED_BLOCKS + 1)];

        Object first = hashing.chain(null, 16, small, "", null);
        Object hugeChain = hashing.chain(null, 16, huge, "", null);
        Object again = hashing.chain(null, 16, small, "", null);

        assertSame(first, again, "the thread's chain is reused");
        assertNotSame(first, hugeChain, "a prompt above the retained size gets a one-off chain");
    }

    private static OutputStream start(Socket s, int contentLength) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write(("POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\nAccept: application/json"
                + "\r\nContent-Length: " + contentLength + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        return out;
    }

    private static void awaitInFlight(MemoryBudget budget, long atLeast, long atMost) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (budget.inFlightBytes() < atLeast && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        while (budget.inFlightBytes() > atMost && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        long held = budget.inFlightBytes();
        assertTrue(held >= atLeast && held <= atMost, "in flight " + held + " not in " + atLeast + ".." + atMost);
    }

    private static String readResponse(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        byte[] buf = new byte[4096];
        int n;
        while ((n = in.read(buf)) > 0) {
            b.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
            if (b.indexOf("overloaded") > 0 || b.indexOf("payload_too_large") > 0) {
                break;
            }
        }
        return b.toString();
    }
}
