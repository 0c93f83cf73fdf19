package io.conductor.daemon;

import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registered {@link ShutdownStep}s. Thread-safe: steps may be added from any thread; {@link #runAll()} takes
 * them all at once, so each step runs at most once even if {@code runAll} is called twice.
 */
final class ShutdownSequence {
    private static final Logger LOG = LoggerFactory.getLogger(ShutdownSequence.class);

    private record Named(String name, ShutdownStep step) {
    }

    private final List<Named> steps = new ArrayList<>();

    synchronized void add(String name, ShutdownStep step) {
        steps.add(new Named(name, step));
    }

    /**
     * Runs every step registered so far, last registered first. A step that throws an exception is logged and the
     * others still run; an {@link Error} is logged and rethrown.
     */
    void runAll() {
        List<Named> toRun;
        synchronized (this) {
            toRun = new ArrayList<>(steps);
            steps.clear();
        }
        for (int i = toRun.size() - 1; i >= 0; i--) {
            Named named = toRun.get(i);
            long start = System.nanoTime();
            try {
                named.step().stop();
                LOG.debug("event=shutdown_step step={} elapsed_ms={}", named.name(), millisSince(start));
            } catch (Exception e) {
                LOG.warn("event=shutdown_step_failed step={} error=\"{}\"", named.name(), e.toString(), e);
            } catch (Error e) {
                LOG.error("event=shutdown_step_failed step={} error=\"{}\"", named.name(), e.toString(), e);
                throw e;
            }
        }
    }

    private static long millisSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }
}
