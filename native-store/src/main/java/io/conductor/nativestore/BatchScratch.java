package io.conductor.nativestore;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Reusable native memory for one {@code batch_is_exist} call, laid out as {@link MooncakeStoreDescriptor} shows:
 * key pointers, a key slab with a fixed stride, and int32 results, plus heap staging for one key and one digest's
 * hex. Each scratch owns a shared {@link Arena} (claimed by different threads over time, used by one at a time).
 *
 * <p>Not thread-safe: a thread claims a scratch from the {@link Pool}, uses it, and releases it.
 */
final class BatchScratch implements AutoCloseable {
    final int maxKeys;
    final int stride;
    final MemorySegment pointers;
    final MemorySegment slab;
    final MemorySegment results;
    final byte[] key;
    final byte[] hex;
    private final Arena arena;

    BatchScratch(int maxKeys, int stride) {
        this.maxKeys = maxKeys;
        this.stride = stride;
        this.arena = Arena.ofShared();
        this.pointers = arena.allocate((long) maxKeys * MooncakeStoreDescriptor.POINTER_BYTES, 8);
        this.slab = arena.allocate((long) maxKeys * stride, 8);
        this.results = arena.allocate((long) maxKeys * MooncakeStoreDescriptor.RESULT_BYTES, 4);
        this.key = new byte[stride];
        this.hex = new byte[stride];
        // The slab never moves, so every pointer is written once here.
        long base = slab.address();
        for (int i = 0; i < maxKeys; i++) {
            pointers.setAtIndex(ValueLayout.JAVA_LONG, i, base + (long) i * stride);
        }
    }

    /** Copies {@code length} staged key bytes plus its NUL into slot {@code index} of the slab. */
    void putKey(int index, int length) {
        MemorySegment.copy(key, 0, slab, ValueLayout.JAVA_BYTE, (long) index * stride, length + 1);
    }

    int result(int index) {
        return results.getAtIndex(ValueLayout.JAVA_INT, index);
    }

    @Override
    public void close() {
        arena.close();
    }

    /**
     * A bounded, allocation-free pool of scratches: slots are claimed with {@code getAndSet(null)} and returned with
     * {@code compareAndSet(null, s)}. A claim that finds no free slot creates a scratch; a release that finds no
     * empty slot (or a closed pool) closes it.
     *
     * <p>Thread-safe.
     */
    static final class Pool implements AutoCloseable {
        private final AtomicReferenceArray<BatchScratch> slots;
        private final int maxKeys;
        private final int stride;
        private volatile boolean closed;

        Pool(int slots, int maxKeys, int stride) {
            this.slots = new AtomicReferenceArray<>(slots);
            this.maxKeys = maxKeys;
            this.stride = stride;
        }

        BatchScratch claim() {
            int n = slots.length();
            int start = (int) (Thread.currentThread().threadId() % n);
            for (int i = 0; i < n; i++) {
                BatchScratch s = slots.getAndSet((start + i) % n, null);
                if (s != null) {
                    return s;
                }
            }
            return new BatchScratch(maxKeys, stride);
        }

        void release(BatchScratch scratch) {
            if (!closed) {
                int n = slots.length();
                int start = (int) (Thread.currentThread().threadId() % n);
                for (int i = 0; i < n; i++) {
                    if (slots.compareAndSet((start + i) % n, null, scratch)) {
                        if (closed) {
                            drain(); // raced with close(): do not leave it behind
                        }
                        return;
                    }
                }
            }
            scratch.close();
        }

        @Override
        public void close() {
            closed = true;
            drain();
        }

        private void drain() {
            for (int i = 0; i < slots.length(); i++) {
                BatchScratch s = slots.getAndSet(i, null);
                if (s != null) {
                    s.close();
                }
            }
        }
    }
}
