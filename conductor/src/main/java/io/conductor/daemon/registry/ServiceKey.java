package io.conductor.daemon.registry;

/**
 * Identity of one subscription: {@code instance_id|tenant_id|dp_rank}, as the reference spells it. Immutable and
 * thread-safe.
 *
 * @param instanceId the instance (where requests go), non-empty
 * @param tenantId the tenant, already normalized ({@code ""} becomes {@code default})
 * @param dpRank the data-parallel rank, {@code 0..2^31-1}
 */
public record ServiceKey(String instanceId, String tenantId, int dpRank) implements Comparable<ServiceKey> {
    /** The tenant used when a request gives none or an empty one. */
    public static final String DEFAULT_TENANT = "default";

    /**
     * Creates a key.
     *
     * @throws IllegalArgumentException if {@code dpRank} is negative
     */
    public ServiceKey {
        if (dpRank < 0) {
            throw new IllegalArgumentException("dp_rank must be a non-negative int: " + dpRank);
        }
    }

    /**
     * Returns {@code tenant}, or {@link #DEFAULT_TENANT} when it is empty.
     *
     * @param tenant a tenant id as sent
     * @return the normalized tenant id
     */
    public static String normalizeTenant(String tenant) {
        return tenant.isEmpty() ? DEFAULT_TENANT : tenant;
    }

    /** Orders keys by their wire text, the order of {@code /services}. */
    @Override
    public int compareTo(ServiceKey other) {
        return toString().compareTo(other.toString());
    }

    /** Returns the wire form {@code instance|tenant|dp}. */
    @Override
    public String toString() {
        return instanceId + "|" + tenantId + "|" + dpRank;
    }
}
