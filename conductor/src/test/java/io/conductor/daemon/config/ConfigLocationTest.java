package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ConfigLocationTest {

    @Test
    void shouldPreferFlagWhenFlagAndEnvironmentAreBothSet() {
        assertEquals(new ConfigLocation(Path.of("/a.json"), ConfigLocation.Origin.FLAG),
            ConfigLocation.resolve("/a.json", "/b.json", "/home/u"));
    }

    @Test
    void shouldUseEnvironmentWhenNoFlagIsGiven() {
        assertEquals(new ConfigLocation(Path.of("/b.json"), ConfigLocation.Origin.ENVIRONMENT),
            ConfigLocation.resolve(null, "/b.json", "/home/u"));
    }

    @Test
    void shouldUseDefaultUnderHomeWhenEnvironmentIsEmpty() {
        assertEquals(new ConfigLocation(Path.of("/home/u/.mooncake/conductor_config.json"),
            ConfigLocation.Origin.DEFAULT), ConfigLocation.resolve(null, "", "/home/u"));
    }

    @Test
    void shouldUseLiteralTildePathWhenHomeIsUnsetOrEmpty() {
        Path literal = Path.of("~/.mooncake/conductor_config.json");

        assertEquals(literal, ConfigLocation.resolve(null, null, null).path());
        assertEquals(literal, ConfigLocation.resolve(null, null, "").path());
    }
}
