package io.conductor.events;

/** vLLM's {@code locality} of an offloaded block (FS / OBJ tiers, map form only). */
public enum Locality {
    ABSENT,
    LOCAL,
    REMOTE,
    OTHER
}
