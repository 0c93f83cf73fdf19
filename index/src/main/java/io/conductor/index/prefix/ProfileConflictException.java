package io.conductor.index.prefix;

/**
 * Thrown when a registration names a hash profile different from the one its context is bound to: a query names no
 * profile, so one context must hash one way. Nothing was changed when it is thrown. Immutable.
 */
public final class ProfileConflictException extends Exception {
    private final ContextKey context;

    /**
     * Creates the exception.
     *
     * @param context the context whose binding conflicts
     */
    public ProfileConflictException(ContextKey context) {
        super("registration conflicts with the hash profile bound to context " + context);
        this.context = context;
    }

    /**
     * Creates the exception for a conflict on another part of the context's binding.
     *
     * @param context the context whose binding conflicts
     * @param bound   what the context is bound to, for the message
     */
    public ProfileConflictException(ContextKey context, String bound) {
        super("registration conflicts with context " + context + ", which is bound to " + bound);
        this.context = context;
    }

    /**
     * Returns the context whose binding conflicts.
     *
     * @return the context
     */
    public ContextKey context() {
        return context;
    }
}
