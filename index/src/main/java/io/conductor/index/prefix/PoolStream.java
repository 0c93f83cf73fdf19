package io.conductor.index.prefix;

import java.util.HashMap;

/**
 * One Mooncake store subscription (an endpoint). It remembers each binding it created, {@code (backend_id,
 * tenant_id, object_key, tier)} to the block it stands for, because removals and {@code cleared} follow bindings,
 * never the 64-bit hash. Obtained from {@link PrefixIndex#openPoolStream}; closing it removes everything it stored.
 * Its state is owned by the index writer (mutated only under the writer lock); the handle itself is safe to share.
 */
public final class PoolStream {
    private final String name;
    final HashMap<BindingKey, Binding> bindings = new HashMap<>();
    volatile boolean open = true;

    PoolStream(String name) {
        this.name = name;
    }

    /**
     * Returns the name given at opening (normally the endpoint).
     *
     * @return the stream name
     */
    public String name() {
        return name;
    }

    /**
     * Tells whether the stream is still open.
     *
     * @return false after {@link PrefixIndex#closePoolStream}
     */
    public boolean isOpen() {
        return open;
    }

    @Override
    public String toString() {
        return "PoolStream[" + name + "]";
    }

    /** What a Mooncake event names. */
    record BindingKey(String backendId, String tenantId, String objectKey, int tier) {
    }

    /** The block a binding stands for; {@code context} may have been freed since. */
    record Binding(ContextState context, long hash, int lora, int backendOwner, int tier) {
    }
}
