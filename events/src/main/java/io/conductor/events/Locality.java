package io.conductor.events;

/**
 * vLLM's {@code locality} of an offloaded block (FS / OBJ tiers, map form only).
 *
 * <p>Immutable; thread-safe.
 */
public enum Locality {
    ABSENT,
    LOCAL,
    REMOTE,
    OTHER
}
