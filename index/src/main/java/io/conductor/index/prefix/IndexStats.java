package io.conductor.index.prefix;

import java.util.Map;

/**
 * A snapshot of the index's counters for metrics, as published after the last applied batch. Immutable.
 *
 * @param contexts            live contexts
 * @param blocks              distinct (block hash, LoRA) entries over all contexts
 * @param pairs               (block, owner) pairs over all contexts
 * @param bytes               accounted bytes (tables, arenas, pool bindings); never above {@code maxBytes}
 * @param maxBytes            the budget
 * @param unknownRemovals     removals naming a block (or pool binding) the owner did not hold
 * @param evictedPairs        pairs evicted for the budget or a quota, in total
 * @param droppedForBudget    block stores dropped because nothing could be evicted to make room
 * @param droppedEvents       ops skipped: unregistered handle, closed stream, missing context, LoRA limit
 * @param evictionsByInstance evicted pairs per instance id (rank owners)
 * @param evictionsByBackend  evicted pairs per pool backend id
 */
public record IndexStats(int contexts, long blocks, long pairs, long bytes, long maxBytes, long unknownRemovals,
        long evictedPairs, long droppedForBudget, long droppedEvents, Map<String, Long> evictionsByInstance,
        Map<String, Long> evictionsByBackend) {
    /** Copies the maps. */
    public IndexStats {
        evictionsByInstance = Map.copyOf(evictionsByInstance);
        evictionsByBackend = Map.copyOf(evictionsByBackend);
    }
}
