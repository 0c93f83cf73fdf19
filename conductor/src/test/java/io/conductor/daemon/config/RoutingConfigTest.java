package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.api.RoutingSettings;
import java.net.URI;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/** The {@code routing} block: every key parsed, defaults, and one exact error line per invalid value. */
class RoutingConfigTest {
    private static RoutingSettings settings(String routing) throws Exception {
        LoadedConfig c = ConfigLoader.parse("{\"routing\": " + routing + "}", "test.json", false);
        return RoutingSettings.parse(c.config().routing());
    }

    @Test
    void shouldReadEveryKeyAndDefaultTheRest() throws Exception {
        RoutingSettings s = settings("""
                {"policy": "longest_prefix", "prefill": {"tokens_per_second": 12000, "overhead_ms": 25},
                 "instances": {"big": {"tokens_per_second": 30000}},
                 "transfer_tokens_per_second": {"cpu": 100000}, "reservation_ttl_ms": 5000, "learn": false,
                 "clock": "request", "scrape": {"interval_ms": 250, "endpoints": {"big": "http://10.0.0.5:8000/metrics"}}}
                """);

        assertEquals("longest_prefix", s.defaultPolicy());
        assertEquals(new RoutingSettings.PrefillProfile(12_000, 25), s.prefill());
        assertEquals(new RoutingSettings.PrefillProfile(30_000, 25), s.prefillOf("big"), "overrides inherit");
        assertEquals(new RoutingSettings.PrefillProfile(12_000, 25), s.prefillOf("other"));
        assertEquals(100_000, s.cpuTokensPerSecond());
        assertEquals(25_000, s.diskTokensPerSecond());
        assertEquals(5000, s.reservationTtlMillis());
        assertFalse(s.learn());
        assertTrue(s.requestClock());
        assertEquals(250, s.scrapeIntervalMillis());
        assertEquals(URI.create("http://10.0.0.5:8000/metrics"), s.scrapeEndpoints().get("big"));

        RoutingSettings absent = RoutingSettings.parse(ConfigLoader.parse("{}", "t", false).config().routing());
        assertEquals(RoutingSettings.defaults(), absent);
        assertEquals("cost", absent.defaultPolicy());
        assertTrue(absent.scrapeEndpoints().isEmpty());
        assertFalse(absent.requestClock());
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
            Arguments.of("[]", "routing: expected an object, got []"),
            Arguments.of("{\"polcy\": 1}", "routing: unknown key \"polcy\""),
            Arguments.of("{\"policy\": \"fastest\"}",
                "routing.policy: expected \"cost\" or \"longest_prefix\", got \"fastest\""),
            Arguments.of("{\"prefill\": {\"tokens_per_second\": 0}}",
                "routing.prefill.tokens_per_second: expected a number > 0, got 0"),
            Arguments.of("{\"prefill\": {\"overhead_ms\": -1}}",
                "routing.prefill.overhead_ms: expected a number >= 0, got -1"),
            Arguments.of("{\"prefill\": {\"speed\": 1}}", "routing.prefill: unknown key \"speed\""),
            Arguments.of("{\"instances\": {\"a\": {\"tokens_per_second\": \"fast\"}}}",
                "routing.instances.a.tokens_per_second: expected a number > 0, got \"fast\""),
            Arguments.of("{\"transfer_tokens_per_second\": {\"nvme\": 1}}",
                "routing.transfer_tokens_per_second: unknown tier \"nvme\""),
            Arguments.of("{\"reservation_ttl_ms\": 0}",
                "routing.reservation_ttl_ms: expected an integer in 1..3600000, got 0"),
            Arguments.of("{\"learn\": \"yes\"}", "routing.learn: expected true or false, got \"yes\""),
            Arguments.of("{\"clock\": \"sim\"}", "routing.clock: expected \"wall\" or \"request\", got \"sim\""),
            Arguments.of("{\"scrape\": {\"interval_ms\": 10}}",
                "routing.scrape.interval_ms: expected an integer in 50..600000, got 10"),
            Arguments.of("{\"scrape\": {\"endpoints\": {\"a\": \"10.0.0.5:8000\"}}}",
                "routing.scrape.endpoints.a: expected an http(s) URL"));
    }

    @ParameterizedTest
    @MethodSource("invalid")
    void shouldRefuseAnInvalidValueWithOneLineNamingIt(String routing, String expected) {
        List<String> problems = assertThrows(ConfigException.class,
                () -> ConfigLoader.parse("{\"routing\": " + routing + "}", "test.json", false)).problems();

        assertEquals(1, problems.size(), problems.toString());
        assertTrue(problems.getFirst().startsWith(expected), problems.getFirst());
    }
}
