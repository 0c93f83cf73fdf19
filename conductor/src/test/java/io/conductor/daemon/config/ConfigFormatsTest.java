package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every entry format, every default, and both shipped example files. */
class ConfigFormatsTest {

    private static LoadedConfig parse(String json) throws ConfigException {
        return ConfigLoader.parse(json, "test.json", false);
    }

    private static SubscriptionConfig only(String json) throws ConfigException {
        List<SubscriptionConfig> subscriptions = parse(json).config().subscriptions();
        assertEquals(1, subscriptions.size());
        return subscriptions.get(0);
    }

    @Test
    void shouldReadLegacyEntryWithReplayOnPortPlusOneWhenIpAndPortAreGiven() throws Exception {
        SubscriptionConfig s = only("""
            {"http_server_port": 13333, "kvevent_instance": {"vllm-a": {"ip": "10.0.0.5", "port": 5557,
             "type": "vLLM", "modelname": "qwen", "lora_id": -1}}}""");

        assertEquals(ConfigFormat.LEGACY, s.format());
        assertEquals("vllm-a", s.name());
        assertEquals(ServiceType.VLLM, s.type());
        assertEquals("tcp://10.0.0.5:5557", s.endpoint());
        assertEquals("tcp://10.0.0.5:5558", s.replayEndpoint());
        assertEquals("qwen", s.modelName());
        assertEquals(SubscriptionConfig.NO_LORA_ID, s.loraId());
        assertTrue(s.tokenRehash(), "a legacy entry has no hash profile, so it is indexed in token-rehash mode");
    }

    @Test
    void shouldApplyEveryDefaultWhenLegacyEntryGivesOnlyRequiredFields() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"mooncake": {"ip": "127.0.0.1", "port": 50001, "type": "Mooncake",
             "modelname": "qwen2.5"}}}""");

        assertEquals(ServiceType.MOONCAKE, s.type());
        assertEquals("default", s.tenantId());
        assertEquals("mooncake", s.instanceId(), "instance_id defaults to the entry name");
        assertEquals(16, s.blockSize());
        assertEquals(0, s.dpRank());
        assertEquals("", s.loraName());
        assertEquals(SubscriptionConfig.NO_LORA_ID, s.loraId());
        assertEquals("", s.additionalSalt());
        assertEquals(SubscriptionConfig.NO_CACHE_GROUP, s.cacheGroup());
        assertNull(s.hashProfile());
        assertEquals("mooncake|default|0", s.serviceKey());
    }

    @Test
    void shouldBracketIpv6LiteralWhenLegacyEntryUsesOne() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"v6": {"ip": "::1", "port": 7000, "type": "vLLM", "modelname": "m"}}}""");

        assertEquals("tcp://[::1]:7000", s.endpoint());
        assertEquals("tcp://[::1]:7001", s.replayEndpoint());
    }

    @Test
    void shouldKeepLegacyLoraIdAndG3LoraNameWhenGiven() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"a": {"ip": "10.0.0.5", "port": 5557, "type": "vLLM", "modelname": "m",
             "lora_id": 7, "lora_name": "adapter"}}}""");

        assertEquals(7, s.loraId());
        assertEquals("adapter", s.loraName());
    }

    @Test
    void shouldUseExplicitReplayEndpointWhenLegacyEntryGivesOne() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"a": {"ip": "10.0.0.5", "port": 5557, "type": "vLLM", "modelname": "m",
             "replay_endpoint": ""}}}""");

        assertFalse(s.hasReplayEndpoint(), "an explicit empty replay_endpoint means live only");
    }

    @Test
    void shouldReadEndpointFormWithEveryFieldWhenAllAreGiven() throws Exception {
        SubscriptionConfig s = only("""
            {"http_server_port": 13333, "kvevent_instance": {"inst-a": {"endpoint": "tcp://10.0.0.5:5557",
             "replay_endpoint": "tcp://10.0.0.5:5558", "type": "vLLM", "modelname": "qwen", "lora_name": "lora-x",
             "tenant_id": "team", "instance_id": "inst-a-id", "block_size": 32, "dp_rank": 3,
             "additionalsalt": "salt"}}}""");

        assertEquals(ConfigFormat.ENDPOINT, s.format());
        assertEquals("tcp://10.0.0.5:5557", s.endpoint());
        assertEquals("tcp://10.0.0.5:5558", s.replayEndpoint());
        assertEquals("lora-x", s.loraName());
        assertEquals("team", s.tenantId());
        assertEquals("inst-a-id", s.instanceId());
        assertEquals(32, s.blockSize());
        assertEquals(3, s.dpRank());
        assertEquals("salt", s.additionalSalt());
        assertTrue(s.tokenRehash());
    }

    @Test
    void shouldApplyDefaultsWhenEndpointFormOmitsOptionalFields() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"e": {"endpoint": "tcp://host.example:5557", "type": "vLLM",
             "modelname": "m", "tenant_id": ""}}}""");

        assertEquals("", s.replayEndpoint());
        assertFalse(s.hasReplayEndpoint());
        assertEquals("default", s.tenantId(), "an empty tenant_id means the default tenant");
        assertEquals("e", s.instanceId());
        assertEquals(16, s.blockSize());
        assertEquals(0, s.dpRank());
        assertEquals(SubscriptionConfig.NO_CACHE_GROUP, s.cacheGroup());
    }

    @Test
    void shouldReadCurrentFormWithHashProfileAndCacheGroupWhenGiven() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"prefill-0-rank0": {"type": "vLLM", "endpoint": "tcp://10.0.0.5:5557",
             "replay_endpoint": "", "modelname": "Qwen/Qwen3-8B", "instance_id": "prefill-0", "tenant_id": "default",
             "lora_name": "", "block_size": 16, "dp_rank": 0, "cache_group": 0,
             "hash_profile": {"strategy": "vllm_v1", "algorithm": "sha256_cbor", "python_hash_seed": "00",
                              "index_projection": "low64_be"}}}}""");

        assertEquals(ConfigFormat.CURRENT, s.format());
        assertEquals(0, s.cacheGroup());
        assertEquals(new HashProfileConfig("vllm_v1", "sha256_cbor", "00", "low64_be"), s.hashProfile());
        assertFalse(s.tokenRehash());
        assertEquals("prefill-0|default|0", s.serviceKey());
    }

    @Test
    void shouldDefaultStrategyAlgorithmAndProjectionWhenHashProfileGivesOnlySeed() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"a": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m",
             "hash_profile": {"python_hash_seed": "0"}}}}""");

        assertEquals(new HashProfileConfig("vllm_v1", "sha256", "0", "low64_be"), s.hashProfile());
    }

    @Test
    void shouldTreatNullHashProfileAndNullCacheGroupAsAbsentWhenGiven() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"a": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m",
             "hash_profile": null, "cache_group": null}}}""");

        assertTrue(s.tokenRehash());
        assertEquals(SubscriptionConfig.NO_CACHE_GROUP, s.cacheGroup());
    }

    @Test
    void shouldAcceptSglangAndIpcEndpointWhenGiven() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"sg": {"type": "SGLang", "endpoint": "ipc:///tmp/sglang-events",
             "modelname": "m", "dp_rank": 1}}}""");

        assertEquals(ServiceType.SGLANG, s.type());
        assertEquals("ipc:///tmp/sglang-events", s.endpoint());
        assertTrue(s.tokenRehash());
    }

    @Test
    void shouldKeepTheSglangProfileWithItsFixedAlgorithmAndProjectionWhenAnSglangEntryDeclaresIt() throws Exception {
        SubscriptionConfig s = only("""
            {"kvevent_instance": {"sg": {"type": "SGLang", "endpoint": "tcp://h:5557", "modelname": "m",
             "hash_profile": {"strategy": "sglang"}}}}""");

        assertEquals(new HashProfileConfig("sglang", "sha256", "", "high64_be"), s.hashProfile());
        assertFalse(s.tokenRehash());
    }

    @Test
    void shouldReadKvRoleAndDefaultToKvBothWhenAbsent() throws Exception {
        List<SubscriptionConfig> subscriptions = parse("""
            {"kvevent_instance": {
              "d": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m", "kv_role": "kv_consumer"},
              "p": {"type": "vLLM", "endpoint": "tcp://h:2", "modelname": "m"}}}""").config().subscriptions();

        assertEquals(List.of("kv_consumer", "kv_both"), subscriptions.stream().map(SubscriptionConfig::kvRole)
            .toList());
    }

    @Test
    void shouldLetDpRanksShareOneInstanceWhenInstanceIdRepeatsWithDifferentRanks() throws Exception {
        List<SubscriptionConfig> subscriptions = parse("""
            {"kvevent_instance": {
              "p-rank0": {"type": "vLLM", "endpoint": "tcp://h:5557", "modelname": "m", "instance_id": "p",
                          "dp_rank": 0},
              "p-rank1": {"type": "vLLM", "endpoint": "tcp://h:5567", "modelname": "m", "instance_id": "p",
                          "dp_rank": 1}}}""").config().subscriptions();

        assertEquals(List.of("p-rank0", "p-rank1"), subscriptions.stream().map(SubscriptionConfig::name).toList());
        assertEquals("p", subscriptions.get(1).instanceId());
    }

    @Test
    void shouldUseDefaultPortAndNoSubscriptionsWhenFileHasNeither() throws Exception {
        LoadedConfig loaded = parse("{}");

        assertEquals(13333, loaded.config().httpPort());
        assertTrue(loaded.config().subscriptions().isEmpty());
        assertTrue(loaded.config().fileFound());
        assertTrue(loaded.warnings().isEmpty());
    }

    @Test
    void shouldAcceptExplicitPortZeroWhenGiven() throws Exception {
        assertEquals(0, parse("{\"http_server_port\": 0}").config().httpPort());
    }

    @Test
    void shouldKeepNativeStoreAndIndexBlocksAsRawJsonWhenGiven() throws Exception {
        ConductorConfig config = parse("""
            {"native_store": {"library": "/opt/libmooncake_store.so", "protocol": "tcp"},
             "index": {"max_bytes": 1048576}}""").config();

        assertNotNull(config.nativeStore());
        assertEquals("tcp", config.nativeStore().get("protocol").textValue());
        assertNotNull(config.index());
        assertEquals(1048576L, config.index().get("max_bytes").longValue());
    }

    @Test
    void shouldRefuseWithDidYouMeanWhenTopLevelKeyIsUnknown() {
        ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class,
            () -> ConfigLoader.parse("{\"kvevent_instances\": {}, \"http_port\": 1}", "c.json", false));

        assertEquals(List.of(
            "unknown top-level key \"kvevent_instances\": did you mean \"kvevent_instance\"? (known: "
                + "api, cluster, http_server_port, index, kvevent_instance, native_store, routing, snapshot)",
            "unknown top-level key \"http_port\": did you mean \"http_server_port\"? (known: "
                + "api, cluster, http_server_port, index, kvevent_instance, native_store, routing, snapshot)"), e.problems());
    }

    @Test
    void shouldWarnAndIgnoreWhenTopLevelKeyIsUnknownButLenientOrEntryFieldIsUnknown() throws Exception {
        LoadedConfig loaded = ConfigLoader.parse("""
            {"http_port": 1, "kvevent_instance": {"a": {"type": "vLLM", "endpoint": "tcp://h:1",
             "modelname": "m", "blocksize": 32, "ip": "10.0.0.1"}}}""", "test", true);

        assertEquals(List.of(
            "ignoring unknown top-level key \"http_port\": did you mean \"http_server_port\"? (known: "
                + "api, cluster, http_server_port, index, kvevent_instance, native_store, routing, snapshot)",
            "entry \"a\": ignoring unknown field \"blocksize\"",
            "entry \"a\": ignoring legacy \"ip\"/\"port\" because \"endpoint\" is given"), loaded.warnings());
        assertEquals(16, loaded.config().subscriptions().get(0).blockSize());
        assertEquals(13333, loaded.config().httpPort());
    }

    @Test
    void shouldParseReadmeConfigurationExampleWithOneEntryPerFormat() throws Exception {
        String readme = java.nio.file.Files.readString(Path.of("../README.md"));
        String section = readme.substring(readme.indexOf("\n## Configuration\n"));
        int start = section.indexOf("```json\n") + "```json\n".length();
        String json = section.substring(start, section.indexOf("```", start));

        List<SubscriptionConfig> subscriptions = parse(json).config().subscriptions();

        assertEquals(List.of(ConfigFormat.LEGACY, ConfigFormat.ENDPOINT, ConfigFormat.CURRENT),
            subscriptions.stream().map(SubscriptionConfig::format).toList());
    }

    @Test
    void shouldLoadSeedFormatExampleWhenReadFromExampleDirectory() throws Exception {
        LoadedConfig loaded = ConfigLoader.load(Path.of("../example/conductor_config.json"), false);

        ConductorConfig config = loaded.config();
        assertEquals(13333, config.httpPort());
        assertEquals(List.of("vllm-1", "mooncake"),
            config.subscriptions().stream().map(SubscriptionConfig::name).toList());
        SubscriptionConfig vllm = config.subscriptions().get(0);
        assertEquals("tcp://127.0.0.1:3337", vllm.endpoint());
        assertEquals("tcp://127.0.0.1:3338", vllm.replayEndpoint(), "the seed runs vLLM with replay on 3338");
        assertEquals(ServiceType.MOONCAKE, config.subscriptions().get(1).type());
        assertTrue(config.subscriptions().stream().allMatch(s -> s.format() == ConfigFormat.LEGACY));
        assertTrue(loaded.warnings().isEmpty(), loaded.warnings().toString());
    }

    @Test
    void shouldLoadFullExampleWithEveryFormatFeatureWhenReadFromExampleDirectory() throws Exception {
        LoadedConfig loaded = ConfigLoader.load(Path.of("../example/conductor_config.full.json"), false);

        ConductorConfig config = loaded.config();
        assertTrue(loaded.warnings().isEmpty(), loaded.warnings().toString());
        assertEquals(6, config.subscriptions().size());
        assertEquals(2, config.subscriptions().stream().filter(s -> s.instanceId().equals("prefill-0")).count());
        assertTrue(config.subscriptions().stream().anyMatch(s -> s.type() == ServiceType.SGLANG));
        assertTrue(config.subscriptions().stream().anyMatch(s -> s.type() == ServiceType.MOONCAKE));
        assertTrue(config.subscriptions().stream().anyMatch(SubscriptionConfig::tokenRehash));
        assertTrue(config.subscriptions().stream().anyMatch(s -> s.format() == ConfigFormat.CURRENT));
        assertTrue(config.subscriptions().stream().anyMatch(s -> s.format() == ConfigFormat.ENDPOINT));
        assertNotNull(config.index());
    }
}
