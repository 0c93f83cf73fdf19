package io.conductor.daemon;

/**
 * Something to stop when the daemon stops (subscriptions, probes, executors). Steps run after the HTTP server has
 * stopped, in reverse order of registration, one at a time on the shutdown thread. A step should finish well within
 * a second: the whole stop has a budget of about 4 seconds, after which the process exits regardless.
 */
@FunctionalInterface
public interface ShutdownStep {
    /**
     * Stops the component. Called at most once.
     *
     * @throws Exception on failure; it is logged and the remaining steps still run
     */
    void stop() throws Exception;
}
