package io.conductor.daemon.store;

import io.conductor.daemon.DaemonContext;
import io.conductor.daemon.DaemonExtension;
import io.conductor.daemon.ReadinessCheck;
import io.conductor.nativestore.NativeStoreConfig;
import io.conductor.nativestore.ProbeStatus;
import io.conductor.nativestore.StoreResidencyProbe;
import java.time.Instant;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Installs the Mooncake Store probe when {@code native_store.enabled} is true: starts it (connecting in the
 * background, so a missing library or an unreachable store never delays or fails startup), attaches it to the
 * {@link StoreTier} that queries and Mooncake event streams consult, exports its metrics, adds the
 * {@code store_probe} readiness check and closes it on stop. With the probe off it installs nothing.
 *
 * <p>Install this extension before the API extension that shares its {@link StoreTier}.
 *
 * <p>Thread-safety: {@link #install} runs once on the starting thread; the probe and the tier are thread-safe.
 */
public final class StoreProbeExtension implements DaemonExtension {
    /** Name of the readiness check in {@code GET /ready}. */
    public static final String READINESS_CHECK = "store_probe";

    private static final Logger LOG = LoggerFactory.getLogger(StoreProbeExtension.class);

    private final NativeStoreConfig config;
    private final StoreTier tier;

    /**
     * Creates the extension.
     *
     * @param config the validated {@code native_store} block ({@link NativeStoreBlock#read})
     * @param tier the tier to attach the probe to
     */
    public StoreProbeExtension(NativeStoreConfig config, StoreTier tier) {
        this.config = Objects.requireNonNull(config, "config");
        this.tier = Objects.requireNonNull(tier, "tier");
    }

    @Override
    public void install(DaemonContext context) {
        if (!config.enabled()) {
            LOG.info("event=store_probe_disabled");
            return;
        }
        StoreResidencyProbe probe = StoreResidencyProbe.start(config);
        context.addShutdownStep("store-probe", () -> {
            tier.detach();
            probe.close();
        });
        tier.attach(probe);
        context.metrics().register(new StoreProbeMetrics(probe));
        context.addReadinessCheck(READINESS_CHECK, () -> readiness(probe.status()));
        LOG.info("event=store_probe_started config=\"{}\"", config);
    }

    /**
     * Ready only while the configured probe is up: a daemon whose probe is connecting, down or closed answers
     * queries from events alone, without the store tier its operator configured, and a load balancer should know.
     * The detail says where the probe stands and, when down, why (the failing call and the library path).
     */
    static ReadinessCheck.Result readiness(ProbeStatus status) {
        String since = Instant.ofEpochMilli(status.sinceEpochMillis()).toString();
        return switch (status.state()) {
            case UP -> ReadinessCheck.Result.ready("store probe up since " + since + " (" + status.library() + ")");
            case CONNECTING -> ReadinessCheck.Result.notReady("store probe connecting since " + since + " ("
                    + status.library() + "); queries are answered from events meanwhile");
            case DOWN -> ReadinessCheck.Result.notReady("store probe down since " + since + ": " + status.reason()
                    + "; queries are answered from events, retrying with backoff (" + status.setupAttempts()
                    + " attempts so far)");
            case DISABLED -> ReadinessCheck.Result.ready("store probe disabled");
            case CLOSED -> ReadinessCheck.Result.notReady("store probe closed");
        };
    }
}
