package io.conductor.daemon.service;

import io.conductor.daemon.ReadinessCheck;
import io.conductor.daemon.registry.ServiceKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The {@code subscriptions} check of {@code GET /ready}: ready once every static subscription (an entry of the
 * config file) has completed a connection to its publisher at least once. A later disconnect does not make the
 * daemon unready again (the index still serves what it holds, and replay repairs the gap on reconnect); an entry
 * that could not be registered at start never connects, so it keeps the daemon unready and is named in the detail
 * with its error. A static entry unregistered through the API since is no longer expected.
 *
 * <p>Thread-safety: {@link #check()} runs on HTTP request threads; the "connected once" latch is a concurrent set
 * and the expectations are fixed at construction.
 */
final class StaticSubscriptionReadiness implements ReadinessCheck {
    /** What a static entry's stream looks like now: {@code null} when it has none (never started or removed). */
    enum Connection { CONNECTED, NOT_CONNECTED }

    /**
     * One static entry.
     *
     * @param entry the entry name in the config file
     * @param key the service key it registered (or would have)
     * @param endpoint its live endpoint
     * @param registrationError why it could not be registered at start, or {@code null} when it was
     */
    record Expected(String entry, ServiceKey key, String endpoint, @Nullable String registrationError) {
        Expected {
            Objects.requireNonNull(entry, "entry");
            Objects.requireNonNull(key, "key");
            Objects.requireNonNull(endpoint, "endpoint");
        }
    }

    private final List<Expected> expected;
    private final Function<ServiceKey, @Nullable Connection> connection;
    private final Set<ServiceKey> connectedOnce = ConcurrentHashMap.newKeySet();

    /**
     * Creates the check.
     *
     * @param expected every static entry, in config order
     * @param connection the current connection of a key's stream, {@code null} when it has no stream
     */
    StaticSubscriptionReadiness(List<Expected> expected, Function<ServiceKey, @Nullable Connection> connection) {
        this.expected = List.copyOf(expected);
        this.connection = Objects.requireNonNull(connection, "connection");
    }

    @Override
    public Result check() {
        List<String> missing = new ArrayList<>();
        int connected = 0;
        int required = 0;
        for (Expected e : expected) {
            if (e.registrationError() != null) {
                required++;
                missing.add(e.entry() + " (" + e.endpoint() + "): not subscribed: " + e.registrationError());
                continue;
            }
            if (connectedOnce.contains(e.key())) {
                required++;
                connected++;
                continue;
            }
            Connection now = connection.apply(e.key());
            if (now == null) {
                continue; // unregistered through the API since start: no longer expected
            }
            required++;
            if (now == Connection.CONNECTED) {
                connectedOnce.add(e.key());
                connected++;
            } else {
                missing.add(e.entry() + " (" + e.endpoint() + "): never connected yet");
            }
        }
        String summary = connected + " of " + required + " static subscriptions connected at least once";
        return missing.isEmpty() ? Result.ready(summary)
                : Result.notReady(summary + "; missing: " + String.join("; ", missing));
    }
}
