package io.conductor.events;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition until it holds or a generous deadline passes (never a fixed sleep). */
final class Await {

    static final Duration DEFAULT = Duration.ofSeconds(30);

    private Await() {
    }

    /** A failing wait shows where every thread was, in the test's output file. */
    private static void dumpThreads() {
        for (final var e : Thread.getAllStackTraces().entrySet()) {
            System.err.println("--- " + e.getKey().getName() + " " + e.getKey().getState());
            for (final StackTraceElement frame : e.getValue()) {
                System.err.println("    at " + frame);
            }
        }
    }

    static void until(BooleanSupplier condition, Supplier<String> description) {
        until(DEFAULT, condition, description);
    }

    static void until(Duration timeout, BooleanSupplier condition, Supplier<String> description) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                dumpThreads();
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
