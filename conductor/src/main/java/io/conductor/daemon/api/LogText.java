package io.conductor.daemon.api;

import io.conductor.events.LogEscape;

/**
 * Makes client-supplied text safe to put in a log line: control characters (CR, LF, TAB, other C0 and C1 codes,
 * DEL) become visible escapes ({@code \n}, {@code \r}, {@code \t}, else a Unicode escape), backslash and double
 * quote are escaped, so an {@code instance_id} holding a newline cannot forge a second log line or break a
 * {@code key="..."} field. Stateless and thread-safe.
 */
public final class LogText {
    private LogText() {
    }

    /**
     * Returns the text with control characters, backslashes and quotes escaped; {@code null} becomes {@code "null"}.
     *
     * @param text the text, may be {@code null}
     * @return the escaped text (the same instance when nothing needs escaping)
     */
    public static String escape(@org.jspecify.annotations.Nullable Object text) {
        return LogEscape.escape(String.valueOf(text), true);
    }

    /**
     * Returns the escaped text in double quotes, for messages that quote a client's value.
     *
     * @param text the text, may be {@code null}
     * @return {@code "escaped"}
     */
    public static String quote(@org.jspecify.annotations.Nullable Object text) {
        return "\"" + escape(text) + "\"";
    }
}
