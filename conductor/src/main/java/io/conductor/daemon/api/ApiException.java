package io.conductor.daemon.api;

import org.jspecify.annotations.Nullable;

/**
 * An HTTP error with its structured body {@code {error, reason?, field?, index?}}; thrown anywhere in request
 * handling and turned into a response in one place ({@link ApiRoutes}). Validation errors carry a reason;
 * operational errors (404, 500) carry only the message, as the reference does. Immutable.
 */
public final class ApiException extends RuntimeException {
    /** Sentinel of {@link #index()}: the error is not about one array element. */
    public static final int NO_INDEX = -1;

    private final int status;
    private final @Nullable Reason reason;
    private final @Nullable String field;
    private final int index;

    private ApiException(int status, String message, @Nullable Reason reason, @Nullable String field, int index) {
        super(message, null, false, false);
        this.status = status;
        this.reason = reason;
        this.field = field;
        this.index = index;
    }

    /**
     * A 400 validation error.
     *
     * @param reason the reason
     * @param field the offending key, or {@code null}
     * @param message the message
     * @return the exception
     */
    public static ApiException badRequest(Reason reason, @Nullable String field, String message) {
        return new ApiException(400, message, reason, field, NO_INDEX);
    }

    /**
     * A 400 validation error about one element of an array field.
     *
     * @param reason the reason
     * @param field the array's key
     * @param index the element's index
     * @param message the message
     * @return the exception
     */
    public static ApiException badElement(Reason reason, String field, int index, String message) {
        return new ApiException(400, message, reason, field, index);
    }

    /**
     * An error with a status and a reason but no field (401, 413, 400 invalid_registration).
     *
     * @param status the HTTP status
     * @param reason the reason
     * @param message the message
     * @return the exception
     */
    public static ApiException withReason(int status, Reason reason, String message) {
        return new ApiException(status, message, reason, null, NO_INDEX);
    }

    /**
     * An operational error whose body is only {@code {"error": message}} (404, 405, 500).
     *
     * @param status the HTTP status
     * @param message the message
     * @return the exception
     */
    public static ApiException plain(int status, String message) {
        return new ApiException(status, message, null, null, NO_INDEX);
    }

    /**
     * Returns the HTTP status.
     *
     * @return the status code
     */
    public int status() {
        return status;
    }

    /**
     * Returns the reason, if any.
     *
     * @return the reason or {@code null}
     */
    public @Nullable Reason reason() {
        return reason;
    }

    /**
     * Returns the offending key, if any.
     *
     * @return the field or {@code null}
     */
    public @Nullable String field() {
        return field;
    }

    /**
     * Returns the offending array index, or {@link #NO_INDEX}.
     *
     * @return the index
     */
    public int index() {
        return index;
    }

    @Override
    public String getMessage() {
        String message = super.getMessage();
        return message == null ? "" : message;
    }
}
