package io.conductor.daemon.snapshot;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches a snapshot from the first ready peer: {@code GET /ready} must answer 200, then {@code GET /snapshot}
 * (with {@code X-API-Key} when an admin key is set) is read whole, within the size limit, and decoded. A peer
 * that is down, not ready, refuses, or sends a bad snapshot is logged and the next one is tried.
 *
 * <p>Not thread-safe; used once, on the starting thread.
 */
public final class PeerBootstrap {
    private static final Logger LOG = LoggerFactory.getLogger(PeerBootstrap.class);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(3);
    private static final Duration SNAPSHOT_TIMEOUT = Duration.ofMinutes(2);

    private final List<URI> peers;
    private final long maxBytes;
    private final @Nullable String adminKey;

    /**
     * Creates the bootstrapper.
     *
     * @param peers    base URLs, tried in order
     * @param maxBytes largest snapshot accepted
     * @param adminKey the admin key sent as {@code X-API-Key}, or {@code null}
     */
    public PeerBootstrap(List<URI> peers, long maxBytes, @Nullable String adminKey) {
        this.peers = List.copyOf(peers);
        this.maxBytes = Math.min(maxBytes, Integer.MAX_VALUE - 16);
        this.adminKey = adminKey;
    }

    /** A snapshot and the peer it came from. */
    record Fetched(URI peer, IndexSnapshot snapshot, long bytes) {
    }

    /**
     * Tries each peer in order.
     *
     * @return the first snapshot obtained, or {@code null} when no peer gave one
     */
    @Nullable Fetched fetch() {
        if (peers.isEmpty()) {
            return null;
        }
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).build()) {
            for (URI peer : peers) {
                try {
                    Fetched f = fetchFrom(http, peer);
                    if (f != null) {
                        return f;
                    }
                } catch (IOException | SnapshotFormatException e) {
                    LOG.warn("event=peer_bootstrap_failed peer={} error=\"{}\"", peer, e.getMessage());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
        }
        return null;
    }

    private @Nullable Fetched fetchFrom(HttpClient http, URI peer)
            throws IOException, InterruptedException, SnapshotFormatException {
        HttpResponse<Void> ready = http.send(HttpRequest.newBuilder(peer.resolve("/ready")).timeout(READY_TIMEOUT)
                .GET().build(), HttpResponse.BodyHandlers.discarding());
        if (ready.statusCode() != 200) {
            LOG.info("event=peer_bootstrap_skipped peer={} reason=\"not ready ({})\"", peer, ready.statusCode());
            return null;
        }
        HttpRequest.Builder req = HttpRequest.newBuilder(peer.resolve("/snapshot")).timeout(SNAPSHOT_TIMEOUT).GET();
        if (adminKey != null) {
            req.header("X-API-Key", adminKey);
        }
        HttpResponse<InputStream> r = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = r.body()) {
            if (r.statusCode() != 200) {
                byte[] err = in.readNBytes(512);
                throw new IOException("GET /snapshot answered " + r.statusCode() + ": "
                        + new String(err, java.nio.charset.StandardCharsets.UTF_8));
            }
            long declared = r.headers().firstValueAsLong("Content-Length").orElse(-1);
            if (declared > maxBytes) {
                throw new IOException("snapshot of " + declared + " bytes exceeds snapshot.max_bytes " + maxBytes);
            }
            byte[] buf = new byte[(int) Math.max(64 * 1024, declared >= 0 ? declared : 0)];
            int n = 0;
            while (true) {
                if (n == buf.length) {
                    if (buf.length >= maxBytes) {
                        throw new IOException("snapshot exceeds snapshot.max_bytes " + maxBytes);
                    }
                    buf = Arrays.copyOf(buf, (int) Math.min(maxBytes, 2L * buf.length));
                }
                int k = in.read(buf, n, buf.length - n);
                if (k < 0) {
                    break;
                }
                n += k;
            }
            IndexSnapshot s = SnapshotCodec.read(buf, n);
            return new Fetched(Objects.requireNonNull(peer), s, n);
        }
    }
}
