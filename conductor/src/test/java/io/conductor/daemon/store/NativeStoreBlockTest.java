package io.conductor.daemon.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.config.ConfigException;
import io.conductor.daemon.config.ConfigLoader;
import io.conductor.nativestore.NativeStoreConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code native_store} block as the daemon reads it: from the loader's raw tree, errors naming the field. */
class NativeStoreBlockTest {
    private static NativeStoreConfig read(String configText, Map<String, String> env) throws ConfigException {
        return NativeStoreBlock.read(ConfigLoader.parse(configText, "test", false).config().nativeStore(), env::get);
    }

    @Test
    void shouldBeOffWhenTheBlockIsAbsentOrNull() throws ConfigException {
        assertFalse(read("{}", Map.of()).enabled());
        assertFalse(read("{\"native_store\": null}", Map.of()).enabled());
        assertFalse(read("{\"native_store\": {}}", Map.of()).enabled());
    }

    @Test
    void shouldReadEveryKindOfValueWhenTheBlockIsValid() throws ConfigException {
        NativeStoreConfig c = read("""
                {"native_store": {"enabled": true, "library_path": "/opt/lib.so", "model": "m",
                 "metadata_server": "P2PHANDSHAKE", "master_server_address": "10.0.0.5:50051",
                 "tp_size": 4, "pp_size": 2, "group": null, "cache_ttl_ms": 1500.0,
                 "global_segment_size": "0", "local_buffer_size": 0}}""", Map.of());

        assertTrue(c.enabled());
        assertEquals("/opt/lib.so", c.libraryPath());
        assertEquals(4, c.tpSize());
        assertEquals(2, c.ppSize());
        assertEquals(NativeStoreConfig.NO_GROUP, c.group());
        assertEquals(1500, c.cacheTtlMillis());
        assertEquals(8, c.keyLayout().rankCount());
    }

    @Test
    void shouldNameTheFieldWhenAValueIsBad() {
        ConfigException e = assertThrows(ConfigException.class, () -> read("""
                {"native_store": {"enabled": true, "model": "m", "metadata_server": "P2PHANDSHAKE",
                 "master_server_address": "h:1", "tp_size": 0}}""", Map.of()));

        assertEquals(1, e.problems().size());
        assertTrue(e.problems().getFirst().startsWith("native_store.tp_size: "), e.getMessage());
    }

    @Test
    void shouldRejectAnUnknownFieldAndAWrongType() {
        ConfigException unknown = assertThrows(ConfigException.class,
                () -> read("{\"native_store\": {\"enabeld\": true}}", Map.of()));
        ConfigException type = assertThrows(ConfigException.class,
                () -> read("{\"native_store\": {\"enabled\": \"yes\"}}", Map.of()));
        ConfigException notObject = assertThrows(ConfigException.class,
                () -> read("{\"native_store\": [1]}", Map.of()));

        assertTrue(unknown.getMessage().startsWith("native_store.enabeld: unknown field"), unknown.getMessage());
        assertTrue(type.getMessage().startsWith("native_store.enabled: "), type.getMessage());
        assertTrue(notObject.getMessage().startsWith("native_store: "), notObject.getMessage());
    }

    @Test
    void shouldRefuseAtLoadWhatTheProbeWouldRefuseWhenBatchesCannotHoldOneBlock() {
        ConfigException e = assertThrows(ConfigException.class, () -> read("""
                {"native_store": {"enabled": true, "model": "m", "metadata_server": "P2PHANDSHAKE",
                 "master_server_address": "h:1", "tp_size": 8, "max_batch_keys": 4}}""", Map.of()));

        assertTrue(e.getMessage().startsWith("native_store.max_batch_keys: "), e.getMessage());
    }

    @Test
    void shouldTakeConnectionFieldsFromMooncakeJsonWhenTheEnvironmentNamesIt(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("mooncake.json");
        Files.writeString(json, """
                {"local_hostname": "10.0.0.9", "metadata_server": "etcd://10.0.0.5:2379",
                 "master_server_address": "10.0.0.5:50051", "protocol": "rdma", "device_name": "mlx5_0"}""");

        NativeStoreConfig c = read("{\"native_store\": {\"enabled\": true, \"model\": \"m\", \"protocol\": \"tcp\"}}",
                Map.of(NativeStoreConfig.MOONCAKE_CONFIG_PATH_ENV, json.toString()));

        assertEquals("etcd://10.0.0.5:2379", c.metadataServer());
        assertEquals("10.0.0.5:50051", c.masterServerAddress());
        assertEquals("tcp", c.protocol(), "the block wins over mooncake.json");
    }
}
