package io.conductor.nativestore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parsing and validation of the native_store block and of the mooncake.json it may point to. */
class NativeStoreConfigTest {
    @TempDir
    Path dir;

    private static Map<String, Object> enabled() {
        Map<String, Object> m = new HashMap<>();
        m.put("enabled", true);
        m.put("metadata_server", "http://meta:8080/metadata");
        m.put("master_server_address", "master:50051");
        m.put("model", "m");
        return m;
    }

    @Test
    void shouldBeDisabledWithDefaultsWhenBlockIsAbsent() {
        NativeStoreConfig c = NativeStoreConfig.disabled();

        assertFalse(c.enabled());
        assertEquals("tcp", c.protocol());
        assertEquals(0, c.globalSegmentSize());
        assertEquals(0, c.localBufferSize());
        assertEquals(1, c.tpSize());
        assertEquals(0, c.group());
        assertEquals(2_000, c.cacheTtlMillis());
    }

    @Test
    void shouldReadEveryFieldWhenGiven() {
        Map<String, Object> m = enabled();
        m.putAll(Map.of("library_path", "/opt/lib/libmooncake_store.so", "local_hostname", "10.1.1.1",
                "protocol", "RDMA", "device_name", "mlx5_0,mlx5_1", "global_segment_size", "1.5gb",
                "local_buffer_size", 1048576, "cache_prefix", "prod", "tp_size", 8, "tp_replication", 2,
                "pp_size", 2));
        m.putAll(Map.of("pcp_size", 1, "dcp_size", 1, "group", 3, "cache_ttl_ms", 500, "cache_max_blocks", 10,
                "max_batch_keys", 100, "max_key_bytes", 300, "retry_initial_ms", 5, "retry_max_ms", 50,
                "health_check_interval_ms", 7));

        NativeStoreConfig c = NativeStoreConfig.fromTree(m, name -> null);

        assertEquals("/opt/lib/libmooncake_store.so", c.libraryPath());
        assertEquals("rdma", c.protocol());
        assertEquals(1_610_612_736L, c.globalSegmentSize());
        assertEquals(1_048_576L, c.localBufferSize());
        assertEquals("prod", c.cachePrefix());
        assertEquals(8, c.tpSize());
        assertEquals(2, c.tpReplication());
        assertEquals(3, c.group());
        assertEquals(300, c.maxKeyBytes());
        assertEquals(7, c.healthCheckIntervalMillis());
    }

    @Test
    void shouldTakeConnectionFieldsFromMooncakeJsonNamedByEnvironment() throws IOException {
        Path json = dir.resolve("mooncake.json");
        Files.writeString(json, """
                {"local_hostname": "192.168.0.2", "metadata_server": "etcd://meta:2379",
                 "master_server_address": "master:50051", "protocol": "rdma", "device_name": "erdma_0",
                 "global_segment_size": "4gb", "local_buffer_size": "2gb", "mode": "embedded"}
                """);
        Map<String, Object> m = new HashMap<>(Map.of("enabled", true, "model", "m", "protocol", "tcp"));

        NativeStoreConfig c = NativeStoreConfig.fromTree(m,
                name -> name.equals("MOONCAKE_CONFIG_PATH") ? json.toString() : null);

        assertEquals("192.168.0.2", c.localHostname());
        assertEquals("etcd://meta:2379", c.metadataServer());
        assertEquals("master:50051", c.masterServerAddress());
        assertEquals("tcp", c.protocol(), "the native_store block wins over mooncake.json");
        assertEquals("erdma_0", c.deviceName());
        assertEquals(0, c.globalSegmentSize(), "segment sizes never come from mooncake.json");
        assertEquals(json.toString(), c.mooncakeConfigPath());
    }

    @Test
    void shouldNameMooncakeJsonFieldWhenItIsMalformed() throws IOException {
        Path json = dir.resolve("bad.json");
        Files.writeString(json, "{\"metadata_server\": 7, \"master_server_address\": \"m:1\"}");
        Map<String, Object> m = new HashMap<>(Map.of("enabled", true, "model", "m",
                "mooncake_config_path", json.toString()));

        NativeStoreConfigException e = assertThrows(NativeStoreConfigException.class,
                () -> NativeStoreConfig.fromTree(m, name -> null));

        assertEquals("native_store.mooncake_config_path (" + json + ").metadata_server", e.field());
        assertTrue(e.getMessage().contains("must be a string, was 7"), e.getMessage());
    }

    @Test
    void shouldRejectInvalidJsonFileWithItsPath() throws IOException {
        Path json = dir.resolve("broken.json");
        Files.writeString(json, "{\"metadata_server\": ");
        Map<String, Object> m = new HashMap<>(Map.of("enabled", true, "model", "m",
                "mooncake_config_path", json.toString()));

        NativeStoreConfigException e = assertThrows(NativeStoreConfigException.class,
                () -> NativeStoreConfig.fromTree(m, name -> null));

        assertTrue(e.getMessage().contains(json.toString()) && e.getMessage().contains("invalid JSON"),
                e.getMessage());
    }

    @Test
    void shouldNameFieldWhenValueIsBad() {
        List<Object[]> cases = List.of(
                new Object[] {"tp_size", 0, "native_store.tp_size", "must be >= 1, was 0"},
                new Object[] {"protocol", "efa", "native_store.protocol", "must be \"tcp\" or \"rdma\""},
                new Object[] {"tp_replication", 3, "native_store.tp_replication", "must divide tp_size 1"},
                new Object[] {"model", "a@b", "native_store.model", "must not contain '@'"},
                new Object[] {"global_segment_size", "4 parsecs", "native_store.global_segment_size",
                    "must be a byte size"},
                new Object[] {"enabled", "yes", "native_store.enabled", "must be true or false"},
                new Object[] {"cache_ttl_ms", 1.5, "native_store.cache_ttl_ms", "must be an integer"},
                new Object[] {"modle", "m", "native_store.modle", "unknown field"},
                new Object[] {"metadata_server", "", "native_store.metadata_server", "is required"});
        for (Object[] c : cases) {
            Map<String, Object> m = enabled();
            m.put((String) c[0], c[1]);

            NativeStoreConfigException e = assertThrows(NativeStoreConfigException.class,
                    () -> NativeStoreConfig.fromTree(m, name -> null), (String) c[0]);

            assertEquals(c[2], e.field(), e.getMessage());
            assertTrue(e.getMessage().contains((String) c[3]), e.getMessage());
        }
    }

    @Test
    void shouldRejectBlockThatIsNotAnObject() {
        NativeStoreConfigException e = assertThrows(NativeStoreConfigException.class,
                () -> NativeStoreConfig.fromTree(MooncakeJsonFile.tree(List.of(1)), name -> null));

        assertEquals("native_store", e.field());
    }

    @Test
    void shouldOmitGroupWhenGroupIsNullOrNone() {
        Map<String, Object> m = enabled();
        m.put("group", null);
        Map<String, Object> n = enabled();
        n.put("group", "none");

        assertEquals(NativeStoreConfig.NO_GROUP, NativeStoreConfig.fromTree(m, name -> null).group());
        assertEquals(NativeStoreConfig.NO_GROUP, NativeStoreConfig.fromTree(n, name -> null).group());
    }

    @Test
    void shouldParseByteSizesLikeVllm() {
        assertEquals(0, ConfigTree.parseSize("f", "0"));
        assertEquals(4L << 30, ConfigTree.parseSize("f", "4gb"));
        assertEquals(512L << 20, ConfigTree.parseSize("f", " 512 MB "));
        assertEquals(2_147_483_648L, ConfigTree.parseSize("f", "2147483648"));
        assertEquals(1536, ConfigTree.parseSize("f", "1.5kb"));
        assertThrows(NativeStoreConfigException.class, () -> ConfigTree.parseSize("f", "-1gb"));
    }

    @Test
    void shouldNotRequireConnectionFieldsWhenDisabled() {
        NativeStoreConfig c = NativeStoreConfig.fromTree(Map.of("enabled", false, "tp_size", 4), name -> null);

        assertFalse(c.enabled());
        assertEquals(4, c.tpSize());
    }
}
