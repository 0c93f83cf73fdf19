package io.conductor.index.hash;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StrictUtf8Test {

    @ParameterizedTest
    @ValueSource(strings = {"", "41", "c2a2", "e282ac", "f0908d88", "efbfbf", "f48fbfbf", "ed9fbf", "ee8080",
        "e6a8a1e59e8b2de98082e9858de599a8"})
    void shouldAcceptWhenBytesAreWellFormed(String hex) {
        final byte[] bytes = HexFormat.of().parseHex(hex);

        assertTrue(StrictUtf8.isValid(bytes, 0, bytes.length));
    }

    @ParameterizedTest
    @ValueSource(strings = {"80", "c0af", "c1bf", "e080af", "eda080", "edbfbf", "f08080af", "f4908080", "f5808080",
        "ff", "c2", "e282", "f0908d", "41c2"})
    void shouldRejectWhenBytesAreOverlongSurrogateTooLargeOrTruncated(String hex) {
        final byte[] bytes = HexFormat.of().parseHex(hex);

        assertFalse(StrictUtf8.isValid(bytes, 0, bytes.length));
    }

    @Test
    void shouldAgreeWithStrictJdkDecoderWhenBytesAreRandom() {
        final SplittableRandom random = new SplittableRandom(8);
        for (int run = 0; run < 20_000; run++) {
            final byte[] bytes = new byte[random.nextInt(6)];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) (random.nextBoolean() ? 0x80 + random.nextInt(0x80) : random.nextInt(256));
            }
            boolean jdk = true;
            try {
                StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes));
            } catch (CharacterCodingException e) {
                jdk = false;
            }
            assertEquals(jdk, StrictUtf8.isValid(bytes, 0, bytes.length), HexFormat.of().formatHex(bytes));
        }
    }

    @Test
    void shouldRejectExtrasWhenTextHasUnpairedSurrogate() {
        final IllegalArgumentException lora = assertThrows(IllegalArgumentException.class,
                () -> HashExtras.of("a\uDC00", null));
        final IllegalArgumentException salt = assertThrows(IllegalArgumentException.class,
                () -> HashExtras.ofUtf8(new byte[0], HexFormat.of().parseHex("eda080")));

        assertEquals("lora_name must contain valid UTF-8", lora.getMessage());
        assertEquals("cache_salt must contain valid UTF-8", salt.getMessage());
    }

    @Test
    void shouldTreatEmptyTextAsAbsentWhenBuildingExtras() {
        assertTrue(HashExtras.of("", null).isEmpty());
        assertTrue(HashExtras.of("", "").isEmpty());
        assertEquals(HashExtras.of("模型", "🚀"), HashExtras.ofUtf8("模型".getBytes(StandardCharsets.UTF_8),
                "🚀".getBytes(StandardCharsets.UTF_8)));
    }
}
