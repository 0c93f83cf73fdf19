package io.conductor.daemon.store;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which contexts' models the probe's {@code model} stands for. */
class StoreTierTest {
    @Test
    void shouldMatchTheWholeNameOrItsLastPathSegmentWhenComparingModels() {
        assertTrue(StoreTier.modelMatches("Qwen/Qwen2.5-7B-Instruct", "Qwen2.5-7B-Instruct"));
        assertTrue(StoreTier.modelMatches("Qwen2.5-7B-Instruct", "Qwen2.5-7B-Instruct"));
        assertTrue(StoreTier.modelMatches("/models/qwen", "qwen"));
        assertFalse(StoreTier.modelMatches("Qwen/Qwen2.5-7B", "Qwen2.5-7B-Instruct"));
        assertFalse(StoreTier.modelMatches("Qwen/Qwen2.5-7B-Instruct-AWQ", "Qwen2.5-7B-Instruct"));
        assertFalse(StoreTier.modelMatches("Qwen2.5-7B-Instruct/", "Qwen2.5-7B-Instruct"));
        assertFalse(StoreTier.modelMatches("other", "Qwen2.5-7B-Instruct"));
    }
}
