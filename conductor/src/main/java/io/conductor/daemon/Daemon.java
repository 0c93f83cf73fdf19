package io.conductor.daemon;

import io.conductor.daemon.config.ConductorConfig;
import io.javalin.Javalin;
import io.prometheus.metrics.core.metrics.Info;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running conductor daemon: one HTTP server (Javalin) serving the daemon's own routes and those of its
 * {@link DaemonExtension}s, one Prometheus registry, the readiness checks and the shutdown steps.
 *
 * <p>Usage (what {@link Main} does; tests do the same in-process on port 0):
 * <pre>{@code
 * Daemon daemon = Daemon.start(settings, config, List.of(apiExtension, eventsExtension));
 * try {
 *     ... daemon.port() ...
 * } finally {
 *     daemon.stop();
 * }
 * }</pre>
 *
 * <p>Thread-safety: thread-safe. {@link #start} runs the extensions' {@code install} on the calling thread; HTTP
 * handlers run on Jetty's pool; {@link #stop} may be called from any thread (the shutdown hook, a test) and is
 * idempotent.
 */
/*
 * Lifecycle:
 *   1. create the registry (JVM and process metrics) and the Javalin app with /health, /ready, /metrics;
 *   2. install each extension in order (routes, meters, readiness checks, shutdown steps);
 *   3. bind the HTTP server; a bind failure stops what step 2 started and fails the start, naming the port.
 * Stop: HTTP first (no new requests reach components that are about to stop), then the shutdown steps in reverse
 * order of registration, so a component registered after its dependencies stops before them.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);
    private static final Logger REQUEST_LOG = LoggerFactory.getLogger("io.conductor.daemon.http");

    private final DaemonSettings settings;
    private final ConductorConfig config;
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final ReadinessChecks readiness = new ReadinessChecks();
    private final ShutdownSequence shutdownSteps = new ShutdownSequence();
    private final Javalin app;
    private final long startNanos = System.nanoTime();
    private final AtomicBoolean stopped = new AtomicBoolean();
    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private final Object stopRequestLock = new Object();
    private int requestedExitStatus;
    private boolean stopRequestMade;

    private Daemon(DaemonSettings settings, ConductorConfig config) {
        this.settings = settings;
        this.config = config;
        JvmMetrics.builder().register(registry);
        Info.builder()
            .name("conductor_build_info")
            .help("Version of the running conductor; always 1")
            .labelNames("version")
            .register(registry)
            .addLabelValues(settings.version());
        this.app = Javalin.create(javalin -> {
            javalin.showJavalinBanner = false;
            javalin.startupWatcherEnabled = false;
            QueuedThreadPool pool = httpThreadPool();
            if (pool != null) {
                javalin.jetty.threadPool = pool;
            }
            // Jetty's stop timeout stays 0: stop closes connections at once. A graceful drain would buy little
            // (requests are short) and, when set, turns a bind failure into an unrelated "STOPPED" error.
            javalin.requestLogger.http((ctx, millis) -> {
                if (REQUEST_LOG.isDebugEnabled()) {
                    REQUEST_LOG.debug("event=http_request method={} path={} status={} elapsed_ms={}",
                        ctx.method(), io.conductor.daemon.api.LogText.escape(ctx.path()), ctx.statusCode(),
                        String.format("%.2f", millis));
                }
            });
        });
        new CoreRoutes(settings.version(), startNanos, readiness, registry).install(app);
    }

    /**
     * Jetty's request thread pool when a system property sizes it ({@code conductor.http.maxThreads},
     * {@code conductor.http.minThreads}, {@code conductor.http.reservedThreads}; for measurements, see
     * BENCHMARKS.md), else {@code null}: Javalin's default pool (250 threads at most, 8 kept, reserved threads
     * sized by Jetty).
     */
    private static @Nullable QueuedThreadPool httpThreadPool() {
        Integer max = Integer.getInteger("conductor.http.maxThreads");
        Integer min = Integer.getInteger("conductor.http.minThreads");
        Integer reserved = Integer.getInteger("conductor.http.reservedThreads");
        if (max == null && min == null && reserved == null) {
            return null;
        }
        int maxThreads = max != null ? max : 250;
        QueuedThreadPool pool = new QueuedThreadPool(maxThreads, Math.min(maxThreads, min != null ? min : 8),
                60_000, reserved != null ? reserved : -1, null, null);
        pool.setName("JettyServerThreadPool");
        return pool;
    }

    /**
     * Creates the daemon, installs the extensions and binds the HTTP server.
     *
     * @param settings   host, port and version
     * @param config     the loaded configuration
     * @param extensions installed in list order
     * @return the running daemon
     * @throws DaemonStartException when an extension fails to install or the HTTP server cannot bind; the shutdown
     *                              steps registered so far have run and nothing is left running
     */
    public static Daemon start(DaemonSettings settings, ConductorConfig config,
                               List<? extends DaemonExtension> extensions) throws DaemonStartException {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(config, "config");
        Daemon daemon = new Daemon(settings, config);
        DaemonContext context = daemon.new Context();
        for (DaemonExtension extension : extensions) {
            try {
                extension.install(context);
            } catch (Exception e) {
                daemon.shutdownSteps.runAll();
                throw new DaemonStartException("cannot start " + extension.getClass().getName() + ": " + e, e);
            }
        }
        try {
            daemon.app.start(settings.host(), settings.httpPort());
        } catch (Exception e) { // Javalin (Kotlin) can throw undeclared checked exceptions from Jetty
            try {
                daemon.app.stop();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            daemon.shutdownSteps.runAll();
            throw new DaemonStartException("cannot listen on " + settings.host() + ":" + settings.httpPort()
                + " (choose another port with --port or http_server_port): " + rootMessage(e), e);
        }
        LOG.info("event=http_started host={} port={} subscriptions={} version={}",
            settings.host(), daemon.port(), config.subscriptions().size(), settings.version());
        return daemon;
    }

    /**
     * Returns the port the HTTP server is bound to (the real one when 0 was asked for).
     *
     * @return the port
     */
    public int port() {
        return app.port();
    }

    /**
     * Returns the daemon's metrics registry.
     *
     * @return the registry served at {@code /metrics}
     */
    public PrometheusRegistry registry() {
        return registry;
    }

    /**
     * Returns the configuration the daemon runs with.
     *
     * @return the configuration
     */
    public ConductorConfig config() {
        return config;
    }

    /**
     * Returns the settings the daemon runs with.
     *
     * @return the settings
     */
    public DaemonSettings settings() {
        return settings;
    }

    /**
     * Blocks until an extension calls {@link DaemonContext#requestStop}.
     *
     * @return the requested exit status
     * @throws InterruptedException when the waiting thread is interrupted
     */
    public int awaitStopRequest() throws InterruptedException {
        stopRequested.await();
        return requestedExitStatus();
    }

    /**
     * Returns the exit status the process should end with: the one passed to the first
     * {@link DaemonContext#requestStop}, else 0 (a signal-triggered stop is a normal stop).
     *
     * @return the exit status
     */
    public int requestedExitStatus() {
        synchronized (stopRequestLock) {
            return requestedExitStatus;
        }
    }

    /**
     * Stops the daemon: the HTTP server first, then the shutdown steps, last registered first. Idempotent; later
     * calls return at once. Failures of single steps are logged and do not stop the sequence.
     */
    public void stop() {
        if (!stopped.compareAndSet(false, true)) {
            return;
        }
        long start = System.nanoTime();
        LOG.info("event=stopping");
        try {
            app.stop();
        } catch (Exception e) { // Javalin (Kotlin) can throw undeclared checked exceptions from Jetty
            LOG.warn("event=http_stop_failed error=\"{}\"", e.toString(), e);
        }
        shutdownSteps.runAll();
        LOG.info("event=stopped elapsed_ms={}", (System.nanoTime() - start) / 1_000_000);
    }

    /** Same as {@link #stop()}. */
    @Override
    public void close() {
        stop();
    }

    /** The innermost cause's message, e.g. the BindException's "Address already in use". */
    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        @Nullable String message = root.getMessage();
        return message != null ? message : root.toString();
    }

    /** The view extensions get; a separate object so that {@link Daemon} itself exposes no mutators. */
    private final class Context implements DaemonContext {
        @Override
        public Javalin http() {
            return app;
        }

        @Override
        public PrometheusRegistry metrics() {
            return registry;
        }

        @Override
        public ConductorConfig config() {
            return config;
        }

        @Override
        public DaemonSettings settings() {
            return settings;
        }

        @Override
        public void addReadinessCheck(String name, ReadinessCheck check) {
            readiness.add(Objects.requireNonNull(name, "name"), Objects.requireNonNull(check, "check"));
        }

        @Override
        public void addShutdownStep(String name, ShutdownStep step) {
            shutdownSteps.add(Objects.requireNonNull(name, "name"), Objects.requireNonNull(step, "step"));
        }

        @Override
        public void requestStop(int exitStatus, String reason) {
            synchronized (stopRequestLock) {
                if (stopRequestMade) {
                    return;
                }
                stopRequestMade = true;
                requestedExitStatus = exitStatus;
            }
            if (exitStatus == 0) {
                LOG.info("event=stop_requested exit_status=0 reason=\"{}\"", reason);
            } else {
                LOG.error("event=stop_requested exit_status={} reason=\"{}\"", exitStatus, reason);
            }
            stopRequested.countDown();
        }
    }
}
