package io.conductor.daemon.api;

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
        String s = String.valueOf(text);
        int i = 0;
        while (i < s.length() && !needsEscape(s.charAt(i))) {
            i++;
        }
        if (i == s.length()) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length() + 16).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\\' -> b.append("\\\\");
                case '"' -> b.append("\\\"");
                default -> {
                    if (needsEscape(c)) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
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

    private static boolean needsEscape(char c) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\\' || c == '"' || c == 0x2028
                || c == 0x2029;
    }
}
