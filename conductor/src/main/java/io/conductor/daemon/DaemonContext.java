package io.conductor.daemon;

import io.conductor.daemon.config.ConductorConfig;
import io.javalin.Javalin;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * What a {@link DaemonExtension} sees of the daemon it is installed into. Thread-safety: {@link #http()} may only be
 * used to add routes during {@link DaemonExtension#install}; the other methods are thread-safe and may be called at
 * any time.
 */
public interface DaemonContext {
    /**
     * Returns the HTTP server, not yet started during installation: add routes with {@code http().get(...)},
     * {@code http().post(...)}, exception handlers with {@code http().exception(...)}. The daemon itself serves
     * {@code /health}, {@code /ready} and {@code /metrics}.
     *
     * @return the Javalin application
     */
    Javalin http();

    /**
     * Returns the daemon's metrics registry, exposed at {@code GET /metrics}; it already holds the JVM and process
     * metrics. Register meters here once, at install time.
     *
     * @return the registry
     */
    PrometheusRegistry metrics();

    /**
     * Returns the loaded configuration (with {@code --port} applied).
     *
     * @return the configuration
     */
    ConductorConfig config();

    /**
     * Returns the process settings (bind host, port, version).
     *
     * @return the settings
     */
    DaemonSettings settings();

    /**
     * Adds a condition to {@code GET /ready}.
     *
     * @param name  a unique, stable name shown in the {@code /ready} body, e.g. {@code "subscriptions"}
     * @param check the condition
     * @throws IllegalArgumentException when a check of that name is already registered
     */
    void addReadinessCheck(String name, ReadinessCheck check);

    /**
     * Adds a step to run when the daemon stops (after the HTTP server; later-registered steps run first).
     *
     * @param name a short name for the logs, e.g. {@code "subscriptions"}
     * @param step the step
     */
    void addShutdownStep(String name, ShutdownStep step);

    /**
     * Asks the process to stop because of a fatal condition found after startup; the process then stops in order
     * and exits with {@code exitStatus}. The first request wins; a signal-triggered stop exits with 0.
     *
     * @param exitStatus the exit status, 1..125 for a failure
     * @param reason     what happened, logged at ERROR
     */
    void requestStop(int exitStatus, String reason);
}
