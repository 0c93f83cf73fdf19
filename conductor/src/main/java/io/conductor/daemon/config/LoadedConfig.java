package io.conductor.daemon.config;

import java.util.List;
import java.util.Objects;

/**
 * A configuration together with the warnings its loading produced (unknown keys ignored, entries skipped under
 * {@code --lenient}, a missing file). The loader has already logged each warning; they are returned so that
 * callers and tests can inspect them. Immutable and thread-safe.
 *
 * @param config   the configuration
 * @param warnings one line per warning, in the order they were found
 */
public record LoadedConfig(ConductorConfig config, List<String> warnings) {
    /** Copies the warning list. */
    public LoadedConfig {
        Objects.requireNonNull(config, "config");
        warnings = List.copyOf(warnings);
    }
}
