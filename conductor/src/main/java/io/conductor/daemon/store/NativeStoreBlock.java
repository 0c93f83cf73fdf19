package io.conductor.daemon.store;

import com.fasterxml.jackson.databind.JsonNode;
import io.conductor.daemon.config.ConfigException;
import io.conductor.nativestore.NativeStoreConfig;
import io.conductor.nativestore.NativeStoreConfigException;
import io.conductor.nativestore.StoreKeyLayout;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Reads the config file's {@code native_store} block (kept by the loader as a raw Jackson tree) into a validated
 * {@link NativeStoreConfig}: the tree becomes plain {@code Map}/{@code List}/{@code String}/{@code Number}/
 * {@code Boolean} values, which {@link NativeStoreConfig#fromTree} validates. A bad value is a configuration error
 * like any other: one line naming the field, and the daemon exits with status 2. Stateless and thread-safe.
 */
public final class NativeStoreBlock {
    private NativeStoreBlock() {
    }

    /**
     * Validates the block.
     *
     * @param block the raw block, or {@code null} when the file has none (the probe is then off)
     * @param env environment lookup for {@code MOONCAKE_CONFIG_PATH}
     * @return the configuration; {@link NativeStoreConfig#enabled()} is false when the block is absent or says so
     * @throws ConfigException with one line {@code native_store.<field>: <problem>} for the first bad field
     */
    public static NativeStoreConfig read(@Nullable JsonNode block, Function<String, @Nullable String> env)
            throws ConfigException {
        try {
            NativeStoreConfig config = NativeStoreConfig.fromTree(block == null ? null : plain(block), env);
            if (config.enabled()) {
                // What StoreResidencyProbe.start would refuse, refused here so that it is a config error too.
                StoreKeyLayout layout = config.keyLayout();
                if (layout.rankCount() > config.maxBatchKeys()) {
                    throw new NativeStoreConfigException("native_store.max_batch_keys", "must be >= the "
                            + layout.rankCount() + " rank namespaces of one block, was " + config.maxBatchKeys());
                }
            }
            return config;
        } catch (NativeStoreConfigException e) {
            throw new ConfigException(List.of(e.getMessage()));
        }
    }

    /** Converts a Jackson node to the plain values {@code fromTree} reads; JSON null stays {@code null}. */
    static @Nullable Object plain(JsonNode node) {
        if (node.isObject()) {
            Map<String, @Nullable Object> map = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                map.put(e.getKey(), plain(e.getValue()));
            }
            return map;
        }
        if (node.isArray()) {
            List<@Nullable Object> list = new ArrayList<>(node.size());
            for (JsonNode element : node) {
                list.add(plain(element));
            }
            return list;
        }
        if (node.isNull() || node.isMissingNode()) {
            return null;
        }
        if (node.isBoolean()) {
            return node.booleanValue();
        }
        if (node.isNumber()) {
            return node.numberValue();
        }
        return node.asText();
    }
}
