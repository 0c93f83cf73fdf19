package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.service.ConductorApiExtension;
import io.conductor.index.prefix.CacheGroup;
import io.conductor.index.prefix.GroupLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The {@code kv_cache_groups} field of a config entry: parsed into the registration, or one clear error line. */
class HybridGroupsConfigTest {
    private static String entry(String groups) {
        return "{\"kvevent_instance\": {\"g\": {\"type\": \"vLLM\", \"endpoint\": \"tcp://h:1\", \"modelname\": "
            + "\"gemma\", \"block_size\": 16, \"kv_cache_groups\": " + groups + "}}}";
    }

    private static SubscriptionConfig only(String json) throws ConfigException {
        return ConfigLoader.parse(json, "test.json", false).config().subscriptions().getFirst();
    }

    private static List<String> problems(String json) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.parse(json, "test.json", false)).problems();
    }

    @Test
    void shouldCarryTheGroupLayoutIntoTheRegistration() throws Exception {
        SubscriptionConfig c = only(entry("[{\"kind\": \"full_attention\"}, {\"kind\": \"sliding_window\", "
            + "\"sliding_window\": 1024}, {\"kind\": \"mamba\", \"block_size\": 64}]"));
        GroupLayout expected = new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
            new CacheGroup.SlidingWindow(16, 1024), new CacheGroup.Mamba(64)));
        assertEquals(expected, c.kvCacheGroups());
        assertEquals(ConfigFormat.CURRENT, c.format());
        ServiceRegistration r = ConductorApiExtension.toRegistration(c);
        assertEquals(expected, r.kvCacheGroups());
        assertEquals(64, r.kvCacheGroups().hitAlignmentTokens());
    }

    @Test
    void shouldTreatOneFullAttentionGroupAsAPlainModel() throws Exception {
        assertNull(only(entry("[{\"kind\": \"full_attention\"}]")).kvCacheGroups());
        assertNull(only(entry("null")).kvCacheGroups());
    }

    @Test
    void shouldNameTheGroupAndTheProblemWhenAGroupIsInvalid() {
        List<String> p = problems(entry("[{\"kind\": \"full_attention\"}, {\"kind\": \"sliding_window\"}]"));
        assertEquals(1, p.size(), p.toString());
        assertTrue(p.getFirst().contains("kv_cache_groups[1]: expected a valid group (a sliding_window group needs "
            + "its window in tokens)"), p.toString());
        p = problems(entry("[{\"kind\": \"full_attention\", \"block_size\": 24}]"));
        assertTrue(p.getFirst().contains("is not a multiple of the block size 16"), p.toString());
        p = problems(entry("[{\"kind\": \"cross_attention\"}]"));
        assertTrue(p.getFirst().contains("unsupported group kind \"cross_attention\""), p.toString());
        p = problems(entry("[{\"kind\": \"mamba\", \"window\": 3}]"));
        assertTrue(p.getFirst().contains("kv_cache_groups[0].window: expected no such key"), p.toString());
        p = problems(entry("[{\"kind\": \"full_attention\"}, {\"kind\": \"mamba\"}]")
            .replace("\"vLLM\"", "\"SGLang\""));
        assertTrue(p.getFirst().contains("kv_cache_groups: expected no kv_cache_groups for a SGLang entry"),
            p.toString());
        p = problems(entry("[]"));
        assertTrue(p.getFirst().contains("kv_cache_groups: expected an array of 1 to 64 groups"), p.toString());
    }
}
