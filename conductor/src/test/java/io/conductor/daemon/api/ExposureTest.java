package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 15 point 12 on the real HTTP server: OPTIONS, TRACE and unknown methods on known paths answer 405 with the
 * structured body, as documented (no method list, no echo of the request).
 */
class ExposureTest {
    private static ApiTestServer server;

    @BeforeAll
    static void start() {
        server = new ApiTestServer();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** Sends a request line over a raw socket (clients refuse some methods) and returns the whole response. */
    static String raw(int port, String method, String path) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write((method + " " + path + " HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                    + "X-Probe: secret-header\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"OPTIONS", "TRACE", "FOO", "PROPFIND", "PATCH"})
    void shouldAnswer405WhenTheMethodIsOptionsTraceOrUnknown(String method) throws Exception {
        for (String path : new String[] {"/register", "/unregister", "/query", "/query_by_hash", "/route", "/cache",
            "/feedback", "/services", "/global_view"}) {
            String response = raw(server.app.port(), method, path);

            assertTrue(response.startsWith("HTTP/1.1 405 "), method + " " + path + ": " + response);
            assertTrue(response.contains("{\"error\":\"Method not allowed\"}"), method + " " + path + ": " + response);
            assertTrue(!response.contains("secret-header"), "TRACE must not echo the request: " + response);
        }
    }
}
