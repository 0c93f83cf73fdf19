package io.conductor.daemon.service;

import io.conductor.daemon.registry.ServiceRegistration;
import org.jspecify.annotations.Nullable;

/**
 * Saved streams waiting for their registration (a snapshot loaded at start): {@link IndexedStreams} asks once per
 * engine registration, after registering its rank and before subscribing. Implementations must be thread-safe.
 */
@FunctionalInterface
public interface RestoreSource {
    /** No snapshot: nothing is ever restored. */
    RestoreSource NONE = registration -> null;

    /**
     * Hands over, at most once, what was saved for this registration's stream, when the saved stream is the same
     * one (same context, hash profile and endpoint).
     *
     * @param registration the registration being started
     * @return the saved stream, or {@code null}
     */
    @Nullable SavedStream claim(ServiceRegistration registration);
}
