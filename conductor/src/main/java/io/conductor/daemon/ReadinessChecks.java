package io.conductor.daemon;

import java.util.ArrayList;
import java.util.List;

/**
 * The registered {@link ReadinessCheck}s, in registration order. Thread-safe: registration is serialised and
 * publishes a new immutable list; evaluation reads the current list without locking.
 */
final class ReadinessChecks {
    /** One evaluated check. */
    record Evaluated(String name, ReadinessCheck.Result result) {
    }

    private record Named(String name, ReadinessCheck check) {
    }

    private volatile List<Named> checks = List.of();

    synchronized void add(String name, ReadinessCheck check) {
        if (name.isEmpty()) {
            throw new IllegalArgumentException("a readiness check needs a non-empty name");
        }
        for (Named existing : checks) {
            if (existing.name().equals(name)) {
                throw new IllegalArgumentException("a readiness check named \"" + name + "\" is already registered");
            }
        }
        List<Named> next = new ArrayList<>(checks);
        next.add(new Named(name, check));
        checks = List.copyOf(next);
    }

    /** Evaluates every check; a check that throws an exception counts as not ready. */
    List<Evaluated> evaluate() {
        List<Named> current = checks;
        List<Evaluated> results = new ArrayList<>(current.size());
        for (Named named : current) {
            ReadinessCheck.Result result;
            try {
                result = named.check().check();
            } catch (RuntimeException e) {
                result = ReadinessCheck.Result.notReady("check failed: " + e);
            }
            results.add(new Evaluated(named.name(), result));
        }
        return results;
    }
}
