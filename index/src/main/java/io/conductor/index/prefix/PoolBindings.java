package io.conductor.index.prefix;

import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The Mooncake store side of the index: the open {@link PoolStream}s, the bindings each one saved, and the
 * application of pool ops ({@code BlockStoreEvent}, {@code BlockUpdateEvent} removals, {@code cleared}) to the
 * contexts' tables.
 *
 * <p><b>Threading.</b> Not thread-safe: every method runs under {@link PrefixIndex}'s writer lock.
 */
final class PoolBindings {
    /*
     * Bindings, not hashes: a PoolStream remembers each (backend_id, tenant_id, object_key, tier) it stored and the
     * block it stands for. A removal follows the binding, never the 64-bit value, because Mooncake events name
     * objects, and several objects (TP ranks, K and V) can stand for one logical block. Those are counted in the
     * context's poolRefs: the pool's (block, backend, tier) pair stays while any binding of it is live.
     *
     * Lifetime: cleared removes one stream's bindings of a backend and tenant; closing the stream (Mooncake
     * unregister) removes all of them; clearBackend removes a backend everywhere. A freed context takes its bindings
     * with it (dropContext). Pool events for a context that does not exist are dropped and counted: a pool never
     * creates a context.
     */

    private final ContextRegistry registry;
    private final MemoryBudget budget;
    private final IndexCounters counters;
    private final Set<PoolStream> streams = new HashSet<>();
    private long bindingCount;

    PoolBindings(ContextRegistry registry, MemoryBudget budget, IndexCounters counters) {
        this.registry = registry;
        this.budget = budget;
        this.counters = counters;
    }

    long bindingCount() {
        return bindingCount;
    }

    PoolStream open(String name) {
        PoolStream s = new PoolStream(name);
        streams.add(s);
        return s;
    }

    /** Closes {@code stream} and removes every binding it made; false if it was already closed. */
    boolean close(PoolStream stream) {
        if (!stream.open) {
            return false;
        }
        stream.open = false;
        for (PoolStream.Binding b : stream.bindings.values()) {
            unbind(b);
        }
        removedBindings(stream.bindings.size());
        stream.bindings.clear();
        streams.remove(stream);
        return true;
    }

    /** Removes every binding of {@code backendId} from every stream; returns how many. */
    long clearBackend(String backendId) {
        long removed = 0;
        for (PoolStream s : streams) {
            Iterator<Map.Entry<PoolStream.BindingKey, PoolStream.Binding>> it = s.bindings.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<PoolStream.BindingKey, PoolStream.Binding> e = it.next();
                if (e.getKey().backendId().equals(backendId)) {
                    unbind(e.getValue());
                    it.remove();
                    removed++;
                }
            }
        }
        removedBindings(removed);
        return removed;
    }

    /** Forgets the bindings into a context that was just freed (its table is gone with it). */
    void dropContext(ContextState cs) {
        for (PoolStream s : streams) {
            Iterator<PoolStream.Binding> it = s.bindings.values().iterator();
            while (it.hasNext()) {
                if (it.next().context() == cs) {
                    it.remove();
                    removedBindings(1);
                }
            }
        }
    }

    private void removedBindings(long n) {
        bindingCount -= n;
        budget.addBindings(-n);
    }

    // ============================================================== batch ops

    void applyStore(IndexBatch b, int op) {
        PoolStream s = (PoolStream) Objects.requireNonNull(b.targets[op]);
        ContextKey key = Objects.requireNonNull(b.contexts[op]);
        ContextState cs = registry.contexts.get(key);
        if (!s.open || cs == null) {
            counters.droppedEvents++;
            return;
        }
        int lora = cs.internLora(Objects.requireNonNull(b.texts[op]));
        if (lora < 0) {
            counters.droppedEvents++;
            return;
        }
        String backendId = Objects.requireNonNull(b.backends[op]);
        int backend = cs.backendOwner(backendId);
        if (backend < 0) {
            backend = cs.allocOwner(null, -1, backendId);
            cs.backends.put(backendId, backend);
            registry.rebuildDirectory(cs);
        }
        int tier = b.tiers[op];
        long hash = b.hashes[b.hashStart[op]];
        PoolStream.BindingKey bk = new PoolStream.BindingKey(backendId, key.tenantId(),
                Objects.requireNonNull(b.objectKeys[op]), tier);
        PoolStream.Binding nb = new PoolStream.Binding(cs, hash, lora, backend, tier);
        PoolStream.Binding old = s.bindings.get(bk);
        if (old != null && !old.equals(nb)) {
            unbind(old);
            s.bindings.remove(bk);
            removedBindings(1);
            old = null;
        }
        if (old == null && !budget.makeRoomForBinding(cs)) {
            counters.droppedForBudget++;
            return;
        }
        if (!budget.ensureRoom(cs)) {
            counters.droppedForBudget++;
            return;
        }
        if (old == null) {
            s.bindings.put(bk, nb);
            bindingCount++;
            budget.addBindings(1);
            cs.poolRefs.computeIfAbsent(new ContextState.PoolRef(hash, lora, backend, tier), k -> new int[1])[0]++;
        }
        // Always (re)assert the pair: an identical re-store after an eviction brings the block back.
        cs.table.add(hash, lora, backend, tier, SlotDescriptor.UNKNOWN_DEPTH);
        budget.refreshBytes(cs);
    }

    void applyRemove(IndexBatch b, int op) {
        PoolStream s = (PoolStream) Objects.requireNonNull(b.targets[op]);
        if (!s.open) {
            counters.droppedEvents++;
            return;
        }
        PoolStream.Binding old = s.bindings.remove(new PoolStream.BindingKey(Objects.requireNonNull(b.backends[op]),
                Objects.requireNonNull(b.texts[op]), Objects.requireNonNull(b.objectKeys[op]), b.tiers[op]));
        if (old == null) {
            counters.unknownRemovals++;
            return;
        }
        removedBindings(1);
        unbind(old);
    }

    void applyClear(IndexBatch b, int op) {
        PoolStream s = (PoolStream) Objects.requireNonNull(b.targets[op]);
        if (!s.open) {
            counters.droppedEvents++;
            return;
        }
        String tenant = Objects.requireNonNull(b.texts[op]);
        String backendId = Objects.requireNonNull(b.backends[op]);
        Iterator<Map.Entry<PoolStream.BindingKey, PoolStream.Binding>> it = s.bindings.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<PoolStream.BindingKey, PoolStream.Binding> e = it.next();
            if (e.getKey().backendId().equals(backendId) && e.getKey().tenantId().equals(tenant)) {
                unbind(e.getValue());
                it.remove();
                removedBindings(1);
            }
        }
    }

    /** Drops one binding's reference; the pool pair goes when its last binding does. */
    private void unbind(PoolStream.Binding b) {
        ContextState cs = b.context();
        if (!cs.alive) {
            return;
        }
        ContextState.PoolRef ref = new ContextState.PoolRef(b.hash(), b.lora(), b.backendOwner(), b.tier());
        int[] rc = cs.poolRefs.get(ref);
        if (rc != null && --rc[0] == 0) {
            cs.poolRefs.remove(ref);
            cs.table.removeTiers(b.hash(), b.lora(), b.backendOwner(), b.tier());
            budget.refreshBytes(cs);
        }
    }

    /** Adds binding-count violations to {@code bad} (tests). */
    void checkInvariants(List<String> bad) {
        long bindings = 0;
        for (PoolStream s : streams) {
            bindings += s.bindings.size();
        }
        if (bindings != bindingCount) {
            bad.add("binding count " + bindingCount + " but " + bindings + " bindings");
        }
    }
}
