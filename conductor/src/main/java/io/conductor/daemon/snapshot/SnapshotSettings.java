package io.conductor.daemon.snapshot;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The snapshot and peer-bootstrap settings: the config's {@code snapshot} block ({@code path},
 * {@code interval_seconds}, {@code max_bytes}, {@code resume_timeout_seconds}) and the {@code peers} list of its
 * {@code cluster} block. Immutable.
 *
 * @param path          the local snapshot file, or {@code null} for none
 * @param interval      time between periodic writes; {@link Duration#ZERO} writes only on shutdown
 * @param maxBytes      largest snapshot accepted from the file or a peer
 * @param resumeTimeout how long {@code /ready} waits for restored streams to resume before giving up on them
 * @param peers         base URLs of peer replicas to bootstrap from, tried in order
 */
public record SnapshotSettings(@Nullable Path path, Duration interval, long maxBytes, Duration resumeTimeout,
        List<URI> peers) {
    /** Default {@code interval_seconds}: 5 minutes. */
    public static final long DEFAULT_INTERVAL_SECONDS = 300;
    /** Default {@code max_bytes}: 1 GiB (about 89 million pairs). */
    public static final long DEFAULT_MAX_BYTES = 1L << 30;
    /** Default {@code resume_timeout_seconds}. */
    public static final long DEFAULT_RESUME_TIMEOUT_SECONDS = 10;

    /** Copies the peers and checks the values. */
    public SnapshotSettings {
        Objects.requireNonNull(interval, "interval");
        Objects.requireNonNull(resumeTimeout, "resumeTimeout");
        peers = List.copyOf(peers);
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("snapshot.max_bytes must be > 0");
        }
    }

    /**
     * Tells whether anything is configured (a file or a peer); when not, the daemon runs without snapshots.
     *
     * @return true when configured
     */
    public boolean enabled() {
        return path != null || !peers.isEmpty();
    }

    /**
     * Reads the settings from the raw config blocks.
     *
     * @param snapshot the {@code snapshot} block, or {@code null}
     * @param cluster  the {@code cluster} block, or {@code null}
     * @return the settings
     * @throws IllegalArgumentException naming the key and the expected form when a value is invalid
     */
    public static SnapshotSettings from(@Nullable JsonNode snapshot, @Nullable JsonNode cluster) {
        Path path = null;
        long interval = DEFAULT_INTERVAL_SECONDS;
        long maxBytes = DEFAULT_MAX_BYTES;
        long resume = DEFAULT_RESUME_TIMEOUT_SECONDS;
        if (snapshot != null) {
            if (!snapshot.isObject()) {
                throw new IllegalArgumentException("snapshot must be an object");
            }
            JsonNode p = snapshot.get("path");
            if (p != null) {
                if (!p.isTextual() || p.asText().isBlank()) {
                    throw new IllegalArgumentException("snapshot.path must be a non-empty string");
                }
                path = Path.of(p.asText());
            }
            interval = nonNegative(snapshot, "interval_seconds", interval);
            maxBytes = nonNegative(snapshot, "max_bytes", maxBytes);
            resume = nonNegative(snapshot, "resume_timeout_seconds", resume);
        }
        List<URI> peers = new ArrayList<>();
        if (cluster != null) {
            if (!cluster.isObject()) {
                throw new IllegalArgumentException("cluster must be an object");
            }
            JsonNode list = cluster.get("peers");
            if (list != null) {
                if (!list.isArray()) {
                    throw new IllegalArgumentException("cluster.peers must be an array of http:// URLs");
                }
                for (JsonNode n : list) {
                    peers.add(peerUri(n));
                }
            }
        }
        return new SnapshotSettings(path, Duration.ofSeconds(interval), maxBytes, Duration.ofSeconds(resume),
                peers);
    }

    /**
     * Returns a copy with more peers appended (replicas found in etcd's membership), skipping this replica's own
     * URL and peers already listed.
     *
     * @param urls base URLs
     * @param self this replica's URL, or {@code null}
     * @return the new settings
     */
    public SnapshotSettings withMorePeers(List<String> urls, @Nullable String self) {
        List<URI> all = new ArrayList<>(peers);
        for (String u : urls) {
            if (u.equals(self)) {
                continue;
            }
            try {
                URI uri = URI.create(u);
                if (!all.contains(uri)) {
                    all.add(uri);
                }
            } catch (IllegalArgumentException e) {
                // a member entry that is not a URL is not a peer
            }
        }
        return new SnapshotSettings(path, interval, maxBytes, resumeTimeout, all);
    }

    private static long nonNegative(JsonNode block, String key, long dflt) {
        JsonNode v = block.get(key);
        if (v == null) {
            return dflt;
        }
        if (!v.canConvertToLong() || !v.isIntegralNumber() || v.asLong() < 0) {
            throw new IllegalArgumentException("snapshot." + key + " must be a non-negative integer, was " + v);
        }
        return v.asLong();
    }

    private static URI peerUri(JsonNode n) {
        if (!n.isTextual()) {
            throw new IllegalArgumentException("cluster.peers entries must be strings, was " + n);
        }
        try {
            URI u = new URI(n.asText());
            if (!"http".equals(u.getScheme()) || u.getHost() == null || u.getPort() <= 0) {
                throw new IllegalArgumentException("cluster.peers entry must look like http://host:port, was \""
                        + n.asText() + "\"");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("cluster.peers entry is not a URL: \"" + n.asText() + "\"", e);
        }
    }
}
