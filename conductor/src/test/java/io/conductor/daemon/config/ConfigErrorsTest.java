package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every invalid field's exact error line, file-level errors (malformed JSON with line and column, unreadable and
 * missing files), and --lenient.
 */
class ConfigErrorsTest {
    private static final JsonMapper JSON = new JsonMapper();
    private static final String VALID_ENTRY = "{\"type\": \"vLLM\", \"endpoint\": \"tcp://h:1\", \"modelname\": \"m\"}";
    private static final String LEGACY_ENTRY =
        "{\"type\": \"vLLM\", \"ip\": \"10.0.0.5\", \"port\": 5557, \"modelname\": \"m\"}";

    /** A one-entry file: {@code base} with {@code override}'s keys replacing its own and {@code remove} dropped. */
    private static String file(String base, String override, String remove) throws Exception {
        ObjectNode entry = (ObjectNode) JSON.readTree(base);
        entry.setAll((ObjectNode) JSON.readTree(override));
        if (!remove.isEmpty()) {
            entry.remove(remove);
        }
        return "{\"kvevent_instance\": {\"a\": " + JSON.writeValueAsString(entry) + "}}";
    }

    private static List<String> problems(String json) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.parse(json, "test.json", false)).problems();
    }

    static Stream<Arguments> invalidEntryFields() {
        return Stream.of(
            // type
            Arguments.of(VALID_ENTRY, "{}", "type",
                "type: expected one of \"vLLM\", \"Mooncake\", \"SGLang\" (case-sensitive), got nothing"),
            Arguments.of(VALID_ENTRY, "{\"type\": \"vllm\"}", "",
                "type: expected one of \"vLLM\", \"Mooncake\", \"SGLang\" (case-sensitive), got \"vllm\""),
            Arguments.of(VALID_ENTRY, "{\"type\": 1}", "",
                "type: expected one of \"vLLM\", \"Mooncake\", \"SGLang\" (case-sensitive), got 1"),
            // endpoint / replay_endpoint
            Arguments.of(VALID_ENTRY, "{}", "endpoint",
                "endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\" (or legacy \"ip\" and \"port\"), got nothing"),
            Arguments.of(VALID_ENTRY, "{\"endpoint\": \"tcp://*:5557\"}", "",
                "endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\", got \"tcp://*:5557\""),
            Arguments.of(VALID_ENTRY, "{\"endpoint\": \"10.0.0.5:5557\"}", "",
                "endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\", got \"10.0.0.5:5557\""),
            Arguments.of(VALID_ENTRY, "{\"endpoint\": \"tcp://h:70000\"}", "",
                "endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\", got \"tcp://h:70000\""),
            Arguments.of(VALID_ENTRY, "{\"endpoint\": \"\"}", "",
                "endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\", got \"\""),
            Arguments.of(VALID_ENTRY, "{\"endpoint\": null}", "",
                "endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\", got null"),
            Arguments.of(VALID_ENTRY, "{\"replay_endpoint\": \"tcp://h\"}", "",
                "replay_endpoint: expected \"tcp://HOST:PORT\" or \"ipc://PATH\" or \"\" (no replay), got \"tcp://h\""),
            // legacy ip / port
            Arguments.of(LEGACY_ENTRY, "{\"ip\": \"engine-host\"}", "",
                "ip: expected an IP address literal such as \"10.0.0.5\" (for a host name use \"endpoint\"), "
                    + "got \"engine-host\""),
            Arguments.of(LEGACY_ENTRY, "{\"ip\": \"10.0.0.256\"}", "",
                "ip: expected an IP address literal such as \"10.0.0.5\" (for a host name use \"endpoint\"), "
                    + "got \"10.0.0.256\""),
            Arguments.of(LEGACY_ENTRY, "{}", "ip",
                "ip: expected an IP address literal such as \"10.0.0.5\" (for a host name use \"endpoint\"), "
                    + "got nothing"),
            Arguments.of(LEGACY_ENTRY, "{}", "port",
                "port: expected an integer in 1..65534 (the replay endpoint is port+1), got nothing"),
            Arguments.of(LEGACY_ENTRY, "{\"port\": \"5557\"}", "",
                "port: expected an integer in 1..65534 (the replay endpoint is port+1), got \"5557\""),
            Arguments.of(LEGACY_ENTRY, "{\"port\": 65535}", "",
                "port: expected an integer in 1..65534 (the replay endpoint is port+1), got 65535"),
            Arguments.of(LEGACY_ENTRY, "{\"port\": 5557.5}", "",
                "port: expected an integer in 1..65534 (the replay endpoint is port+1), got 5557.5"),
            Arguments.of(LEGACY_ENTRY, "{\"port\": 0}", "",
                "port: expected an integer in 1..65534 (the replay endpoint is port+1), got 0"),
            // modelname
            Arguments.of(VALID_ENTRY, "{}", "modelname",
                "modelname: expected a non-empty string (the served model name), got nothing"),
            Arguments.of(VALID_ENTRY, "{\"modelname\": \"\"}", "",
                "modelname: expected a non-empty string (the served model name), got \"\""),
            // lora_name / lora_id
            Arguments.of(VALID_ENTRY, "{\"lora_name\": null}", "",
                "lora_name: expected a string (\"\" = no LoRA), got null"),
            Arguments.of(LEGACY_ENTRY, "{\"lora_id\": -2}", "",
                "lora_id: expected an integer >= -1 (-1 = no LoRA), got -2"),
            Arguments.of(LEGACY_ENTRY, "{\"lora_id\": \"-1\"}", "",
                "lora_id: expected an integer >= -1 (-1 = no LoRA), got \"-1\""),
            // tenant_id / instance_id
            Arguments.of(VALID_ENTRY, "{\"tenant_id\": 5}", "",
                "tenant_id: expected a string (\"\" or absent = \"default\"), got 5"),
            Arguments.of(VALID_ENTRY, "{\"instance_id\": \"\"}", "",
                "instance_id: expected a non-empty string (omit it to use the entry name), got \"\""),
            Arguments.of(VALID_ENTRY, "{\"instance_id\": null}", "",
                "instance_id: expected a non-empty string (omit it to use the entry name), got null"),
            // block_size / dp_rank
            Arguments.of(VALID_ENTRY, "{\"block_size\": 0}", "",
                "block_size: expected a positive integer (tokens per block; default 16), got 0"),
            Arguments.of(VALID_ENTRY, "{\"block_size\": \"16\"}", "",
                "block_size: expected a positive integer (tokens per block; default 16), got \"16\""),
            Arguments.of(VALID_ENTRY, "{\"block_size\": 16.0}", "",
                "block_size: expected a positive integer (tokens per block; default 16), got 16.0"),
            Arguments.of(VALID_ENTRY, "{\"dp_rank\": -1}", "",
                "dp_rank: expected an integer in 0..2147483647 (default 0), got -1"),
            Arguments.of(VALID_ENTRY, "{\"dp_rank\": 2147483648}", "",
                "dp_rank: expected an integer in 0..2147483647 (default 0), got 2147483648"),
            Arguments.of(VALID_ENTRY, "{\"dp_rank\": \"0\"}", "",
                "dp_rank: expected an integer in 0..2147483647 (default 0), got \"0\""),
            // additionalsalt / cache_group
            Arguments.of(VALID_ENTRY, "{\"additionalsalt\": true}", "",
                "additionalsalt: expected a string (\"\" = no salt), got true"),
            Arguments.of(VALID_ENTRY, "{\"cache_group\": -1}", "",
                "cache_group: expected a non-negative integer or null, got -1"),
            Arguments.of(VALID_ENTRY, "{\"cache_group\": \"0\"}", "",
                "cache_group: expected a non-negative integer or null, got \"0\""),
            // kv_role
            Arguments.of(VALID_ENTRY, "{\"kv_role\": \"decode\"}", "",
                "kv_role: expected one of \"kv_producer\" (prefill), \"kv_consumer\" (decode), \"kv_both\" "
                    + "(default), got \"decode\""),
            Arguments.of(VALID_ENTRY, "{\"kv_role\": 1}", "",
                "kv_role: expected one of \"kv_producer\", \"kv_consumer\", \"kv_both\" (default), got 1"),
            // hash_profile
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": \"sha256\"}", "",
                "hash_profile: expected an object {\"python_hash_seed\": ..., \"algorithm\": ..., \"strategy\": ..., "
                    + "\"index_projection\": ...} or no hash_profile (token-rehash mode), got \"sha256\""),
            Arguments.of(VALID_ENTRY, "{\"type\": \"SGLang\", \"hash_profile\": {\"python_hash_seed\": \"0\"}}", "",
                "hash_profile: expected no hash_profile for an SGLang entry (token-rehash mode) or {\"strategy\": "
                    + "\"sglang\"} (SGLang's own page hashes), got an object"),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"strategy\": \"sglang\"}}", "",
                "hash_profile.strategy: expected \"vllm_v1\" or \"lmcache\" for a vLLM entry (\"sglang\" describes "
                    + "an SGLang engine's hashes), got \"sglang\""),
            Arguments.of(VALID_ENTRY, "{\"type\": \"SGLang\", \"hash_profile\": {\"strategy\": \"sglang\", "
                    + "\"index_projection\": \"low64_be\"}}", "",
                "hash_profile.index_projection: expected \"high64_be\" for the sglang strategy, got \"low64_be\""),
            Arguments.of(VALID_ENTRY, "{\"type\": \"SGLang\", \"hash_profile\": {\"strategy\": \"sglang\", "
                    + "\"algorithm\": \"xxh3\", \"python_hash_seed\": 0}}", "",
                "hash_profile.algorithm: expected \"sha256\" for the sglang strategy, got \"xxh3\"; "
                    + "hash_profile.python_hash_seed: expected a string or nothing (SGLang has no seed), got 0"),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": \"0\", \"root_digest\": \"ab\"}}", "",
                "hash_profile.root_digest: expected no such key (known: strategy, algorithm, python_hash_seed, "
                    + "index_projection), got \"ab\""),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": \"0\", \"strategy\": \"vllm_v0\"}}", "",
                "hash_profile.strategy: expected one of \"vllm_v1\", \"lmcache\" (\"sglang\" on SGLang entries) "
                    + "(unsupported hash strategy: vllm_v0), got \"vllm_v0\""),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": \"0\", \"strategy\": 1}}", "",
                "hash_profile.strategy: expected a string, got 1"),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": \"0\", \"algorithm\": \"md5\"}}", "",
                "hash_profile.algorithm: expected one of \"sha256\", \"sha256_cbor\", \"xxh3\" (unsupported hash "
                    + "algorithm: md5), got \"md5\""),
            Arguments.of(VALID_ENTRY,
                "{\"hash_profile\": {\"python_hash_seed\": \"0\", \"index_projection\": \"high64\"}}", "",
                "hash_profile.index_projection: expected \"low64_be\" (unsupported index projection: high64), "
                    + "got \"high64\""),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"algorithm\": \"sha256\"}}", "",
                "hash_profile.python_hash_seed: expected the engine's PYTHONHASHSEED as a string (\"0\", \"random\", "
                    + "\"vllm-none-hash\"), or no hash_profile (token-rehash mode), got nothing"),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": 0}}", "",
                "hash_profile.python_hash_seed: expected a string (quote it: \"0\"), got 0"),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": \"-1\"}}", "",
                "hash_profile.python_hash_seed: expected \"random\" or ASCII decimal text in 0..4294967295, got "
                    + "\"-1\""),
            Arguments.of(VALID_ENTRY, "{\"hash_profile\": {\"python_hash_seed\": \"4294967296\"}}", "",
                "hash_profile.python_hash_seed: expected in range 0..4294967295, got \"4294967296\"")
        );
    }

    @ParameterizedTest(name = "[{index}] {3}")
    @MethodSource("invalidEntryFields")
    void shouldReportEntryFieldAndExpectedFormWhenFieldIsInvalid(String base, String override, String remove,
                                                                 String expectedFieldError) throws Exception {
        String json = file(base, override, remove);

        List<String> problems = problems(json);

        assertEquals(List.of("invalid entry \"a\": " + expectedFieldError), problems);
    }

    @Test
    void shouldReportEveryBadFieldOnOneLineWhenAnEntryHasSeveral() {
        List<String> problems = problems("""
            {"kvevent_instance": {"b": {"type": "VLLM", "endpoint": "tcp://h:1", "modelname": "m",
             "block_size": -16}}}""");

        assertEquals(List.of("invalid entry \"b\": type: expected one of \"vLLM\", \"Mooncake\", \"SGLang\" "
            + "(case-sensitive), got \"VLLM\"; block_size: expected a positive integer (tokens per block; default "
            + "16), got -16"), problems);
    }

    @Test
    void shouldReportOneLinePerInvalidEntryWhenSeveralAreInvalid() {
        List<String> problems = problems("""
            {"kvevent_instance": {"ok": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m"},
             "bad1": [], "bad2": {"type": "vLLM", "endpoint": "tcp://h:2"}, "": {"type": "vLLM",
             "endpoint": "tcp://h:3", "modelname": "m"}}}""");

        assertEquals(List.of(
            "invalid entry \"bad1\": (entry): expected a JSON object, got an array",
            "invalid entry \"bad2\": modelname: expected a non-empty string (the served model name), got nothing",
            "invalid entry \"\": (name): expected a non-empty entry name, got \"\""), problems);
    }

    @Test
    void shouldRejectLaterEntryWhenTwoEntriesShareAnEndpoint() {
        List<String> problems = problems("""
            {"kvevent_instance": {"a": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m"},
             "b": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m"}}}""");

        assertEquals(List.of("invalid entry \"b\": endpoint: expected an endpoint no other entry uses (one "
            + "subscription per endpoint), got \"tcp://h:1\" (already used by entry \"a\")"), problems);
    }

    @Test
    void shouldRejectLaterEntryWhenTwoEntriesShareInstanceTenantAndRank() {
        List<String> problems = problems("""
            {"kvevent_instance": {"a": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m",
              "instance_id": "p"},
             "b": {"type": "vLLM", "endpoint": "tcp://h:2", "modelname": "m", "instance_id": "p"}}}""");

        assertEquals(List.of("invalid entry \"b\": instance_id/tenant_id/dp_rank: expected a combination no other "
            + "entry uses, got \"p|default|0\" (already used by entry \"a\")"), problems);
    }

    @Test
    void shouldSkipInvalidEntriesWithWarningsWhenLenient() throws Exception {
        LoadedConfig loaded = ConfigLoader.parse("""
            {"kvevent_instance": {"good": {"type": "vLLM", "endpoint": "tcp://h:1", "modelname": "m"},
             "bad": {"type": "TensorRT", "endpoint": "tcp://h:2", "modelname": "m"}}}""", "test.json", true);

        assertEquals(List.of("good"), loaded.config().subscriptions().stream().map(SubscriptionConfig::name).toList());
        assertEquals(List.of("skipping invalid entry \"bad\": type: expected one of \"vLLM\", \"Mooncake\", "
            + "\"SGLang\" (case-sensitive), got \"TensorRT\""), loaded.warnings());
    }

    @Test
    void shouldStillRefuseInvalidTopLevelFieldWhenLenient() {
        ConfigException e = assertThrows(ConfigException.class,
            () -> ConfigLoader.parse("{\"http_server_port\": \"13333\"}", "test.json", true));

        assertEquals(List.of("http_server_port: expected an integer in 0..65535 (0 = any free port; absent = "
            + "13333), got \"13333\""), e.problems());
    }

    static Stream<Arguments> invalidTopLevel() {
        return Stream.of(
            Arguments.of("{\"http_server_port\": 13333.0}",
                "http_server_port: expected an integer in 0..65535 (0 = any free port; absent = 13333), got 13333.0"),
            Arguments.of("{\"http_server_port\": 65536}",
                "http_server_port: expected an integer in 0..65535 (0 = any free port; absent = 13333), got 65536"),
            Arguments.of("{\"http_server_port\": -1}",
                "http_server_port: expected an integer in 0..65535 (0 = any free port; absent = 13333), got -1"),
            Arguments.of("{\"kvevent_instance\": []}",
                "kvevent_instance: expected an object {\"<entry name>\": {...}, ...}, got an array"),
            Arguments.of("[1, 2]", "config file test.json: expected a JSON object at the top level, got an array"),
            Arguments.of("", "config file test.json is empty: expected a JSON object {\"http_server_port\": ..., "
                + "\"kvevent_instance\": {...}}"),
            Arguments.of("   \n", "config file test.json is empty: expected a JSON object {\"http_server_port\": ..., "
                + "\"kvevent_instance\": {...}}")
        );
    }

    @ParameterizedTest(name = "[{index}] {1}")
    @MethodSource("invalidTopLevel")
    void shouldRefuseFileWhenTopLevelIsInvalid(String json, String expected) {
        assertEquals(List.of(expected), problems(json));
    }

    @Test
    void shouldReportParserLineAndColumnWhenJsonIsMalformed() {
        List<String> problems = problems("{\n  \"http_server_port\": 13333,\n  \"kvevent_instance\": {,}\n}");

        assertEquals(1, problems.size());
        String line = problems.get(0);
        assertTrue(line.startsWith("malformed JSON in test.json at line 3, column 24: "), line);
        assertTrue(line.contains("Unexpected character (','"), line);
        assertFalse(line.contains("\n"), "the parser's message is kept on one line");
    }

    @Test
    void shouldReportLineAndColumnWhenJsonIsTruncated() {
        String line = problems("{\"kvevent_instance\": {\n").get(0);

        assertTrue(line.startsWith("malformed JSON in test.json at line 2, column 1: "), line);
    }

    @Test
    void shouldRefuseDuplicateKeysWhenAnEntryNameRepeats() {
        // Silently keeping the last duplicate would drop a subscription the user wrote.
        String line = problems("{\"kvevent_instance\": {\"a\": {}, \"a\": {}}}").get(0);

        assertTrue(line.startsWith("malformed JSON in test.json at line 1, column "), line);
        assertTrue(line.contains("Duplicate field 'a'"), line);
    }

    @Test
    void shouldRefuseTrailingContentWhenObjectIsFollowedByMore() {
        String line = problems("{} {}").get(0);

        assertTrue(line.startsWith("malformed JSON in test.json at line 1, column "), line);
    }

    @Test
    void shouldStartWithNoSubscriptionsAndDefaultPortWhenFileIsMissing(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.json");

        LoadedConfig loaded = ConfigLoader.load(missing, false);

        assertFalse(loaded.config().fileFound());
        assertTrue(loaded.config().subscriptions().isEmpty());
        assertEquals(13333, loaded.config().httpPort());
        assertEquals(1, loaded.warnings().size());
        assertTrue(loaded.warnings().get(0).startsWith("config file " + missing + " does not exist: starting with "
            + "no subscriptions"), loaded.warnings().get(0));
    }

    @Test
    void shouldRefuseFileWhenItCannotBeRead(@TempDir Path dir) {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(dir, false));

        assertTrue(e.problems().get(0).startsWith("cannot read config file " + dir + ": "), e.getMessage());
    }

    @Test
    void shouldRefuseFileWhenItIsNotUtf8(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("latin1.json");
        Files.write(file, new byte[] {'{', '"', (byte) 0xE9, '"', ':', '1', '}'});

        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(file, false));

        assertEquals(List.of("config file " + file + " is not valid UTF-8"), e.problems());
    }
}
