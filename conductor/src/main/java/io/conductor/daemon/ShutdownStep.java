package io.conductor.daemon;

/**
 * Something to stop when the daemon stops (subscriptions, probes, executors). Steps run after the HTTP server has
 * stopped, in reverse order of registration, one at a time on the shutdown thread. A step should finish well within
 * a second: the whole stop has a budget of about 4 seconds, after which the process exits regardless.
 * Thread-safety: {@link #stop()} runs on the shutdown thread (or the thread calling {@link Daemon#stop()}), not on
 * the thread that registered the step, so it must only touch state that is safe to reach from another thread.
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
