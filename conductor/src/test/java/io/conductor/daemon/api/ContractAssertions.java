package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;

/** Assertions on the error envelope {@code {error, reason?, field?, index?}}. */
final class ContractAssertions {
    private ContractAssertions() {
    }

    static void assertError(ApiTestServer.Response r, int status, String error, String reason, String field) {
        assertError(r, status, error, reason, field, -1);
    }

    static void assertError(ApiTestServer.Response r, int status, String error, String reason, String field,
            int index) {
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("error", error);
        if (reason != null) {
            expected.put("reason", reason);
        }
        if (field != null) {
            expected.put("field", field);
        }
        if (index >= 0) {
            expected.put("index", (long) index);
        }
        assertEquals(status, r.status(), () -> "body: " + r.body());
        assertEquals(expected, r.body());
    }
}
