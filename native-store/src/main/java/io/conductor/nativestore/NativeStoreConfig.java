package io.conductor.nativestore;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Set;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The {@code native_store} block of the conductor configuration: where the Mooncake Store C library is, how to
 * reach the store (the same fields users write in {@code mooncake.json} for vLLM's connectors), the key layout of
 * vLLM's Mooncake store connector, and the probe's cache, batching and retry settings. Off by default.
 *
 * <p>Build it with {@link #fromTree(JsonNode, Function)} from the parsed JSON tree (Jackson). Every field is documented in {@code docs/native-store.md}. Immutable; thread-safe.
 *
 * @param enabled whether the daemon probes the store at all ({@code enabled}, default {@code false})
 * @param libraryPath path of {@code libmooncake_store.so}; empty: the system library path ({@code library_path})
 * @param localHostname address this client registers under; empty: the host's address at connect time
 * @param metadataServer metadata service URI, e.g. {@code http://h:8080/metadata}, {@code etcd://h:2379},
 *                       {@code P2PHANDSHAKE}
 * @param masterServerAddress {@code host:port} of {@code mooncake_master}
 * @param protocol transport, {@code tcp} or {@code rdma}
 * @param deviceName RDMA device list (empty: auto)
 * @param globalSegmentSize bytes this client contributes to the pool (default 0: the conductor only asks)
 * @param localBufferSize bytes of local transfer buffer (default 0: the conductor reads no values)
 * @param cachePrefix vLLM {@code kv_connector_extra_config.cache_prefix}; empty: none
 * @param model model name as vLLM puts it in keys: the last path segment of {@code --model}
 * @param tpSize tensor-parallel size of the engines
 * @param tpReplication how many TP ranks share one key namespace (1 for GQA with enough KV heads,
 *                      {@code tp_size / num_kv_heads} otherwise, {@code tp_size} for MLA)
 * @param ppSize pipeline-parallel size
 * @param pcpSize prefill context-parallel size
 * @param dcpSize decode context-parallel size
 * @param group KV-cache group id in keys, or {@link #NO_GROUP} for connector versions without {@code @group:}
 * @param cacheTtlMillis how long a probed block's answer is reused (0: no cache)
 * @param cacheMaxBlocks bound on cached block answers
 * @param maxBatchKeys most keys in one {@code batch_is_exist}
 * @param maxKeyBytes bytes reserved per key in the native batch, terminating NUL included
 * @param retryInitialMillis first delay before retrying a failed setup
 * @param retryMaxMillis cap of the doubling retry delay
 * @param healthCheckIntervalMillis period of {@code health_check} while up
 * @param mooncakeConfigPath the {@code mooncake.json} that supplied connection defaults, or empty
 */
public record NativeStoreConfig(
        boolean enabled,
        String libraryPath,
        String localHostname,
        String metadataServer,
        String masterServerAddress,
        String protocol,
        String deviceName,
        long globalSegmentSize,
        long localBufferSize,
        String cachePrefix,
        String model,
        int tpSize,
        int tpReplication,
        int ppSize,
        int pcpSize,
        int dcpSize,
        int group,
        long cacheTtlMillis,
        long cacheMaxBlocks,
        int maxBatchKeys,
        int maxKeyBytes,
        long retryInitialMillis,
        long retryMaxMillis,
        long healthCheckIntervalMillis,
        String mooncakeConfigPath) {

    /** {@link #group()} value meaning "no {@code @group:} segment" (vLLM connector versions before it). */
    public static final int NO_GROUP = -1;
    /** Name of the environment variable vLLM's connectors read {@code mooncake.json} from. */
    public static final String MOONCAKE_CONFIG_PATH_ENV = "MOONCAKE_CONFIG_PATH";

    private static final String BLOCK = "native_store";
    private static final Set<String> FIELDS = Set.of("enabled", "library_path", "mooncake_config_path",
            "local_hostname", "metadata_server", "master_server_address", "protocol", "device_name",
            "global_segment_size", "local_buffer_size", "cache_prefix", "model", "tp_size", "tp_replication",
            "pp_size", "pcp_size", "dcp_size", "group", "cache_ttl_ms", "cache_max_blocks", "max_batch_keys",
            "max_key_bytes", "retry_initial_ms", "retry_max_ms", "health_check_interval_ms");
    /** Connection fields taken from mooncake.json when the native_store block does not set them. */
    private static final Set<String> MOONCAKE_JSON_FIELDS = Set.of("local_hostname", "metadata_server",
            "master_server_address", "protocol", "device_name");

    /** Validates the record; see {@link #fromTree} for the rules. */
    public NativeStoreConfig {
        ConfigTree.requireNoNul(BLOCK + ".library_path", libraryPath);
        if (enabled) {
            ConfigTree.requireNonBlank(BLOCK + ".metadata_server", metadataServer);
            ConfigTree.requireNonBlank(BLOCK + ".master_server_address", masterServerAddress);
            ConfigTree.requireNonBlank(BLOCK + ".model", model);
        }
        if (!protocol.equals("tcp") && !protocol.equals("rdma")) {
            throw new NativeStoreConfigException(BLOCK + ".protocol", "must be \"tcp\" or \"rdma\", was \""
                    + protocol + "\"");
        }
        for (String[] f : new String[][] {{"local_hostname", localHostname}, {"metadata_server", metadataServer},
                {"master_server_address", masterServerAddress}, {"device_name", deviceName}}) {
            ConfigTree.requireNoNul(BLOCK + "." + f[0], f[1]);
        }
        ConfigTree.requireKeySegment(BLOCK + ".cache_prefix", cachePrefix);
        ConfigTree.requireKeySegment(BLOCK + ".model", model);
        ConfigTree.requireAtLeast(BLOCK + ".global_segment_size", globalSegmentSize, 0);
        ConfigTree.requireAtLeast(BLOCK + ".local_buffer_size", localBufferSize, 0);
        ConfigTree.requireAtLeast(BLOCK + ".tp_size", tpSize, 1);
        ConfigTree.requireAtLeast(BLOCK + ".tp_replication", tpReplication, 1);
        if (tpSize % tpReplication != 0) {
            throw new NativeStoreConfigException(BLOCK + ".tp_replication", "must divide tp_size " + tpSize
                    + ", was " + tpReplication);
        }
        ConfigTree.requireAtLeast(BLOCK + ".pp_size", ppSize, 1);
        ConfigTree.requireAtLeast(BLOCK + ".pcp_size", pcpSize, 1);
        ConfigTree.requireAtLeast(BLOCK + ".dcp_size", dcpSize, 1);
        if (tpSize % dcpSize != 0) {
            throw new NativeStoreConfigException(BLOCK + ".dcp_size", "must divide tp_size " + tpSize
                    + " (DCP subdivides TP), was " + dcpSize);
        }
        if (group < NO_GROUP) {
            throw new NativeStoreConfigException(BLOCK + ".group", "must be >= 0 (or null for no group segment), was "
                    + group);
        }
        ConfigTree.requireAtLeast(BLOCK + ".cache_ttl_ms", cacheTtlMillis, 0);
        ConfigTree.requireAtLeast(BLOCK + ".cache_max_blocks", cacheMaxBlocks, 0);
        ConfigTree.requireAtLeast(BLOCK + ".max_batch_keys", maxBatchKeys, 1);
        ConfigTree.requireAtLeast(BLOCK + ".max_key_bytes", maxKeyBytes, 64);
        ConfigTree.requireAtLeast(BLOCK + ".retry_initial_ms", retryInitialMillis, 1);
        ConfigTree.requireAtLeast(BLOCK + ".retry_max_ms", retryMaxMillis, retryInitialMillis);
        ConfigTree.requireAtLeast(BLOCK + ".health_check_interval_ms", healthCheckIntervalMillis, 1);
    }

    /**
     * Returns the configuration of a daemon without a {@code native_store} block: disabled, every other field at
     * its default.
     *
     * @return the disabled configuration
     */
    public static NativeStoreConfig disabled() {
        return fromTree((JsonNode) null, name -> null);
    }

    /**
     * Parses a {@code native_store} block built in code (tests, benchmarks) as maps, lists and plain values.
     *
     * @param block the block
     * @param env environment lookup; may return {@code null}
     * @return the validated configuration
     * @throws NativeStoreConfigException naming the first bad field
     */
    public static NativeStoreConfig fromTree(java.util.Map<String, ?> block, Function<String, @Nullable String> env) {
        return fromTree(MooncakeJsonFile.tree(block), env);
    }

    /**
     * Parses the {@code native_store} block.
     *
     * <p>Connection fields ({@code local_hostname}, {@code metadata_server}, {@code master_server_address},
     * {@code protocol}, {@code device_name}) not set in the block are read from the {@code mooncake.json} named by
     * {@code mooncake_config_path}, else by the {@code MOONCAKE_CONFIG_PATH} environment variable (only when the
     * block is enabled). Segment sizes are never taken from {@code mooncake.json}: there they size an engine's
     * contribution to the pool, and the conductor only asks questions. Unknown fields are rejected, so a typo
     * fails loudly.
     *
     * @param block the parsed block, or {@code null} when the configuration has none
     * @param env environment lookup (normally {@code System::getenv}); may return {@code null}
     * @return the validated configuration
     * @throws NativeStoreConfigException naming the first bad field (of the block or of {@code mooncake.json})
     */
    public static NativeStoreConfig fromTree(@Nullable JsonNode block, Function<String, @Nullable String> env) {
        ConfigTree tree = ConfigTree.of(BLOCK, block);
        tree.rejectUnknown(FIELDS);
        boolean enabled = tree.bool("enabled", false);
        String jsonPath = tree.string("mooncake_config_path", "");
        String jsonField = BLOCK + ".mooncake_config_path";
        if (jsonPath.isEmpty() && enabled) {
            String fromEnv = env.apply(MOONCAKE_CONFIG_PATH_ENV);
            if (fromEnv != null && !fromEnv.isBlank()) {
                jsonPath = fromEnv.strip();
                jsonField = MOONCAKE_CONFIG_PATH_ENV;
            }
        }
        ConfigTree json = ConfigTree.of(jsonField, null);
        if (!jsonPath.isEmpty()) {
            json = ConfigTree.of(jsonField + " (" + jsonPath + ")", MooncakeJsonFile.read(Path.of(jsonPath),
                    jsonField));
        }
        ConfigTree conn = tree.withFallback(json, MOONCAKE_JSON_FIELDS);
        return new NativeStoreConfig(
                enabled,
                tree.string("library_path", ""),
                conn.string("local_hostname", ""),
                conn.string("metadata_server", ""),
                conn.string("master_server_address", ""),
                conn.string("protocol", "tcp").toLowerCase(java.util.Locale.ROOT),
                conn.string("device_name", ""),
                tree.size("global_segment_size", 0),
                tree.size("local_buffer_size", 0),
                tree.string("cache_prefix", ""),
                tree.string("model", ""),
                tree.integer("tp_size", 1),
                tree.integer("tp_replication", 1),
                tree.integer("pp_size", 1),
                tree.integer("pcp_size", 1),
                tree.integer("dcp_size", 1),
                tree.optionalInteger("group", 0, NO_GROUP),
                tree.longValue("cache_ttl_ms", 2_000),
                tree.longValue("cache_max_blocks", 200_000),
                tree.integer("max_batch_keys", 4_096),
                tree.integer("max_key_bytes", 256),
                tree.longValue("retry_initial_ms", 1_000),
                tree.longValue("retry_max_ms", 60_000),
                tree.longValue("health_check_interval_ms", 10_000),
                jsonPath);
    }

    /**
     * Returns the key layout these settings describe (vLLM's store connector, model {@link #model()}).
     *
     * @return the layout
     * @throws NativeStoreConfigException if a key would not fit {@link #maxKeyBytes()}
     */
    public StoreKeyLayout keyLayout() {
        return StoreKeyLayout.of(this, model);
    }

    /** Returns every field, for logs; nothing here is secret. */
    @Override
    public String toString() {
        return "native_store{enabled=" + enabled + ", library_path=" + libraryPath + ", local_hostname="
                + localHostname + ", metadata_server=" + metadataServer + ", master_server_address="
                + masterServerAddress + ", protocol=" + protocol + ", device_name=" + deviceName
                + ", global_segment_size=" + globalSegmentSize + ", local_buffer_size=" + localBufferSize
                + ", cache_prefix=" + cachePrefix + ", model=" + model + ", tp_size=" + tpSize + ", tp_replication="
                + tpReplication + ", pp_size=" + ppSize + ", pcp_size=" + pcpSize + ", dcp_size=" + dcpSize
                + ", group=" + (group == NO_GROUP ? "none" : Integer.toString(group)) + ", cache_ttl_ms="
                + cacheTtlMillis + ", cache_max_blocks=" + cacheMaxBlocks + ", max_batch_keys=" + maxBatchKeys
                + ", max_key_bytes=" + maxKeyBytes + ", retry_initial_ms=" + retryInitialMillis + ", retry_max_ms="
                + retryMaxMillis + ", health_check_interval_ms=" + healthCheckIntervalMillis
                + ", mooncake_config_path=" + mooncakeConfigPath + "}";
    }
}
