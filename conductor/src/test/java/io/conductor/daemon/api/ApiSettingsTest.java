package io.conductor.daemon.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The {@code api} configuration block, the exposure warning and log-value escaping (issue 15 points 2 and 12). */
class ApiSettingsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long HEAP = 96L << 20;

    @Test
    void shouldSizeTheBudgetsFromTheHeapWhenTheBlockIsAbsent() {
        ApiSettings s = ApiSettings.parse(null, ApiLimits.defaults(), HEAP);

        assertEquals(HEAP / 4, s.budget().globalBytes());
        assertEquals(HEAP / 4, s.budget().perRequestBytes());
        assertEquals(ApiLimits.DEFAULT_MAX_BODY_BYTES, s.limits().maxBodyBytes());
        assertFalse(s.endpoints().allowWildcardBind());
        assertTrue(s.endpoints().allowlist().isEmpty());
    }

    @Test
    void shouldReadEveryKeyWhenGiven() throws Exception {
        ApiSettings s = ApiSettings.parse(JSON.readTree("{\"max_body_bytes\": 1048576, \"memory_budget_bytes\": "
                + "8000000, \"request_memory_bytes\": 2000000, \"allow_wildcard_bind\": true, "
                + "\"endpoint_allowlist\": [\"10.0.0.0/8\", \"*.svc\"]}"), ApiLimits.defaults().withAdminApiKey("k"),
                HEAP);

        assertEquals(1048576, s.limits().maxBodyBytes());
        assertEquals("k", s.limits().adminApiKey());
        assertEquals(8000000, s.budget().globalBytes());
        assertEquals(2000000, s.budget().perRequestBytes());
        assertTrue(s.endpoints().allowWildcardBind());
        assertEquals(List.of("10.0.0.0/8", "*.svc"), s.endpoints().allowlist());
    }

    @Test
    void shouldNameTheKeyWhenAValueIsInvalid() {
        for (String[] c : new String[][] {
            {"{\"max_body_bytes\": 0}", "api.max_body_bytes"},
            {"{\"memory_budget_bytes\": \"1\"}", "api.memory_budget_bytes"},
            {"{\"memory_budget_bytes\": 10, \"request_memory_bytes\": 11}", "api.request_memory_bytes"},
            {"{\"allow_wildcard_bind\": 1}", "api.allow_wildcard_bind"},
            {"{\"endpoint_allowlist\": \"10.0.0.0/8\"}", "api.endpoint_allowlist"},
            {"{\"endpoint_allowlist\": [\"10.0.0.0/40\"]}", "api.endpoint_allowlist"},
            {"{\"endpoint_allowlist\": [7]}", "api.endpoint_allowlist"},
            {"{\"max_body\": 1}", "api.max_body"},
            {"[]", "api:"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ApiSettings.parse(JSON.readTree(c[0]), ApiLimits.defaults(), HEAP), c[0]);
            assertTrue(e.getMessage().startsWith(c[1]), c[0] + " -> " + e.getMessage());
        }
    }

    @Test
    void shouldWarnOnlyWhenBoundBeyondLoopbackWithoutAnAdminKey() {
        assertNotNull(ApiSettings.exposureWarning("0.0.0.0", null));
        assertNull(ApiSettings.exposureWarning("0.0.0.0", "key"));
        assertNull(ApiSettings.exposureWarning("127.0.0.1", null));
        assertNull(ApiSettings.exposureWarning("::1", null));
        assertNull(ApiSettings.exposureWarning("localhost", null));
    }

    @Test
    void shouldEscapeControlCharactersWhenTextIsLogged() {
        assertEquals("evil\\n2026-01-01 INFO forged", LogText.escape("evil\n2026-01-01 INFO forged"));
        assertEquals("a\\r\\t\\u001b[31m\\u0000\\u0085\\\\\\\"", LogText.escape("a\r\t\u001b[31m\u0000\u0085\\\""));
        String plain = "prefill-0";
        assertTrue(plain == LogText.escape(plain), "no copy when nothing needs escaping");
        assertEquals("\"x\\ny\"", LogText.quote("x\ny"));
        assertEquals("evil\\nINFO forged|default|0",
                new io.conductor.events.StreamKey("evil\nINFO forged", "default", 0).toString());
    }
}
