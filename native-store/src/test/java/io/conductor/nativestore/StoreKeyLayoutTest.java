package io.conductor.nativestore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** vLLM store-connector key layout: the exact key text, rank namespaces for tp/pp/pcp/dcp, and key parsing. */
class StoreKeyLayoutTest {
    private static final byte[] DIGEST = HexFormat.of().parseHex(
            "f5a5fd42d16a2030aa00bb11cc22dd33ee44ff5566778899aabbccddeeff0011");

    private static NativeStoreConfig config(Map<String, Object> fields) {
        Map<String, Object> m = new HashMap<>(Map.of("enabled", true, "metadata_server", "P2PHANDSHAKE",
                "master_server_address", "m:50051", "model", "Qwen2.5-7B-Instruct"));
        m.putAll(fields);
        return NativeStoreConfig.fromTree(m, name -> null);
    }

    @Test
    void shouldWriteConnectorKeyWithLowerCaseFullDigestHex() {
        StoreKeyLayout layout = config(Map.of()).keyLayout();

        assertEquals(1, layout.rankCount());
        assertEquals("Qwen2.5-7B-Instruct@tp_rank:0@pcp0@dcp0@pp_rank:0@group:0@"
                + "f5a5fd42d16a2030aa00bb11cc22dd33ee44ff5566778899aabbccddeeff0011", layout.key(0, DIGEST));
    }

    @Test
    void shouldAddCachePrefixAndOmitGroupWhenConfigured() {
        Map<String, Object> f = new HashMap<>(Map.of("cache_prefix", "deployment-a"));
        f.put("group", null);

        StoreKeyLayout layout = config(f).keyLayout();

        assertEquals("deployment-a@Qwen2.5-7B-Instruct@tp_rank:0@pcp0@dcp0@pp_rank:0@"
                + "f5a5fd42d16a2030aa00bb11cc22dd33ee44ff5566778899aabbccddeeff0011", layout.key(0, DIGEST));
    }

    @Test
    void shouldListEveryTpAndPpRankWhenBothAboveOne() {
        StoreKeyLayout layout = config(Map.of("tp_size", 2, "pp_size", 2, "group", 1)).keyLayout();

        assertEquals(List.of(
                "Qwen2.5-7B-Instruct@tp_rank:0@pcp0@dcp0@pp_rank:0@group:1@",
                "Qwen2.5-7B-Instruct@tp_rank:0@pcp0@dcp0@pp_rank:1@group:1@",
                "Qwen2.5-7B-Instruct@tp_rank:1@pcp0@dcp0@pp_rank:0@group:1@",
                "Qwen2.5-7B-Instruct@tp_rank:1@pcp0@dcp0@pp_rank:1@group:1@"), layout.prefixes());
    }

    @Test
    void shouldShareShardsWhenTpRanksReplicateKv() {
        // GQA with 2 KV heads on TP 8: tp_replication 4, so only shards 0 and 1 are written.
        StoreKeyLayout layout = config(Map.of("tp_size", 8, "tp_replication", 4)).keyLayout();

        assertEquals(List.of("Qwen2.5-7B-Instruct@tp_rank:0@pcp0@dcp0@pp_rank:0@group:0@",
                "Qwen2.5-7B-Instruct@tp_rank:1@pcp0@dcp0@pp_rank:0@group:0@"), layout.prefixes());
    }

    @Test
    void shouldUseTpModuloDcpWhenDcpAboveOne() {
        StoreKeyLayout layout = config(Map.of("tp_size", 4, "dcp_size", 2, "pcp_size", 2)).keyLayout();

        assertEquals(8, layout.rankCount());
        assertEquals("Qwen2.5-7B-Instruct@tp_rank:3@pcp0@dcp1@pp_rank:0@group:0@", layout.prefixes().get(3));
        assertEquals("Qwen2.5-7B-Instruct@tp_rank:2@pcp1@dcp0@pp_rank:0@group:0@", layout.prefixes().get(6));
    }

    @Test
    void shouldRejectLayoutWhoseKeysExceedMaxKeyBytes() {
        NativeStoreConfigException e = assertThrows(NativeStoreConfigException.class,
                () -> config(Map.of("max_key_bytes", 100)).keyLayout());

        assertEquals("native_store.max_key_bytes", e.field());
    }

    @Test
    void shouldParseConnectorKeyFromEventsSpecExample() {
        StoreKeyLayout.ParsedKey k = StoreKeyLayout.parse(
                "deployment-a@model-a@tp_rank:2@pcp1@dcp0@pp_rank:3@group:4@0123456789abcdef000000000000002a");

        assertEquals(new StoreKeyLayout.ParsedKey("deployment-a", "model-a", 42L), k);
    }

    @Test
    void shouldRoundTripOwnKeysThroughParse() {
        StoreKeyLayout layout = config(Map.of("tp_size", 2)).keyLayout();

        StoreKeyLayout.ParsedKey k = StoreKeyLayout.parse(layout.key(1, DIGEST));

        assertEquals(new StoreKeyLayout.ParsedKey("", "Qwen2.5-7B-Instruct", 0xaabbccddeeff0011L), k);
        assertEquals(DigestHex.low64(DIGEST, 0, 32), k.low64());
    }

    @Test
    void shouldNotParseKeysOfOtherProducers() {
        assertNull(StoreKeyLayout.parse("12345"));
        assertNull(StoreKeyLayout.parse("0xdeadbeef"));
        assertNull(StoreKeyLayout.parse("abcdef0123456789abcdef0123456789_0_k"));
        assertNull(StoreKeyLayout.parse("m@tp_rank:0@pcp0@dcp0@pp_rank:0@group:0@nothex-nothex-nothex"));
    }
}
