package io.conductor.daemon.store;

import com.fasterxml.jackson.databind.JsonNode;
import io.conductor.daemon.config.ConfigException;
import io.conductor.nativestore.NativeStoreConfig;
import io.conductor.nativestore.NativeStoreConfigException;
import io.conductor.nativestore.StoreKeyLayout;
import java.util.List;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Reads the config file's {@code native_store} block (kept by the loader as a raw Jackson tree) into a validated
 * {@link NativeStoreConfig} ({@link NativeStoreConfig#fromTree} validates the tree). A bad value is a configuration error
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
            NativeStoreConfig config = NativeStoreConfig.fromTree(block, env);
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
}
