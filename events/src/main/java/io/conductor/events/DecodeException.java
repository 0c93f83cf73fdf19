package io.conductor.events;

import java.util.Locale;

/**
 * Bad input found while decoding one frame, batch or event: carries the {@link DropReason} it is counted under.
 * Thrown only on the failure path, so it skips the stack trace (the reason and message say everything).
 *
 * <p>Immutable; thread-safe.
 */
final class DecodeException extends RuntimeException {

    private final DropReason reason;

    private DecodeException(DropReason reason, String message) {
        super(message, null, false, false);
        this.reason = reason;
    }

    @SuppressWarnings("AnnotateFormatMethod") // no error_prone_annotations dependency; callers pass constant formats
    static DecodeException of(DropReason reason, String format, Object... args) {
        return new DecodeException(reason, args.length == 0 ? format : String.format(Locale.ROOT, format, args));
    }

    DropReason reason() {
        return reason;
    }
}
