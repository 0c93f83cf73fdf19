package io.conductor.daemon.api;

import org.jspecify.annotations.Nullable;

/** A body encoding the API speaks: msgpack (the reference's) or JSON (earlier eras, curl users). */
public enum WireFormat {
    /** {@code application/msgpack}. */
    MSGPACK("application/msgpack"),
    /** {@code application/json}. */
    JSON("application/json");

    private final String mediaType;

    WireFormat(String mediaType) {
        this.mediaType = mediaType;
    }

    /**
     * Returns the media type written in responses.
     *
     * @return the Content-Type value
     */
    public String mediaType() {
        return mediaType;
    }

    /**
     * Picks the request body format by substring test on the Content-Type, as the reference does.
     *
     * @param contentType the request's Content-Type, or {@code null}
     * @return the format, or {@code null} if the type names neither
     */
    public static @Nullable WireFormat ofContentType(@Nullable String contentType) {
        if (contentType == null) {
            return null;
        }
        if (contentType.contains(MSGPACK.mediaType)) {
            return MSGPACK;
        }
        if (contentType.contains(JSON.mediaType)) {
            return JSON;
        }
        return null;
    }

    /**
     * Picks the response format: the request's body format if it has one, else JSON when {@code Accept} asks for
     * JSON and not msgpack, else msgpack (the reference's only format).
     *
     * @param contentType the request's Content-Type, or {@code null}
     * @param accept the request's Accept header, or {@code null}
     * @return the response format
     */
    public static WireFormat forResponse(@Nullable String contentType, @Nullable String accept) {
        WireFormat body = ofContentType(contentType);
        if (body != null) {
            return body;
        }
        if (accept != null && accept.contains(JSON.mediaType) && !accept.contains(MSGPACK.mediaType)) {
            return JSON;
        }
        return MSGPACK;
    }

    /**
     * Picks the format of a POST's answer (and of any error): the request's body format if it has one; else, since
     * such a request can only fail, JSON (readable by curl and by a client that sent no or the wrong Content-Type),
     * unless {@code Accept} asks for msgpack.
     *
     * @param contentType the request's Content-Type, or {@code null}
     * @param accept the request's Accept header, or {@code null}
     * @return the response format
     */
    public static WireFormat forPostResponse(@Nullable String contentType, @Nullable String accept) {
        WireFormat body = ofContentType(contentType);
        if (body != null) {
            return body;
        }
        return accept != null && accept.contains(MSGPACK.mediaType) ? MSGPACK : JSON;
    }
}
