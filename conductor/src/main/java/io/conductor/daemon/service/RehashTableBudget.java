package io.conductor.daemon.service;

import io.conductor.index.hash.TokenRehasher;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory all token-rehash tables of the daemon may hold together. Tables grow on demand and take their growth
 * from here; a table that cannot grow drops what does not fit (the rehasher's {@code TABLE_FULL}), and a new
 * token-rehash registration is refused while the free part could not hold one table at full size. So registrations
 * cannot take the heap, whatever their number. Thread-safe: one atomic count, shared by every stream's event thread.
 */
final class RehashTableBudget implements TokenRehasher.MemoryGate {
    private final long limitBytes;
    private final AtomicLong used = new AtomicLong();

    /**
     * Creates the budget.
     *
     * @param limitBytes the most bytes all tables may hold, {@code > 0}
     */
    RehashTableBudget(long limitBytes) {
        if (limitBytes <= 0) {
            throw new IllegalArgumentException("budget must be positive: " + limitBytes);
        }
        this.limitBytes = limitBytes;
    }

    @Override
    public boolean tryTake(long bytes) {
        while (true) {
            long now = used.get();
            if (now + bytes > limitBytes) {
                return false;
            }
            if (used.compareAndSet(now, now + bytes)) {
                return true;
            }
        }
    }

    @Override
    public void giveBack(long bytes) {
        used.addAndGet(-bytes);
    }

    long usedBytes() {
        return used.get();
    }

    long limitBytes() {
        return limitBytes;
    }

    long freeBytes() {
        return limitBytes - used.get();
    }
}
