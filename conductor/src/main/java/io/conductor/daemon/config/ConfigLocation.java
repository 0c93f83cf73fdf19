package io.conductor.daemon.config;

import java.nio.file.Path;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Where the configuration file is looked for, and why there. Immutable and thread-safe.
 *
 * <p>Order: the {@code --config} flag, else {@code CONDUCTOR_CONFIG_PATH} when non-empty, else
 * {@code $HOME/.mooncake/conductor_config.json}; when {@code HOME} is unset or empty the reference uses the literal
 * text {@code ~/.mooncake/conductor_config.json} (no tilde expansion), and so do we.
 *
 * @param path   the file to read
 * @param origin which rule chose it
 */
public record ConfigLocation(Path path, Origin origin) {

    /** The environment variable that names the config file (the reference's only input). */
    public static final String ENV_CONFIG_PATH = "CONDUCTOR_CONFIG_PATH";
    /** The default path relative to {@code HOME}. */
    public static final String DEFAULT_RELATIVE_PATH = ".mooncake/conductor_config.json";

    /** Which rule chose the path. */
    public enum Origin {
        /** The {@code --config} flag. */
        FLAG,
        /** The {@code CONDUCTOR_CONFIG_PATH} environment variable. */
        ENVIRONMENT,
        /** The default under {@code HOME}. */
        DEFAULT
    }

    /** Checks for nulls. */
    public ConfigLocation {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(origin, "origin");
    }

    /**
     * Resolves the config path.
     *
     * @param flagValue the {@code --config} value, or {@code null} when the flag is absent
     * @param envValue  the value of {@code CONDUCTOR_CONFIG_PATH}, or {@code null} when unset (empty = unset)
     * @param home      the value of {@code HOME}, or {@code null} when unset
     * @return the location
     */
    public static ConfigLocation resolve(@Nullable String flagValue, @Nullable String envValue,
                                         @Nullable String home) {
        if (flagValue != null) {
            return new ConfigLocation(Path.of(flagValue), Origin.FLAG);
        }
        if (envValue != null && !envValue.isEmpty()) {
            return new ConfigLocation(Path.of(envValue), Origin.ENVIRONMENT);
        }
        if (home == null || home.isEmpty()) {
            return new ConfigLocation(Path.of("~/" + DEFAULT_RELATIVE_PATH), Origin.DEFAULT);
        }
        return new ConfigLocation(Path.of(home, DEFAULT_RELATIVE_PATH), Origin.DEFAULT);
    }
}
