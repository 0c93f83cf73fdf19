package io.conductor.index.prefix;

/**
 * A registered (instance, DP rank) of one context: the owner every GPU and instance-local offload event of that
 * rank's stream is applied to. Returned by {@link PrefixIndex#register}; becomes inactive on
 * {@link PrefixIndex#unregister}, after which batches that name it are skipped and counted. Immutable apart from the
 * active flag, which the index's writer sets; safe to share.
 */
public final class RankHandle {
    final ContextState context;
    final int owner;
    private final String instanceId;
    private final int dpRank;
    volatile boolean active = true;

    RankHandle(ContextState context, int owner, String instanceId, int dpRank) {
        this.context = context;
        this.owner = owner;
        this.instanceId = instanceId;
        this.dpRank = dpRank;
    }

    /**
     * Returns the context this rank is registered in.
     *
     * @return the context key
     */
    public ContextKey context() {
        return context.key;
    }

    /**
     * Returns the instance id (where requests go).
     *
     * @return the instance id
     */
    public String instanceId() {
        return instanceId;
    }

    /**
     * Returns the DP rank.
     *
     * @return the rank
     */
    public int dpRank() {
        return dpRank;
    }

    /**
     * Tells whether the registration is still in force.
     *
     * @return false after {@link PrefixIndex#unregister}
     */
    public boolean isActive() {
        return active;
    }

    @Override
    public String toString() {
        return instanceId + "|" + context.key.tenantId() + "|" + dpRank;
    }
}
