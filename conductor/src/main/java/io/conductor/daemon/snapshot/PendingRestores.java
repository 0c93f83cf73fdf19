package io.conductor.daemon.snapshot;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.service.RestoreSource;
import io.conductor.daemon.service.ResumePoint;
import io.conductor.daemon.service.SavedStream;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The streams of a loaded snapshot, waiting for their registrations (static entries at start, dynamic ones as they
 * arrive). A saved stream is handed over once, and only to a registration of the same stream: same service key,
 * context, hash profile, group layout and endpoint; anything else is another publisher and its saved blocks are discarded
 * (counted and logged). {@link #discardUnclaimed} drops what no registration asked for, bounding how long a
 * snapshot's memory stays held.
 *
 * <p>Thread-safe: registrations may come from any HTTP thread.
 */
public final class PendingRestores implements RestoreSource {
    private static final Logger LOG = LoggerFactory.getLogger(PendingRestores.class);

    private final ConcurrentHashMap<ServiceKey, StreamSnapshot> pending = new ConcurrentHashMap<>();
    private final Set<ServiceKey> claimed = ConcurrentHashMap.newKeySet();
    private final AtomicLong restoredPairs = new AtomicLong();
    private final AtomicLong discarded = new AtomicLong();

    /**
     * Holds a snapshot's streams.
     *
     * @param snapshot the snapshot, or {@code null} for none
     */
    public PendingRestores(@org.jspecify.annotations.Nullable IndexSnapshot snapshot) {
        if (snapshot != null) {
            for (StreamSnapshot s : snapshot.streams()) {
                pending.put(s.key(), s);
            }
        }
    }

    @Override
    public @org.jspecify.annotations.Nullable SavedStream claim(ServiceRegistration registration) {
        StreamSnapshot s = pending.remove(registration.key());
        if (s == null) {
            return null;
        }
        HashProfileSpec profile = registration.profile();
        String why = !registration.type().isEngine() ? "not an engine stream"
                : profile == null && !StreamSnapshot.TOKEN_REHASH.equals(s.profile())
                        ? "registered without hash_profile, saved with one"
                : profile == null && s.rehash() == null ? "token-rehash stream saved without its rehash map"
                : profile != null && !SnapshotTaker.profileString(profile).equals(s.profile())
                        ? "hash profile differs"
                : !registration.context().equals(s.context()) ? "context differs"
                : !StreamSnapshot.layoutString(registration.kvCacheGroups()).equals(s.layout())
                        ? "KV-cache group layout differs"
                : !registration.endpoint().equals(s.endpoint()) ? "endpoint differs"
                : null;
        if (why != null) {
            discarded.incrementAndGet();
            LOG.warn("event=snapshot_stream_discarded key={} reason=\"{}\"", registration.key(), why);
            return null;
        }
        claimed.add(registration.key());
        restoredPairs.addAndGet(s.blocks().size());
        LOG.info("event=snapshot_stream_restored key={} blocks={} after_seq={} stale={}", registration.key(),
                s.blocks().size(), s.lastSeq(), s.stale());
        return new SavedStream(s.blocks(), s.lastSeq() >= 0 ? new ResumePoint(s.lastSeq(), s.stale(), s.rehash())
                : null);
    }

    /**
     * Drops every saved stream no registration claimed so far.
     *
     * @return how many were dropped
     */
    public int discardUnclaimed() {
        List<ServiceKey> keys = List.copyOf(pending.keySet());
        int n = 0;
        for (ServiceKey k : keys) {
            if (pending.remove(k) != null) {
                n++;
                LOG.info("event=snapshot_stream_unclaimed key={}", k);
            }
        }
        discarded.addAndGet(n);
        return n;
    }

    /**
     * Returns the streams restored so far.
     *
     * @return their keys
     */
    public Set<ServiceKey> claimed() {
        return Set.copyOf(claimed);
    }

    /**
     * Returns the (block, owner) pairs handed to registrations so far.
     *
     * @return the count
     */
    public long restoredPairs() {
        return restoredPairs.get();
    }

    /**
     * Returns the saved streams discarded (another publisher, or never claimed).
     *
     * @return the count
     */
    public long discarded() {
        return discarded.get();
    }
}
