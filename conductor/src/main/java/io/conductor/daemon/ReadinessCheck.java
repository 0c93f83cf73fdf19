package io.conductor.daemon;

import java.util.Objects;

/**
 * One condition of {@code GET /ready}: the daemon is ready when every registered check is. Implementations must be
 * thread-safe and fast (they run on HTTP request threads, for every {@code /ready} call) and should read state that
 * is already maintained elsewhere, such as a "connected at least once" flag per subscription.
 */
@FunctionalInterface
public interface ReadinessCheck {
    /**
     * Evaluates the check. An exception counts as "not ready" with the exception as detail.
     *
     * @return the current result
     */
    Result check();

    /**
     * The outcome of one check. Immutable and thread-safe.
     *
     * @param ready  whether this condition holds
     * @param detail a short human-readable explanation, e.g. {@code "2 of 3 subscriptions connected"}
     */
    record Result(boolean ready, String detail) {
        /** Checks for null. */
        public Result {
            Objects.requireNonNull(detail, "detail");
        }

        /**
         * A passing result.
         *
         * @param detail the explanation
         * @return the result
         */
        public static Result ready(String detail) {
            return new Result(true, detail);
        }

        /**
         * A failing result.
         *
         * @param detail what is missing
         * @return the result
         */
        public static Result notReady(String detail) {
            return new Result(false, detail);
        }
    }
}
