package io.conductor.daemon.cluster;

import io.conductor.daemon.api.ApiException;
import io.conductor.daemon.api.ConductorService;
import io.conductor.daemon.api.PromptQuery;
import io.conductor.daemon.api.QueryResult;
import io.conductor.daemon.api.Reason;
import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.daemon.warmup.StartupWarmup;
import io.conductor.index.prefix.ContextKey;
import io.etcd.jetcd.Watch;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A replica's {@link ConductorService} when registrations are shared through etcd: {@code /register} registers
 * locally (so validation and errors are today's), then stores the registration in etcd with a transaction that
 * only creates the key; when another replica's registration of the key won, the local one is undone and the
 * caller gets today's conflict error. {@code /unregister} deletes the key in etcd, then unregisters locally. Both
 * answer 503 ({@code cluster_unavailable}) when etcd cannot be reached, and change nothing. Queries and views
 * never touch etcd: they serve from memory whatever etcd's state.
 *
 * <p>Convergence: a watch applies other replicas' changes as they happen; a reconcile (list everything, register
 * what is missing, unregister dynamic registrations etcd no longer has) runs at start, after every watch failure
 * and every {@link #RECONCILE_INTERVAL}, retrying with backoff while etcd is down. Static config entries are per
 * replica: never removed by a reconcile or a watch event.
 *
 * <p>Thread-safety: every registry change made here, from an HTTP thread or the sync thread, holds one lock, so a
 * rollback never undoes a registration a watch event made meanwhile.
 */
public final class ClusteredConductorService implements ConductorService, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusteredConductorService.class);
    /** Time between full reconciles (the watch normally converges within milliseconds). */
    static final long RECONCILE_INTERVAL_MILLIS = 5_000;
    private static final long RECONCILE_INTERVAL = RECONCILE_INTERVAL_MILLIS;
    private static final long MIN_BACKOFF_MILLIS = 250;
    private static final long MAX_BACKOFF_MILLIS = 5_000;

    private final ConductorService local;
    private final SharedRegistrations etcd;
    private final Set<ServiceKey> staticKeys;
    private final @Nullable String advertiseUrl;
    private final ReentrantLock lock = new ReentrantLock();
    private final ScheduledExecutorService sync = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "conductor-etcd-sync");
        t.setDaemon(true);
        return t;
    });
    private Watch.@Nullable Watcher watcher;
    private volatile boolean connected;
    private volatile boolean loadedOnce;
    private volatile @Nullable String lastError;
    private long backoffMillis = MIN_BACKOFF_MILLIS;

    /**
     * Creates the service; call {@link #start} once the static entries are registered.
     *
     * @param local        the replica's own service
     * @param settings     the cluster settings
     * @param staticKeys   service keys of the static config entries
     * @param advertiseUrl this replica's base URL for peers, or {@code null} to not announce membership
     */
    public ClusteredConductorService(ConductorService local, ClusterSettings settings, Set<ServiceKey> staticKeys,
            @Nullable String advertiseUrl) {
        this.local = Objects.requireNonNull(local, "local");
        this.etcd = new SharedRegistrations(settings);
        this.staticKeys = Set.copyOf(staticKeys);
        this.advertiseUrl = advertiseUrl;
    }

    /**
     * Returns the base URLs of the replicas holding a membership lease (one attempt; for peer bootstrap).
     *
     * @return the URLs; empty when etcd cannot be reached
     */
    public List<String> members() {
        try {
            return etcd.members();
        } catch (ClusterUnavailableException e) {
            LOG.warn("event=etcd_members_unavailable error=\"{}\"", e.getMessage());
            return List.of();
        }
    }

    /**
     * Lists the replicas holding a membership lease, with a short-lived client (used before the service exists,
     * to find peers to bootstrap from).
     *
     * @param settings the cluster settings
     * @return their base URLs; empty when etcd cannot be reached
     */
    public static List<String> members(ClusterSettings settings) {
        try (SharedRegistrations s = new SharedRegistrations(settings)) {
            return s.members();
        } catch (ClusterUnavailableException e) {
            LOG.warn("event=etcd_members_unavailable error=\"{}\"", e.getMessage());
            return List.of();
        }
    }

    /**
     * This replica's base URL for peers: {@code cluster.advertise_url}, else {@code http://HOST:PORT} (the
     * loopback address when bound to all interfaces).
     *
     * @param settings the cluster settings
     * @param host     the bind host
     * @param port     the HTTP port
     * @return the URL, or {@code null} when the port is ephemeral and none was configured
     */
    public static @Nullable String advertiseUrl(ClusterSettings settings, String host, int port) {
        if (settings.advertiseUrl() != null) {
            return settings.advertiseUrl();
        }
        if (port == 0) {
            return null;
        }
        String h = host.equals("0.0.0.0") || host.equals("::") || host.isEmpty() ? "127.0.0.1" : host;
        return "http://" + (h.contains(":") ? "[" + h + "]" : h) + ":" + port;
    }

    /** Loads etcd's registrations, starts the watch and the periodic reconcile; retries in the background. */
    public void start() {
        sync.execute(this::resync);
        sync.scheduleWithFixedDelay(this::reconcileQuietly, RECONCILE_INTERVAL, RECONCILE_INTERVAL,
                TimeUnit.MILLISECONDS);
    }

    /**
     * Tells whether etcd's registrations were loaded and the watch confirmed at least once (readiness).
     *
     * @return true once loaded
     */
    public boolean loadedOnce() {
        return loadedOnce;
    }

    /**
     * Tells whether the last etcd call succeeded.
     *
     * @return the connection state
     */
    public boolean connected() {
        return connected;
    }

    /**
     * Returns the last etcd failure, for readiness details.
     *
     * @return the message, or {@code null}
     */
    public @Nullable String lastError() {
        return lastError;
    }

    // ============================================================== sync thread

    /** Full reconcile, then a fresh watch from the listing's revision; on failure, again after a backoff. */
    private void resync() {
        Watch.@Nullable Watcher old = watcher;
        if (old != null) {
            old.close();
            watcher = null;
        }
        try {
            SharedRegistrations.Listing listing = etcd.list();
            reconcile(listing.registrations());
            watcher = etcd.watch(listing.revision() + 1, () -> loadedOnce = true,
                    changes -> sync.execute(() -> apply(changes)),
                    error -> {
                        LOG.warn("event=etcd_watch_failed error=\"{}\"; reconnecting", error.toString());
                        connected = false;
                        sync.execute(this::resync);
                    });
            if (advertiseUrl != null) {
                etcd.join(advertiseUrl);
            }
            markConnected();
            backoffMillis = MIN_BACKOFF_MILLIS;
        } catch (ClusterUnavailableException | RuntimeException e) {
            markDown(e);
            long delay = backoffMillis;
            backoffMillis = Math.min(MAX_BACKOFF_MILLIS, backoffMillis * 2);
            sync.schedule(this::resync, delay, TimeUnit.MILLISECONDS);
        }
    }

    private void reconcileQuietly() {
        if (!connected) {
            return; // resync's own retries are running
        }
        try {
            reconcile(etcd.list().registrations());
        } catch (ClusterUnavailableException | RuntimeException e) {
            markDown(e);
            sync.execute(this::resync);
        }
    }

    private void markConnected() {
        if (!connected) {
            LOG.info("event=etcd_connected");
        }
        connected = true;
        lastError = null;
    }

    private void markDown(Exception e) {
        if (connected || lastError == null) {
            LOG.warn("event=etcd_unavailable error=\"{}\"; serving from memory, registrations answer 503",
                    e.getMessage());
        }
        connected = false;
        lastError = e.getMessage();
    }

    private void reconcile(Map<ServiceKey, ServiceRegistration> desired) {
        lock.lock();
        try {
            for (RegistrySnapshot.Service s : local.registry().services()) {
                ServiceKey k = s.registration().key();
                if (!staticKeys.contains(k) && !localOnly(k) && !desired.containsKey(k)
                        && s.state() == RegistrySnapshot.State.ACTIVE) {
                    unregisterLocally(k, "no longer in etcd");
                }
            }
            for (ServiceRegistration r : desired.values()) {
                applyPut(r);
            }
        } finally {
            lock.unlock();
        }
    }

    private void apply(List<SharedRegistrations.Change> changes) {
        lock.lock();
        try {
            for (SharedRegistrations.Change c : changes) {
                ServiceRegistration r = c.registration();
                if (r != null) {
                    applyPut(r);
                } else if (!staticKeys.contains(c.key())) {
                    unregisterLocally(c.key(), "deleted in etcd");
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Makes the local registration of {@code r}'s key equal {@code r} (static entries are left alone). */
    private void applyPut(ServiceRegistration r) {
        ServiceRegistration current = localRegistration(r.key());
        if (r.equals(current) || staticKeys.contains(r.key())) {
            return;
        }
        if (current != null) {
            unregisterLocally(r.key(), "replaced in etcd");
        }
        try {
            local.register(r);
            LOG.info("event=etcd_registration_applied key={}", r.key());
        } catch (RegistrationException e) {
            LOG.warn("event=etcd_registration_failed key={} error=\"{}\"", r.key(), e.getMessage());
        }
    }

    private void unregisterLocally(ServiceKey key, String why) {
        try {
            local.unregister(key);
            LOG.info("event=etcd_unregistration_applied key={} reason=\"{}\"", key, why);
        } catch (UnregistrationException e) {
            if (e.kind() != UnregistrationException.Kind.NOT_FOUND) {
                LOG.warn("event=etcd_unregistration_failed key={} error=\"{}\"", key, e.getMessage());
            }
        }
    }

    private @Nullable ServiceRegistration localRegistration(ServiceKey key) {
        for (RegistrySnapshot.Service s : local.registry().services()) {
            if (s.registration().key().equals(key)) {
                return s.registration();
            }
        }
        return null;
    }

    // ============================================================== HTTP threads

    /**
     * The start-up warm-up's private stream ({@link StartupWarmup#TENANT}) is this replica's alone: it names a
     * loopback publisher that only this process can reach, so it is never written to etcd nor removed for being
     * absent there.
     */
    private static boolean localOnly(ServiceKey key) {
        return StartupWarmup.TENANT.equals(key.tenantId());
    }

    private static ApiException unavailable(ClusterUnavailableException e) {
        return ApiException.withReason(503, Reason.CLUSTER_UNAVAILABLE,
                "shared registration store (etcd) unavailable, nothing changed; retry later: " + e.getMessage());
    }

    @Override
    public ServiceRegistry.Outcome register(ServiceRegistration registration) throws RegistrationException {
        if (localOnly(registration.key())) {
            return local.register(registration);
        }
        lock.lock();
        try {
            ServiceRegistry.Outcome outcome = local.register(registration);
            ServiceRegistration winner;
            try {
                winner = etcd.putIfAbsent(registration);
            } catch (ClusterUnavailableException e) {
                markDown(e);
                if (outcome == ServiceRegistry.Outcome.CREATED) {
                    unregisterLocally(registration.key(), "etcd unavailable");
                }
                throw unavailable(e);
            }
            markConnected();
            if (winner != null) {
                if (outcome == ServiceRegistry.Outcome.CREATED) {
                    unregisterLocally(registration.key(), "another replica's registration won");
                }
                applyPut(winner);
                throw new RegistrationException(RegistrationException.Kind.INVALID,
                        "conflicting registration for service key: " + registration.key());
            }
            return outcome;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void unregister(ServiceKey key) throws UnregistrationException {
        if (localOnly(key)) {
            local.unregister(key);
            return;
        }
        lock.lock();
        try {
            boolean shared;
            try {
                shared = etcd.delete(key);
            } catch (ClusterUnavailableException e) {
                markDown(e);
                throw unavailable(e);
            }
            markConnected();
            try {
                local.unregister(key);
            } catch (UnregistrationException e) {
                if (!(shared && e.kind() == UnregistrationException.Kind.NOT_FOUND)) {
                    throw e;
                }
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public QueryResult query(PromptQuery query) {
        return local.query(query);
    }

    @Override
    public RegistrySnapshot registry() {
        return local.registry();
    }

    @Override
    public Map<ContextKey, Map<String, Long>> prefixCounts() {
        return local.prefixCounts();
    }

    @Override
    public @Nullable String streamState(ServiceKey key) {
        return local.streamState(key);
    }

    /**
     * Leaves the replica membership (revokes the lease) so peers see this replica's departure at once; the first
     * step of a clean stop. Registrations and the watch stay until {@link #close}.
     */
    public void leave() {
        etcd.leave();
    }

    @Override
    public void close() {
        sync.shutdownNow();
        Watch.@Nullable Watcher w = watcher;
        if (w != null) {
            w.close();
        }
        etcd.close();
    }
}
