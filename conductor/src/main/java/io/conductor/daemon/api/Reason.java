package io.conductor.daemon.api;

/** The machine-readable {@code reason} of a 4xx (or 503) error body; the wire name is the lowercase constant name. */
public enum Reason {
    /** The Content-Type is neither msgpack nor JSON. */
    UNSUPPORTED_CONTENT_TYPE,
    /** The body is not one msgpack value, not a map, or has non-string keys. */
    INVALID_MSGPACK,
    /** The JSON counterpart of {@link #INVALID_MSGPACK} (the C++ JSON era's reason). */
    INVALID_JSON,
    /** A key the route does not know. */
    UNKNOWN_FIELD,
    /** A required key is absent. */
    MISSING,
    /** A value of the wrong type. */
    INVALID_TYPE,
    /** A value of the right type that is not acceptable. */
    INVALID_VALUE,
    /** A number outside its range, or a size above a limit. */
    OUT_OF_RANGE,
    /** A valid value this conductor does not support. */
    UNSUPPORTED,
    /** The registration breaks a registry rule. */
    INVALID_REGISTRATION,
    /** The admin API key is missing or wrong. */
    UNAUTHORIZED,
    /** The body exceeds the size limit, or the request needs more memory than one request may hold (413). */
    PAYLOAD_TOO_LARGE,
    /** Requests in flight hold the global memory budget; retry after {@code Retry-After} seconds (503). */
    OVERLOADED,
    /** A valid value that the daemon's exposure settings refuse (wildcard bind, endpoint allowlist). */
    NOT_ALLOWED,
    /** The daemon's memory budget cannot hold what the request would keep (a registration's tables). */
    INSUFFICIENT_MEMORY,
    /** The shared registration store (etcd) cannot be reached: registrations are refused, queries still answer. */
    CLUSTER_UNAVAILABLE;

    /**
     * Returns the wire spelling.
     *
     * @return the lowercase name
     */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
