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
        return printable(instanceId) + "|" + printable(tenantId) + "|" + dpRank;
    }

    private static String printable(String s) {
        int i = 0;
        while (i < s.length() && !isControl(s.charAt(i))) {
            i++;
        }
        if (i == s.length()) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length() + 8).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (isControl(c)) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    private static boolean isControl(char c) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029;
    }
}
