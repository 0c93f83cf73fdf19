package io.conductor.events;

/**
 * Makes text from clients or peers safe for a log line: control characters (C0, DEL, C1, and the Unicode line and
 * paragraph separators) become visible escapes ({@code \n}, {@code \r}, {@code \t}, else {@code \}{@code uXXXX}),
 * so an id holding a newline cannot forge a second log line. Optionally backslash and double quote are escaped
 * too, for values written inside {@code key="..."} fields. The one escaper of the project: the stream key's text
 * and the daemon's {@code LogText} both use it. Stateless and thread-safe.
 */
public final class LogEscape {
    private LogEscape() {
    }

    /**
     * Returns {@code text} with its control characters escaped (and, when {@code quoting}, backslashes and double
     * quotes); the same instance when nothing needs escaping.
     *
     * @param text    the text
     * @param quoting also escape {@code \} and {@code "}
     * @return the escaped text
     */
    public static String escape(String text, boolean quoting) {
        int i = 0;
        while (i < text.length() && !needsEscape(text.charAt(i), quoting)) {
            i++;
        }
        if (i == text.length()) {
            return text;
        }
        StringBuilder b = new StringBuilder(text.length() + 16).append(text, 0, i);
        for (; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (quoting && (c == '\\' || c == '"')) {
                        b.append('\\').append(c);
                    } else if (needsEscape(c, quoting)) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    private static boolean needsEscape(char c, boolean quoting) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029
                || (quoting && (c == '\\' || c == '"'));
    }
}
