package io.conductor.daemon.registry;

import io.conductor.index.prefix.ContextKey;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import org.jspecify.annotations.Nullable;

/**
 * An immutable, consistent view of the registry, republished after every change so that queries read it without
 * a lock. Thread-safe.
 *
 * @param services every key with its state, sorted by key text
 * @param contexts every bound context, in no particular order
 */
public record RegistrySnapshot(List<Service> services, Map<ContextKey, Context> contexts) {
    /** The empty registry. */
    public static final RegistrySnapshot EMPTY = new RegistrySnapshot(List.of(), Map.of());

    /** The lifecycle state of a registered key. */
    public enum State {
        /** Subscribed; its events reach the index. */
        ACTIVE,
        /** Being stopped and cleaned up; the key and endpoint stay reserved. */
        UNREGISTERING,
        /** Cleanup failed; the key and endpoint stay reserved until an unregister retry succeeds. */
        QUARANTINED
    }

    /**
     * One registered key.
     *
     * @param registration what was registered
     * @param state its lifecycle state
     */
    public record Service(ServiceRegistration registration, State state) {
    }

    /**
     * One bound context.
     *
     * @param key the context
     * @param profile its hash profile, or {@code null} for token-rehash mode
     * @param instanceRanks for each active vLLM instance of the context (sorted by id), its ranks ascending
     * @param instanceRanksByLora the same, per registration {@code lora_name} (the reference's per-LoRA contexts)
     * @param loraNames the distinct {@code lora_name}s its registrations gave, sorted
     */
    public record Context(ContextKey key, @Nullable HashProfileSpec profile, SortedMap<String, int[]> instanceRanks,
            Map<String, SortedMap<String, int[]>> instanceRanksByLora, List<String> loraNames) {
    }
}
