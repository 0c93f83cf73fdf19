package io.conductor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class LogSettingsTest {

    @Test
    void shouldMapLevelCaseInsensitivelyWhenValid() {
        assertEquals("debug", LogSettings.level("DEBUG"));
        assertEquals("info", LogSettings.level("Info"));
        assertEquals("warn", LogSettings.level("warn"));
        assertEquals("error", LogSettings.level("eRRoR"));
    }

    @Test
    void shouldUseInfoWhenUnsetOrEmpty() {
        assertEquals("info", LogSettings.level(null));
        assertEquals("info", LogSettings.level(""));
    }

    @Test
    void shouldReturnNullWhenLevelIsInvalid() {
        assertNull(LogSettings.level("verbose"));
        assertNull(LogSettings.level("TRACE"));
    }
}
