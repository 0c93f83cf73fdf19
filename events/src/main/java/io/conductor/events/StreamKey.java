package io.conductor.events;

import java.util.Objects;

/**
 * Identity of a subscription: (instance, tenant, DP rank), the reference conductor's service key. Immutable;
 * thread-safe.
 *
 * @param instanceId engine instance id, non-empty
 * @param tenantId tenant, non-empty ({@code default} when none was given)
 * @param dpRank data-parallel rank, {@code >= 0}
 */
public record StreamKey(String instanceId, String tenantId, int dpRank) {

    public StreamKey {
        Objects.requireNonNull(instanceId, "instanceId");
        Objects.requireNonNull(tenantId, "tenantId");
        if (instanceId.isEmpty() || tenantId.isEmpty()) {
            throw new IllegalArgumentException("instanceId and tenantId must be non-empty: " + instanceId + "|" + tenantId);
        }
        if (dpRank < 0) {
            throw new IllegalArgumentException("dpRank must be >= 0: " + dpRank);
        }
    }

    /**
     * The reference conductor's service-key text, {@code instance|tenant|rank}, as it appears in log lines: control
     * characters in the client-chosen ids are escaped ({@code \n}, or a Unicode escape), so an id holding a newline
     * cannot forge a log line.
     */
    @Override
    public String toString() {
        return LogEscape.escape(instanceId, false) + "|" + LogEscape.escape(tenantId, false) + "|" + dpRank;
    }
}
