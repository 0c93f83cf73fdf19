package io.conductor.daemon;

/**
 * A part of the daemon that plugs into it at startup: the HTTP API, the event subscriptions, the native-store
 * probe. {@link Daemon#start} calls {@link #install} once for each extension, in list order, on the starting
 * thread, before the HTTP server binds.
 *
 * <p>Thread-safety: {@code install} is called once, from the starting thread, so an implementation needs no
 * synchronisation of its own for installation; anything it hands to other threads (route handlers, readiness
 * checks) must be thread-safe. Implementations are usually stateless installers; whatever they create (threads,
 * sockets) they stop in a {@link ShutdownStep} registered through the context.
 */
@FunctionalInterface
public interface DaemonExtension {
    /**
     * Installs routes, metrics, readiness checks and shutdown steps.
     *
     * @param context the daemon being started
     * @throws Exception when the extension cannot start; the daemon then runs the shutdown steps registered so far
     *                   and fails to start with this exception as the cause
     */
    void install(DaemonContext context) throws Exception;
}
