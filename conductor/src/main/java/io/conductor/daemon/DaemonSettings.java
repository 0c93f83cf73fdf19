package io.conductor.daemon;

import java.util.Objects;

/**
 * How the daemon process was asked to run, after flags, environment and file are combined. Immutable and
 * thread-safe.
 *
 * @param host     the address the HTTP server binds to ({@code 0.0.0.0} by default, as the reference)
 * @param httpPort the HTTP port, 0..65535 (0 = any free port); {@code --port} when given, else the file's
 *                 {@code http_server_port}
 * @param lenient  whether invalid config entries were skipped rather than refused
 * @param version  the daemon's version text
 */
public record DaemonSettings(String host, int httpPort, boolean lenient, String version) {
    /** The default bind address: every interface, like the reference. */
    public static final String DEFAULT_HOST = "0.0.0.0";

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException when the host is empty or the port is outside 0..65535
     */
    public DaemonSettings {
        Objects.requireNonNull(version, "version");
        if (Objects.requireNonNull(host, "host").isEmpty()) {
            throw new IllegalArgumentException("host must not be empty");
        }
        if (httpPort < 0 || httpPort > 65_535) {
            throw new IllegalArgumentException("httpPort must be in 0..65535, was " + httpPort);
        }
    }
}
