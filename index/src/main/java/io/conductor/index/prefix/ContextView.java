package io.conductor.index.prefix;

import java.util.List;
import java.util.Map;

/**
 * One context as {@code GET /global_view} shows it. Immutable.
 *
 * @param key         the context
 * @param profile     the hash profile bound by the first registration
 * @param prefixCount distinct (block hash, LoRA) entries with at least one owner on any tier
 * @param pairs       (block, owner) pairs
 * @param instances   registered instances (sorted) to their DP ranks (ascending); pools never appear here
 * @param loraNames   LoRA names seen in this context ({@code ""} = base model first)
 * @param backends    pool backend ids that stored blocks in this context
 * @param <P>         the profile type
 */
public record ContextView<P>(ContextKey key, P profile, long prefixCount, long pairs,
        Map<String, List<Integer>> instances, List<String> loraNames, List<String> backends) {
    /** Copies the collections. */
    public ContextView {
        instances = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(instances));
        loraNames = List.copyOf(loraNames);
        backends = List.copyOf(backends);
    }
}
