package io.conductor.daemon.service;

import com.fasterxml.jackson.databind.JsonNode;
import io.conductor.daemon.DaemonContext;
import io.conductor.daemon.DaemonExtension;
import io.conductor.daemon.ReadinessCheck;
import io.conductor.daemon.api.ApiLimits;
import io.conductor.daemon.api.ApiMetrics;
import io.conductor.daemon.api.ApiRoutes;
import io.conductor.daemon.api.ApiSettings;
import io.conductor.daemon.api.LogText;
import io.conductor.daemon.api.RoutingModel;
import io.conductor.daemon.api.RoutingSettings;
import io.conductor.daemon.cluster.ClusterSettings;
import io.conductor.daemon.cluster.ClusteredConductorService;
import io.conductor.daemon.config.HashProfileConfig;
import io.conductor.daemon.config.SubscriptionConfig;
import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.KvRole;
import io.conductor.daemon.registry.RegistrationException;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.ServiceRegistry;
import io.conductor.daemon.registry.ServiceType;
import io.conductor.daemon.registry.UnregistrationException;
import io.conductor.daemon.snapshot.IndexSnapshots;
import io.conductor.daemon.snapshot.SnapshotSettings;
import io.conductor.daemon.snapshot.SnapshotTaker;
import io.conductor.daemon.store.StoreTier;
import io.conductor.events.TransportHealth;
import io.conductor.index.hash.HashProfile;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixIndexConfig;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.events.StreamStats;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Installs the conductor proper into the daemon shell: the prefix index (budget from the config's {@code index}
 * block), the service registry, the event subscriptions, the HTTP API routes and their metrics; then subscribes
 * every static config entry with the same rules as {@code POST /register} (failures are logged and counted, never
 * fatal, as the reference does). On stop, every subscription is unregistered (streams stopped first).
 *
 * <p>Thread-safety: {@link #install} runs once on the starting thread; what it creates is thread-safe.
 */
public final class ConductorApiExtension implements DaemonExtension {
    private static final Logger LOG = LoggerFactory.getLogger(ConductorApiExtension.class);

    private final Supplier<EventStreams> events;
    private final ApiLimits limits;
    private final StoreTier store;

    /**
     * Creates the extension.
     *
     * @param events creates the event subscriptions (called once at install)
     * @param limits API limits and admin key
     */
    public ConductorApiExtension(Supplier<EventStreams> events, ApiLimits limits) {
        this(events, limits, new StoreTier());
    }

    /**
     * Creates the extension with the Mooncake Store tier (queries add store hits; Mooncake store events reach the
     * probe's cache).
     *
     * @param events creates the event subscriptions (called once at install)
     * @param limits API limits and admin key
     * @param store the store tier, shared with {@link io.conductor.daemon.store.StoreProbeExtension}
     */
    public ConductorApiExtension(Supplier<EventStreams> events, ApiLimits limits, StoreTier store) {
        this.events = Objects.requireNonNull(events, "events");
        this.limits = Objects.requireNonNull(limits, "limits");
        this.store = Objects.requireNonNull(store, "store");
    }

    /**
     * The production wiring: admin key from the environment, default limits.
     *
     * @param events creates the event subscriptions
     * @return the extension
     */
    public static ConductorApiExtension withEnvironment(Supplier<EventStreams> events) {
        return new ConductorApiExtension(events, ApiLimits.fromEnvironment());
    }

    /**
     * The production wiring with the Mooncake Store tier.
     *
     * @param events creates the event subscriptions
     * @param store the store tier
     * @return the extension
     */
    public static ConductorApiExtension withEnvironment(Supplier<EventStreams> events, StoreTier store) {
        return new ConductorApiExtension(events, ApiLimits.fromEnvironment(), store);
    }

    @Override
    public void install(DaemonContext context) {
        PrefixIndex<HashProfileSpec> index = new PrefixIndex<>(indexConfig(context.config().index()));
        EventStreams streams = events.get();
        ClusterSettings cluster = ClusterSettings.from(context.config().cluster());
        String advertise = cluster == null ? null : ClusteredConductorService.advertiseUrl(cluster,
                context.settings().host(), context.config().httpPort());
        SnapshotSettings snapshotSettings = SnapshotSettings.from(context.config().snapshot(),
                context.config().cluster());
        if (cluster != null) {
            snapshotSettings = snapshotSettings.withMorePeers(ClusteredConductorService.members(cluster), advertise);
        }
        IndexSnapshots snapshots = (snapshotSettings.enabled() || cluster != null)
                && streams instanceof ZmqEventStreams
                ? IndexSnapshots.prepare(snapshotSettings, limits.adminApiKey()) : null;
        IndexedStreams indexed = new IndexedStreams(index, streams,
                snapshots == null ? RestoreSource.NONE : snapshots.restores());
        ServiceRegistry registry = new ServiceRegistry(indexed);
        LocalConductorService service = new LocalConductorService(registry, index, new QueryHashing(), streams,
                store);
        ClusteredConductorService clustered = cluster == null ? null
                : new ClusteredConductorService(service, cluster, staticKeys(context.config().subscriptions()),
                        advertise);
        ApiSettings api = ApiSettings.parse(context.config().api(), limits, Runtime.getRuntime().maxMemory());
        ApiMetrics apiMetrics = new ApiMetrics(context.metrics());
        apiMetrics.follow(registry);
        RoutingModel routing = new RoutingModel(RoutingSettings.parse(context.config().routing()), context.metrics());
        routing.follow(registry);
        ApiRoutes.install(context.http(), clustered != null ? clustered : service, api.limits(), apiMetrics,
                api.budget(), api.endpoints(), routing);
        context.addShutdownStep("conductor-routing", routing::close);
        LOG.info("event=api_limits max_body_bytes={} memory_budget_bytes={} request_memory_bytes={} "
                + "allow_wildcard_bind={} endpoint_allowlist={}", api.limits().maxBodyBytes(),
                api.budget().globalBytes(), api.budget().perRequestBytes(), api.endpoints().allowWildcardBind(),
                api.endpoints().allowlist().size());
        String exposure = ApiSettings.exposureWarning(context.settings().host(), api.limits().adminApiKey());
        if (exposure != null) {
            LOG.warn("event=api_exposed detail=\"{}\"", exposure);
        }
        IndexMetrics.register(context.metrics(), index, registry);
        if (streams instanceof ZmqEventStreams zmq) {
            EventMetrics.register(context.metrics(), zmq);
            zmq.decoratePoolSinks(store::tapPoolEvents);
            zmq.onStoredBlocks(routing.storedBlocksListener());
            // Out of memory (or another VM error) on the event path: some stream lost updates and the heap is no
            // longer trustworthy, so stop in order and let a supervisor restart us (replay rebuilds the index),
            // rather than serve a silently stale index. Readiness turns false at once, before the stop completes.
            zmq.onFatalError(t -> context.requestStop(ZmqEventStreams.FATAL_EXIT_STATUS,
                    "fatal error in an event poller: " + t));
            context.addReadinessCheck("event-pollers", () -> {
                Throwable fatal = zmq.fatalError();
                return fatal == null ? ReadinessCheck.Result.ready("ok")
                        : ReadinessCheck.Result.notReady("fatal poller error: " + fatal);
            });
            // A stalled or dead poller, or a JeroMQ I/O thread death the transport watch could not repair: the
            // index is frozen, so the daemon must not say ready (issue 15 point 6).
            context.addReadinessCheck("event-transport", () -> {
                TransportHealth health = zmq.transportHealth();
                return health.healthy()
                        ? ReadinessCheck.Result.ready("ok, " + health.rebuilds() + " transport rebuilds")
                        : ReadinessCheck.Result.notReady(health.problem());
            });
        }
        // Steps run in reverse order: unregister every subscription first, then close the subscriber.
        if (streams instanceof AutoCloseable closeable) {
            context.addShutdownStep("conductor-event-streams", closeable::close);
        }
        context.addShutdownStep("conductor-subscriptions", () -> unregisterAll(registry));
        int ok = 0;
        int failed = 0;
        List<StaticSubscriptionReadiness.Expected> expected = new ArrayList<>();
        for (SubscriptionConfig entry : context.config().subscriptions()) {
            ServiceKey key = new ServiceKey(entry.instanceId(), ServiceKey.normalizeTenant(entry.tenantId()),
                    entry.dpRank());
            try {
                registry.register(toRegistration(entry));
                ok++;
                expected.add(new StaticSubscriptionReadiness.Expected(entry.name(), key, entry.endpoint(), null));
            } catch (RegistrationException | RuntimeException e) {
                failed++;
                expected.add(new StaticSubscriptionReadiness.Expected(entry.name(), key, entry.endpoint(),
                        String.valueOf(e.getMessage())));
                LOG.warn("event=static_subscription_failed entry={} key={} error=\"{}\"", LogText.escape(entry.name()),
                        LogText.escape(entry.serviceKey()), LogText.escape(e.getMessage()));
            }
        }
        LOG.info("event=subscriptions success={} failed={}", ok, failed);
        if (clustered != null) {
            context.addShutdownStep("cluster", clustered::close);
            context.addReadinessCheck("cluster", () -> clustered.loadedOnce()
                    ? ReadinessCheck.Result.ready(clustered.connected() ? "etcd connected"
                            : "etcd unavailable, serving from memory: " + clustered.lastError())
                    : ReadinessCheck.Result.notReady("registrations not loaded from etcd yet: "
                            + clustered.lastError()));
            clustered.start();
        }
        if (snapshots != null && streams instanceof ZmqEventStreams zmq) {
            snapshots.start(context, new SnapshotTaker(registry, indexed, zmq, index), zmq,
                    clustered == null ? () -> true : clustered::loadedOnce);
        }
        context.addReadinessCheck("subscriptions", new StaticSubscriptionReadiness(expected, connection(streams,
                registry)));
        if (clustered != null) {
            // Registered last, so it runs first: peers stop seeing this replica before the final snapshot write.
            context.addShutdownStep("cluster-leave", clustered::leave);
        }
    }

    /**
     * How readiness sees a key's stream: from the ZMQ subscriber's connection events for real streams; for other
     * stream implementations (tests), a registered key counts as connected.
     */
    private static Function<ServiceKey, StaticSubscriptionReadiness.@Nullable Connection> connection(
            EventStreams streams, ServiceRegistry registry) {
        if (streams instanceof ZmqEventStreams zmq) {
            return key -> {
                StreamStats s = zmq.stats(key);
                if (s == null) {
                    return null;
                }
                return s.connected() ? StaticSubscriptionReadiness.Connection.CONNECTED
                        : StaticSubscriptionReadiness.Connection.NOT_CONNECTED;
            };
        }
        return key -> {
            for (RegistrySnapshot.Service s : registry.snapshot().services()) {
                if (s.registration().key().equals(key)) {
                    return StaticSubscriptionReadiness.Connection.CONNECTED;
                }
            }
            return null;
        };
    }

    private static Set<ServiceKey> staticKeys(List<SubscriptionConfig> entries) {
        Set<ServiceKey> keys = new HashSet<>();
        for (SubscriptionConfig entry : entries) {
            try {
                keys.add(toRegistration(entry).key());
            } catch (RuntimeException e) {
                // an entry that cannot be registered has no key to protect
            }
        }
        return keys;
    }

    private static void unregisterAll(ServiceRegistry registry) {
        for (RegistrySnapshot.Service s : registry.snapshot().services()) {
            try {
                registry.unregister(s.registration().key());
            } catch (UnregistrationException e) {
                LOG.warn("event=unregister_on_stop_failed key={} error=\"{}\"", LogText.escape(s.registration().key()),
                        LogText.escape(e.getMessage()));
            }
        }
    }

    /** {@code index.max_bytes} when given, else the index's default (a fraction of the heap). */
    static PrefixIndexConfig indexConfig(@Nullable JsonNode node) {
        if (node != null && node.path("max_bytes").canConvertToLong() && node.path("max_bytes").asLong() > 0) {
            return PrefixIndexConfig.withMaxBytes(node.path("max_bytes").asLong());
        }
        return PrefixIndexConfig.defaults();
    }

    /**
     * Converts a static config entry to a registration.
     *
     * @param entry the entry
     * @return the registration
     * @throws IllegalArgumentException if its hash profile cannot be resolved
     */
    public static ServiceRegistration toRegistration(SubscriptionConfig entry) {
        ServiceType type = ServiceType.fromWireName(entry.type().configName());
        if (type == null) {
            throw new IllegalArgumentException("unsupported service type: " + entry.type().configName());
        }
        HashProfileConfig p = entry.hashProfile();
        HashProfileSpec spec = null;
        if (p != null && (type != ServiceType.SGLANG || "sglang".equals(p.strategy()))) {
            HashProfile resolved = HashProfile.parse(p.strategy(), p.algorithm(), p.pythonHashSeed(),
                    p.indexProjection());
            spec = new HashProfileSpec(p.strategy(), p.algorithm(), p.pythonHashSeed(), resolved.rootDigestHex(),
                    p.indexProjection());
        }
        KvRole kvRole = KvRole.fromWireName(entry.kvRole());
        if (kvRole == null) {
            throw new IllegalArgumentException("unsupported kv_role: " + entry.kvRole());
        }
        return new ServiceRegistration(entry.endpoint(), entry.replayEndpoint(), type, entry.modelName(),
                entry.instanceId(), entry.tenantId(), entry.loraName(), entry.blockSize(), entry.dpRank(),
                entry.cacheGroup() == SubscriptionConfig.NO_CACHE_GROUP ? ServiceRegistration.NO_CACHE_GROUP
                        : entry.cacheGroup(), spec, entry.additionalSalt(),
                entry.loraId() == SubscriptionConfig.NO_LORA_ID ? ServiceRegistration.NO_LORA_ID : entry.loraId(),
                kvRole, entry.kvCacheGroups());
    }
}
