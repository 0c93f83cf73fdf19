package io.conductor.daemon.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The etcd part of the config's {@code cluster} block: {@code etcd_endpoints} (a list of {@code http://host:port}),
 * {@code prefix} (the key prefix, e.g. {@code /conductor/prod}), {@code lease_ttl_seconds} (membership lease) and
 * {@code advertise_url} (how peers reach this replica's HTTP API). Immutable.
 *
 * @param endpoints    etcd client URLs
 * @param prefix       key prefix, without a trailing slash
 * @param leaseTtl     membership lease TTL
 * @param advertiseUrl this replica's base URL for peers, or {@code null} to derive it from host and port
 */
public record ClusterSettings(List<URI> endpoints, String prefix, Duration leaseTtl, @Nullable String advertiseUrl) {
    /** Default {@code lease_ttl_seconds}. */
    public static final long DEFAULT_LEASE_TTL_SECONDS = 10;

    /** Copies and checks the values. */
    public ClusterSettings {
        endpoints = List.copyOf(endpoints);
        Objects.requireNonNull(prefix, "prefix");
        Objects.requireNonNull(leaseTtl, "leaseTtl");
    }

    /**
     * Reads the settings.
     *
     * @param cluster the {@code cluster} block, or {@code null}
     * @return the settings, or {@code null} when no {@code etcd_endpoints} are given (single node)
     * @throws IllegalArgumentException naming the key and the expected form when a value is invalid
     */
    public static @Nullable ClusterSettings from(@Nullable JsonNode cluster) {
        if (cluster == null || cluster.get("etcd_endpoints") == null) {
            return null;
        }
        JsonNode list = cluster.get("etcd_endpoints");
        if (!list.isArray() || list.isEmpty()) {
            throw new IllegalArgumentException("cluster.etcd_endpoints must be a non-empty array of http://host:port");
        }
        List<URI> endpoints = new ArrayList<>();
        for (JsonNode n : list) {
            URI u = n.isTextual() ? URI.create(n.asText()) : null;
            if (u == null || !"http".equals(u.getScheme()) || u.getHost() == null || u.getPort() <= 0) {
                throw new IllegalArgumentException("cluster.etcd_endpoints entries must look like http://host:port, "
                        + "was " + n);
            }
            endpoints.add(u);
        }
        JsonNode p = cluster.get("prefix");
        if (p == null || !p.isTextual() || !p.asText().startsWith("/") || p.asText().length() < 2) {
            throw new IllegalArgumentException("cluster.prefix must be a key prefix like \"/conductor/<name>\", was "
                    + p);
        }
        String prefix = p.asText().endsWith("/") ? p.asText().substring(0, p.asText().length() - 1) : p.asText();
        long ttl = DEFAULT_LEASE_TTL_SECONDS;
        JsonNode t = cluster.get("lease_ttl_seconds");
        if (t != null) {
            if (!t.isIntegralNumber() || t.asLong() < 2 || t.asLong() > 3600) {
                throw new IllegalArgumentException("cluster.lease_ttl_seconds must be an integer in 2..3600, was " + t);
            }
            ttl = t.asLong();
        }
        JsonNode a = cluster.get("advertise_url");
        String advertise = null;
        if (a != null) {
            if (!a.isTextual() || !a.asText().startsWith("http://")) {
                throw new IllegalArgumentException("cluster.advertise_url must be an http:// URL, was " + a);
            }
            advertise = a.asText();
        }
        return new ClusterSettings(endpoints, prefix, Duration.ofSeconds(ttl), advertise);
    }
}
