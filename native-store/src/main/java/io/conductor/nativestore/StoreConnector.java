package io.conductor.nativestore;

import java.io.IOException;
import java.net.InetAddress;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns the store client's life: connects on its own thread ({@code native-store-connector}), retries a missing
 * library or failed setup with doubling backoff, health-checks while up, and publishes the client to query
 * threads only while it is healthy.
 *
 * <p>Threading: every state change runs on the connector thread or in {@link #close()}, under one lock. Query
 * threads only read {@link #live()} and {@link #status()}, both volatile. Up: {@code live()} is the client;
 * otherwise it is {@code null}.
 */
final class StoreConnector implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StoreResidencyProbe.class);

    private final NativeStoreConfig config;
    private final String library;
    private final @Nullable ScheduledExecutorService executor;
    private final Object lifecycle = new Object();
    private volatile @Nullable MooncakeStoreClient live;
    private volatile ProbeStatus status;
    private @Nullable MooncakeStoreClient client; // guarded by lifecycle
    private long attempts; // guarded by lifecycle
    private long retryDelayMillis; // guarded by lifecycle
    private String lastLoggedReason = ""; // guarded by lifecycle
    private boolean closed; // guarded by lifecycle

    StoreConnector(NativeStoreConfig config) {
        this.config = config;
        this.library = config.libraryPath().isEmpty() ? MooncakeStoreDescriptor.DEFAULT_LIBRARY_NAME
                : config.libraryPath();
        this.retryDelayMillis = config.retryInitialMillis();
        long now = System.currentTimeMillis();
        if (config.enabled()) {
            this.status = new ProbeStatus(ProbeStatus.State.CONNECTING, "connecting to " + library, now, 0,
                    library);
            this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "native-store-connector");
                t.setDaemon(true);
                return t;
            });
        } else {
            this.status = new ProbeStatus(ProbeStatus.State.DISABLED, "native_store.enabled is false", now, 0,
                    library);
            this.executor = null;
        }
    }

    /** Starts the first connection attempt in the background; does nothing when disabled. */
    void start() {
        ScheduledExecutorService e = executor;
        if (e != null) {
            e.execute(this::connect);
        }
    }

    /** Returns the client while up, else {@code null}. */
    @Nullable MooncakeStoreClient live() {
        return live;
    }

    ProbeStatus status() {
        return status;
    }

    private void connect() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            attempts++;
            try {
                MooncakeStoreClient c = MooncakeStoreClient.open(config, localHostname(), false);
                int health = c.healthCheck();
                if (health != MooncakeStoreDescriptor.HEALTHY) {
                    c.close();
                    throw new StoreSetupException(library + ": mooncake_store_health_check returned " + health
                            + describeHealth(health) + " right after setup");
                }
                client = c;
                retryDelayMillis = config.retryInitialMillis();
                markUp();
                scheduleHealthCheck(config.healthCheckIntervalMillis());
            } catch (StoreSetupException | RuntimeException e) {
                markDown(e.getMessage() == null ? e.toString() : e.getMessage());
                scheduleRetry(this::connect);
            }
        }
    }

    private void healthCheck() {
        synchronized (lifecycle) {
            MooncakeStoreClient c = client;
            if (closed || c == null) {
                return;
            }
            int health;
            try {
                health = c.healthCheck();
            } catch (RuntimeException e) {
                health = MooncakeStoreDescriptor.HEALTH_NOT_INITIALIZED;
            }
            if (health == MooncakeStoreDescriptor.HEALTHY) {
                retryDelayMillis = config.retryInitialMillis();
                if (live == null) {
                    markUp();
                }
                scheduleHealthCheck(config.healthCheckIntervalMillis());
                return;
            }
            String reason = library + ": mooncake_store_health_check returned " + health + describeHealth(health);
            if (health == MooncakeStoreDescriptor.HEALTH_MASTER_UNREACHABLE) {
                markDown(reason);
                scheduleRetry(this::healthCheck);
            } else {
                markDown(reason + "; reconnecting");
                live = null;
                client = null;
                c.close();
                scheduleRetry(this::connect);
            }
        }
    }

    private static String describeHealth(int health) {
        return switch (health) {
            case MooncakeStoreDescriptor.HEALTH_NOT_INITIALIZED -> " (not initialised or closed)";
            case MooncakeStoreDescriptor.HEALTH_MASTER_UNREACHABLE -> " (master unreachable)";
            default -> "";
        };
    }

    private void markUp() {
        live = client;
        status = new ProbeStatus(ProbeStatus.State.UP, "", System.currentTimeMillis(), attempts, library);
        lastLoggedReason = "";
        LOG.info("native store probe up: {} (master {}, metadata {}, protocol {})", library,
                config.masterServerAddress(), config.metadataServer(), config.protocol());
    }

    private void markDown(String reason) {
        live = null;
        ProbeStatus previous = status;
        long since = previous.state() == ProbeStatus.State.DOWN ? previous.sinceEpochMillis()
                : System.currentTimeMillis();
        status = new ProbeStatus(ProbeStatus.State.DOWN, reason, since, attempts, library);
        if (!reason.equals(lastLoggedReason)) {
            LOG.error("native store probe down, serving from events only; retrying with backoff: {}", reason);
            lastLoggedReason = reason;
        } else {
            LOG.debug("native store probe still down (attempt {}): {}", attempts, reason);
        }
    }

    private void scheduleRetry(Runnable task) {
        long delay = retryDelayMillis;
        retryDelayMillis = Math.min(config.retryMaxMillis(), delay * 2);
        Objects.requireNonNull(executor).schedule(task, delay, TimeUnit.MILLISECONDS);
    }

    private void scheduleHealthCheck(long delayMillis) {
        Objects.requireNonNull(executor).schedule(this::healthCheck, delayMillis, TimeUnit.MILLISECONDS);
    }

    private String localHostname() {
        if (!config.localHostname().isEmpty()) {
            return config.localHostname();
        }
        try {
            return InetAddress.getLocalHost().getHostAddress();
        } catch (IOException e) {
            return "127.0.0.1";
        }
    }

    /** Stops the connector thread and destroys the client (after running native calls finish); idempotent. */
    @Override
    public void close() {
        ScheduledExecutorService e = executor;
        if (e != null) {
            e.shutdownNow();
        }
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            live = null;
            MooncakeStoreClient open = client;
            client = null;
            if (open != null) {
                open.close();
            }
            status = new ProbeStatus(ProbeStatus.State.CLOSED, "closed", System.currentTimeMillis(), attempts,
                    library);
        }
        if (e != null) {
            try {
                if (!e.awaitTermination(5, TimeUnit.SECONDS)) {
                    LOG.warn("native-store-connector did not stop within 5 s");
                }
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
