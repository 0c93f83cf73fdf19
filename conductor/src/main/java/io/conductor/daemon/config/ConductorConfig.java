package io.conductor.daemon.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The loaded configuration file: the HTTP port, the static subscriptions, and the raw blocks that other parts of
 * the daemon validate themselves. Immutable and thread-safe (the raw JSON nodes are deep copies that nobody
 * mutates; treat them as read-only).
 *
 * @param source        where the configuration came from (a file path, or a description such as
 *                      {@code "(no file)"})
 * @param fileFound     {@code false} when the file did not exist and the daemon runs with no subscriptions
 * @param httpPort      {@code http_server_port}, {@link #DEFAULT_HTTP_PORT} when absent; 0 asks for an ephemeral
 *                      port
 * @param subscriptions the valid {@code kvevent_instance} entries in file order
 * @param nativeStore   the raw {@code native_store} block, or {@code null} when absent
 * @param index         the raw {@code index} block (e.g. {@code max_bytes}), or {@code null} when absent
 * @param api           the raw {@code api} block (request limits, memory budgets, endpoint policy), or {@code null}
 *                      when absent
 * @param routing       the raw {@code routing} block (cost policy settings), or {@code null} when absent
 * @param cluster       the raw {@code cluster} block (etcd endpoints, prefix, peers), or {@code null} when absent
 * @param snapshot      the raw {@code snapshot} block (local snapshot file), or {@code null} when absent
 */
public record ConductorConfig(
    String source,
    boolean fileFound,
    int httpPort,
    List<SubscriptionConfig> subscriptions,
    @Nullable JsonNode nativeStore,
    @Nullable JsonNode index,
    @Nullable JsonNode api,
    @Nullable JsonNode routing,
    @Nullable JsonNode cluster,
    @Nullable JsonNode snapshot) {

    /** The reference's default HTTP port, used when {@code http_server_port} is absent. */
    public static final int DEFAULT_HTTP_PORT = 13333;

    /**
     * Copies the subscription list and checks the port range.
     *
     * @throws IllegalArgumentException when {@code httpPort} is outside 0..65535
     */
    public ConductorConfig {
        Objects.requireNonNull(source, "source");
        subscriptions = List.copyOf(subscriptions);
        if (httpPort < 0 || httpPort > 65_535) {
            throw new IllegalArgumentException("httpPort must be in 0..65535, was " + httpPort);
        }
    }

    /**
     * Creates a configuration without an {@code api} block.
     *
     * @param source        where the configuration came from
     * @param fileFound     whether the file existed
     * @param httpPort      the HTTP port
     * @param subscriptions the subscriptions
     * @param nativeStore   the raw {@code native_store} block, or {@code null}
     * @param index         the raw {@code index} block, or {@code null}
     */
    public ConductorConfig(String source, boolean fileFound, int httpPort, List<SubscriptionConfig> subscriptions,
        @Nullable JsonNode nativeStore, @Nullable JsonNode index) {
        this(source, fileFound, httpPort, subscriptions, nativeStore, index, null, null, null, null);
    }

    /**
     * Returns the configuration used when no file exists: port 13333, no subscriptions.
     *
     * @param source the path that was looked for
     * @return an empty configuration marked as not found
     */
    public static ConductorConfig empty(String source) {
        return new ConductorConfig(source, false, DEFAULT_HTTP_PORT, List.of(), null, null, null, null, null, null);
    }

    /**
     * Returns a copy with another HTTP port (the {@code --port} flag overrides the file).
     *
     * @param port the port, 0..65535
     * @return the new configuration
     */
    public ConductorConfig withHttpPort(int port) {
        return new ConductorConfig(source, fileFound, port, subscriptions, nativeStore, index, api, routing, cluster,
            snapshot);
    }
}
