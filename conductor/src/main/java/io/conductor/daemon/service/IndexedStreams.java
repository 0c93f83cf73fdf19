package io.conductor.daemon.service;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.StreamLifecycle;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.ProfileConflictException;
import io.conductor.index.prefix.RankHandle;
import java.util.HashMap;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The registry's {@link StreamLifecycle} over the real prefix index: a vLLM registration registers its
 * (instance, rank) in its context (and lets the instance read every shared pool, as the reference credits pool
 * blocks to every instance of the context); a Mooncake registration opens a pool stream. Then the event
 * subscription starts. Unregistration stops the subscription first (no event applied afterwards), then removes
 * the rank or closes the pool stream, which removes everything it contributed.
 *
 * <p>An instance reads the pools while any of its engine registrations (one per DP rank and context) is active:
 * the declaration is withdrawn with the last one, so nothing of an unregistered instance stays in the index.
 *
 * <p>Thread-safe: handles are kept in a concurrent map; the per-instance registration counts are guarded by their
 * map's monitor (held across the index call, which never calls back); the index serializes its own mutations.
 */
public final class IndexedStreams implements StreamLifecycle {
    /** The index's profile key for contexts in token-rehash mode (a registration without hash_profile). */
    public static final HashProfileSpec REHASH_KEY = new HashProfileSpec("token_rehash", "sha256_cbor", "0", "", "");

    private record Handles(@Nullable RankHandle rank, @Nullable PoolStream pool) {
    }

    private final PrefixIndex<HashProfileSpec> index;
    private final EventStreams events;
    private final RestoreSource restores;
    private final ConcurrentHashMap<ServiceKey, Handles> handles = new ConcurrentHashMap<>();
    /** Active engine registrations per instance id, each holding the instance's pool-reader declaration. */
    private final HashMap<String, Integer> poolReaders = new HashMap<>();

    /**
     * Creates the lifecycle.
     *
     * @param index the prefix index
     * @param events the event subscriptions
     */
    public IndexedStreams(PrefixIndex<HashProfileSpec> index, EventStreams events) {
        this(index, events, RestoreSource.NONE);
    }

    /**
     * Creates the lifecycle with saved streams to restore: an engine registration whose stream was saved gets its
     * blocks back before its subscription starts, and the subscription resumes after the saved position.
     *
     * @param index the prefix index
     * @param events the event subscriptions
     * @param restores the saved streams
     */
    public IndexedStreams(PrefixIndex<HashProfileSpec> index, EventStreams events, RestoreSource restores) {
        this.index = Objects.requireNonNull(index, "index");
        this.events = Objects.requireNonNull(events, "events");
        this.restores = Objects.requireNonNull(restores, "restores");
    }

    /**
     * Returns the rank a registered engine stream applies its events to (snapshots export it).
     *
     * @param key the service key
     * @return the rank, or {@code null} when not registered or not an engine stream
     */
    public @Nullable RankHandle rank(ServiceKey key) {
        Handles h = handles.get(key);
        return h == null ? null : h.rank();
    }

    /**
     * Returns the profile key a registration binds its context to in the index.
     *
     * @param registration the registration
     * @return its profile, or {@link #REHASH_KEY}
     */
    public static HashProfileSpec profileKey(ServiceRegistration registration) {
        HashProfileSpec p = registration.profile();
        return p == null ? REHASH_KEY : p;
    }

    @Override
    public void start(ServiceRegistration registration) throws StreamException {
        RankHandle rank = null;
        PoolStream pool = null;
        ResumePoint resume = null;
        boolean reader = false;
        try {
            if (registration.type().isEngine()) {
                rank = index.register(registration.context(), profileKey(registration),
                        registration.kvCacheGroups(), registration.instanceId(), registration.dpRank());
                addPoolReader(registration.instanceId());
                reader = true;
                SavedStream saved = restores.claim(registration);
                if (saved != null) {
                    index.restoreRank(rank, saved.blocks());
                    resume = saved.resume();
                }
            } else {
                index.checkPoolProfile(registration.context(), profileKey(registration));
                pool = index.openPoolStream(registration.endpoint());
            }
            events.start(registration, index, rank, pool, resume);
        } catch (ProfileConflictException e) {
            throw new StreamException("registration conflicts with the ContextKey hash profile: " + e.getMessage(), e);
        } catch (StreamException | RuntimeException e) {
            release(rank, pool);
            if (reader) {
                removePoolReader(registration.instanceId());
            }
            throw e;
        }
        handles.put(registration.key(), new Handles(rank, pool));
    }

    @Override
    public void stopAndPurge(ServiceRegistration registration) throws StreamException {
        events.stop(registration);
        Handles h = handles.remove(registration.key());
        if (h != null) {
            release(h.rank(), h.pool());
            RankHandle rank = h.rank();
            if (rank != null) {
                removePoolReader(rank.instanceId());
            }
        }
    }

    private void addPoolReader(String instanceId) {
        synchronized (poolReaders) {
            if (poolReaders.merge(instanceId, 1, Integer::sum) == 1) {
                index.addPoolReader(instanceId, PrefixIndex.ANY_BACKEND);
            }
        }
    }

    private void removePoolReader(String instanceId) {
        synchronized (poolReaders) {
            Integer n = poolReaders.get(instanceId);
            if (n == null) {
                return;
            }
            if (n > 1) {
                poolReaders.put(instanceId, n - 1);
                return;
            }
            poolReaders.remove(instanceId);
            index.removePoolReader(instanceId, PrefixIndex.ANY_BACKEND);
        }
    }

    private void release(@Nullable RankHandle rank, @Nullable PoolStream pool) {
        if (rank != null) {
            index.unregister(rank);
        }
        if (pool != null) {
            index.closePoolStream(pool);
        }
    }
}
