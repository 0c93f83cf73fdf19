package io.conductor.events;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition until it holds or a generous deadline passes (never a fixed sleep). */
final class Await {

    static final Duration DEFAULT = Duration.ofSeconds(30);

    private Await() {
    }

    static void until(BooleanSupplier condition, Supplier<String> description) {
        until(DEFAULT, condition, description);
    }

    static void until(Duration timeout, BooleanSupplier condition, Supplier<String> description) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for: " + description.get());
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }
}
