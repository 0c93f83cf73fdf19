package io.conductor.daemon.config;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * Coverage-guided fuzzing (Jazzer) of the config parser ({@link ConfigLoader#parse}), strict and lenient: a bad
 * file must end in a {@link ConfigException} (exit 2 with a message), never in another exception.
 *
 * <p>Without {@code JAZZER_FUZZ} this replays the committed corpus (the bundled example configs among it) as a
 * regression test; with it (the {@code fuzz} Maven profile, on in CI) it is fuzzed for its {@code maxDuration}.
 */
class ConfigParserFuzzTest {

    @FuzzTest(maxDuration = "20s")
    void configFiles(byte[] bytes) {
        final String json = new String(bytes, StandardCharsets.UTF_8);
        for (final boolean lenient : new boolean[] {false, true}) {
            try {
                ConfigLoader.parse(json, "fuzz.json", lenient);
            } catch (ConfigException e) {
                if (e.getMessage() == null || e.getMessage().isBlank()) {
                    throw new AssertionError("a config error without a message", e);
                }
            }
        }
    }
}
