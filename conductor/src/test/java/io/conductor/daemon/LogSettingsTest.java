package io.conductor.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class LogSettingsTest {
    @Test
    void shouldMapLevelCaseInsensitivelyWhenValid() {
        assertEquals("DEBUG", LogSettings.level("DEBUG"));
        assertEquals("INFO", LogSettings.level("Info"));
        assertEquals("WARN", LogSettings.level("warn"));
        assertEquals("ERROR", LogSettings.level("eRRoR"));
    }

    @Test
    void shouldUseInfoAndTextWhenUnsetOrEmpty() {
        assertEquals("INFO", LogSettings.level(null));
        assertEquals("INFO", LogSettings.level(""));
        assertEquals("text", LogSettings.format(null));
        assertEquals("text", LogSettings.format(""));
    }

    @Test
    void shouldMapFormatCaseInsensitivelyWhenValid() {
        assertEquals("json", LogSettings.format("JSON"));
        assertEquals("text", LogSettings.format("Text"));
    }

    @Test
    void shouldReturnNullWhenLevelOrFormatIsInvalid() {
        assertNull(LogSettings.level("verbose"));
        assertNull(LogSettings.level("TRACE"));
        assertNull(LogSettings.format("logfmt"));
    }
}
