package io.conductor.daemon.snapshot;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.service.AppliedPosition;
import io.conductor.daemon.service.IndexedStreams;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.RankBlocks;
import io.conductor.index.prefix.RankHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Takes a snapshot of the running index: for every registered engine stream, its rank's blocks (through
 * {@link PrefixIndex#exportRank}) and the position they reflect; for a stream in token-rehash mode (no
 * {@code hash_profile}) also its rehasher's engine-to-own hash map, captured between two of its batches together
 * with its blocks, so the engine's later removals of restored blocks still translate. Mooncake store streams are
 * not saved: their pool bindings live outside the ranks, so they bootstrap from replay as before.
 *
 * <p>Thread-safe: each stream is exported under the index's writer lock; streams keep applying meanwhile, and
 * each stream's part is consistent with its own position (see {@link #take}).
 */
public final class SnapshotTaker {
    private static final int ATTEMPTS = 3;
    /** How long a snapshot waits for a token-rehash stream's batch in progress before leaving the stream out. */
    private static final long REHASH_CAPTURE_WAIT_MILLIS = 10_000;

    private final ServiceRegistry registry;
    private final IndexedStreams streams;
    private final ZmqEventStreams events;
    private final PrefixIndex<HashProfileSpec> index;

    /**
     * Creates the taker.
     *
     * @param registry the service registry (which streams exist)
     * @param streams  the lifecycle holding each stream's rank
     * @param events   the subscriptions (positions, states)
     * @param index    the index
     */
    public SnapshotTaker(ServiceRegistry registry, IndexedStreams streams, ZmqEventStreams events,
            PrefixIndex<HashProfileSpec> index) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.streams = Objects.requireNonNull(streams, "streams");
        this.events = Objects.requireNonNull(events, "events");
        this.index = Objects.requireNonNull(index, "index");
    }

    /**
     * The string form of a hash profile stored in snapshots; a restore requires an equal one.
     *
     * @param profile the profile
     * @return its canonical string
     */
    public static String profileString(HashProfileSpec profile) {
        return profile.strategy() + "|" + profile.algorithm() + "|" + profile.pythonHashSeed() + "|"
                + profile.rootDigest() + "|" + profile.indexProjection();
    }

    /**
     * Takes the snapshot. For each stream: read the epoch and the last applied seq, export the blocks, read the
     * epoch again; a reset in between (the epoch moved) retries, so the blocks include at least every batch up to
     * the seq. A stream that keeps resetting is left out.
     *
     * @return the snapshot
     */
    public IndexSnapshot take() {
        List<ServiceRegistration> regs = new ArrayList<>();
        List<RankHandle> ranks = new ArrayList<>();
        List<AppliedPosition> before = new ArrayList<>();
        for (RegistrySnapshot.Service service : registry.snapshot().services()) {
            ServiceRegistration r = service.registration();
            RankHandle rank = r.type().isEngine() && r.profile() != null ? streams.rank(r.key()) : null;
            AppliedPosition p = rank == null ? null : events.position(r.key());
            if (p != null) {
                regs.add(r);
                ranks.add(rank);
                before.add(p);
            }
        }
        // Every rank in one pass per context table; a stream whose epoch moved meanwhile is retried alone.
        List<RankBlocks> blocks = index.exportRanks(ranks);
        List<StreamSnapshot> out = new ArrayList<>();
        for (RegistrySnapshot.Service service : registry.snapshot().services()) {
            ServiceRegistration r = service.registration();
            if (r.type().isEngine() && r.profile() == null) {
                StreamSnapshot s = rehashStream(r);
                if (s != null) {
                    out.add(s);
                }
            }
        }
        for (int i = 0; i < regs.size(); i++) {
            ServiceRegistration r = regs.get(i);
            AppliedPosition after = events.position(r.key());
            if (after == null || !ranks.get(i).isActive()) {
                continue;
            }
            StreamSnapshot s = after.epoch() == before.get(i).epoch()
                    ? stream(r, before.get(i), blocks.get(i)) : takeStream(r);
            if (s != null) {
                out.add(s);
            }
        }
        return new IndexSnapshot(System.currentTimeMillis(), out);
    }

    private StreamSnapshot stream(ServiceRegistration r, AppliedPosition position, RankBlocks blocks) {
        boolean stale = "stale".equals(events.streamState(r.key()));
        return new StreamSnapshot(r.key(), r.context(), profileString(java.util.Objects.requireNonNull(r.profile())),
                StreamSnapshot.layoutString(r.kvCacheGroups()), r.endpoint(), position.seq(), position.epoch(), stale, blocks);
    }

    private @Nullable StreamSnapshot rehashStream(ServiceRegistration r) {
        RankHandle rank = streams.rank(r.key());
        if (rank == null) {
            return null;
        }
        ZmqEventStreams.RehashState state;
        try {
            state = events.captureRehash(r.key(), () -> index.exportRank(rank), REHASH_CAPTURE_WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (state == null || !rank.isActive()) {
            return null;
        }
        boolean stale = "stale".equals(events.streamState(r.key()));
        return new StreamSnapshot(r.key(), r.context(), StreamSnapshot.TOKEN_REHASH,
                StreamSnapshot.layoutString(r.kvCacheGroups()), r.endpoint(), state.position().seq(),
                state.position().epoch(), stale, state.blocks(), state.rehash());
    }

    private @Nullable StreamSnapshot takeStream(ServiceRegistration r) {
        HashProfileSpec profile = r.profile();
        if (!r.type().isEngine() || profile == null) {
            return null;
        }
        RankHandle rank = streams.rank(r.key());
        if (rank == null) {
            return null;
        }
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            AppliedPosition before = events.position(r.key());
            if (before == null) {
                return null;
            }
            RankBlocks blocks = index.exportRank(rank);
            AppliedPosition after = events.position(r.key());
            if (after == null || !rank.isActive()) {
                return null;
            }
            if (after.epoch() == before.epoch()) {
                return stream(r, before, blocks);
            }
        }
        return null;
    }
}
