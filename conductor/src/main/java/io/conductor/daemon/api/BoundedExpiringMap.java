package io.conductor.daemon.api;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Per-id state keyed by client-supplied ids (such as {@code /route} candidates), bounded in both count and time: an
 * entry not touched for {@code ttlNanos} is gone (a lookup treats it as absent and removes it), and when an insert
 * takes the map past {@code capacity} entries, expired entries are dropped and then the least recently touched ones
 * until a quarter of the capacity is free again. So a client that sends a new id with every request cannot grow it
 * past {@code capacity}, and ids nobody uses any more do not stay.
 *
 * <p>Thread-safe: a concurrent map; touches are racy by design (the latest of concurrent touches wins); eviction
 * runs under one lock, and concurrent inserts may overshoot the capacity by at most the number of inserting threads
 * until it runs.
 *
 * @param <V> the per-id value (itself thread-safe if shared across requests)
 */
final class BoundedExpiringMap<V> {
    private static final class Slot<V> {
        final V value;
        volatile long touched;

        Slot(V value, long touched) {
            this.value = value;
            this.touched = touched;
        }
    }

    private final int capacity;
    private final long ttlNanos;
    private final LongSupplier clock;
    private final ConcurrentHashMap<String, Slot<V>> slots = new ConcurrentHashMap<>();
    private final AtomicLong insertsSinceSweep = new AtomicLong();
    private final Object evictionLock = new Object();

    /**
     * Creates an empty map on the system's monotonic clock.
     *
     * @param capacity the most entries kept, {@code >= 4}
     * @param ttlNanos how long an untouched entry lives
     */
    BoundedExpiringMap(int capacity, long ttlNanos) {
        this(capacity, ttlNanos, System::nanoTime);
    }

    /**
     * Creates an empty map on the given clock (tests).
     *
     * @param capacity the most entries kept, {@code >= 4}
     * @param ttlNanos how long an untouched entry lives, {@code > 0}
     * @param clock monotonic nanoseconds
     */
    BoundedExpiringMap(int capacity, long ttlNanos, LongSupplier clock) {
        if (capacity < 4 || ttlNanos <= 0) {
            throw new IllegalArgumentException("capacity must be >= 4 and ttl > 0: " + capacity + ", " + ttlNanos);
        }
        this.capacity = capacity;
        this.ttlNanos = ttlNanos;
        this.clock = clock;
    }

    /**
     * Returns the id's value, creating it if absent or expired, and marks it used now.
     *
     * @param id the id
     * @param factory creates the value of a new id
     * @return the value
     */
    V computeIfAbsent(String id, Function<String, V> factory) {
        long now = clock.getAsLong();
        Slot<V> slot = slots.get(id);
        if (slot == null || now - slot.touched > ttlNanos) {
            if (slot != null) {
                slots.remove(id, slot);
            }
            slot = slots.computeIfAbsent(id, k -> new Slot<>(factory.apply(k), now));
            if (slots.size() > capacity || insertsSinceSweep.incrementAndGet() >= capacity) {
                evict(now);
            }
        }
        slot.touched = now;
        return slot.value;
    }

    /**
     * Returns the id's value without touching it, or {@code null} if it is absent or expired.
     *
     * @param id the id
     * @return the value or {@code null}
     */
    @Nullable V get(String id) {
        Slot<V> slot = slots.get(id);
        if (slot == null) {
            return null;
        }
        if (clock.getAsLong() - slot.touched > ttlNanos) {
            slots.remove(id, slot);
            return null;
        }
        return slot.value;
    }

    /**
     * Returns the number of entries held (expired ones included until they are swept).
     *
     * @return the size
     */
    int size() {
        return slots.size();
    }

    private void evict(long now) {
        synchronized (evictionLock) {
            insertsSinceSweep.set(0);
            slots.entrySet().removeIf(e -> now - e.getValue().touched > ttlNanos);
            int target = capacity - capacity / 4;
            if (slots.size() <= capacity) {
                return;
            }
            List<Map.Entry<String, Slot<V>>> entries = new ArrayList<>(slots.entrySet());
            entries.sort(Comparator.comparingLong(e -> e.getValue().touched));
            for (int i = 0; i < entries.size() && slots.size() > target; i++) {
                slots.remove(entries.get(i).getKey(), entries.get(i).getValue());
            }
        }
    }
}
