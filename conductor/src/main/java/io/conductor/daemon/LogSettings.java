package io.conductor.daemon;

import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Configures logging (logback, {@code logback.xml} on the class path) from {@code CONDUCTOR_LOG_LEVEL} and
 * {@code CONDUCTOR_LOG_FORMAT} through system properties, and turns off Javalin's start-up lines (its banner and
 * the "Javalin version is N days old" notice). Must run before the first logger is created, because logback reads
 * its configuration once. Not thread-safe: call once, from {@code main}, before anything else.
 *
 * <p>Text lines go to stderr as {@code <ISO time> <LEVEL> <logger> - event=... key=value ...}; JSON is one object
 * per line. Jetty and Javalin are held at WARN (their INFO lines are start-up chatter), or INFO at DEBUG;
 * per-request lines appear only at DEBUG. A property already set on the command line
 * ({@code CONDUCTOR_JAVA_OPTS=-Dconductor.log.level=...}) is left alone.
 */
final class LogSettings {
    /** The environment variable naming the level. */
    static final String ENV_LOG_LEVEL = "CONDUCTOR_LOG_LEVEL";
    /** The environment variable naming the format. */
    static final String ENV_LOG_FORMAT = "CONDUCTOR_LOG_FORMAT";

    private static final String PREFIX = "conductor.log.";

    private LogSettings() {
    }

    /**
     * Applies the level and the format.
     *
     * @param levelValue the value of {@code CONDUCTOR_LOG_LEVEL}, or {@code null} when unset
     * @param formatValue the value of {@code CONDUCTOR_LOG_FORMAT}, or {@code null} when unset
     * @return a warning to log once logging works (an invalid value), or {@code null}
     */
    static @Nullable String apply(@Nullable String levelValue, @Nullable String formatValue) {
        String level = level(levelValue);
        String format = format(formatValue);
        String warning = null;
        if (level == null) {
            level = "INFO";
            warning = ENV_LOG_LEVEL + "=\"" + levelValue + "\" is not one of DEBUG, INFO, WARN, ERROR; using INFO";
        }
        if (format == null) {
            format = "text";
            warning = (warning == null ? "" : warning + "; ") + ENV_LOG_FORMAT + "=\"" + formatValue
                    + "\" is not text or json; using text";
        }
        setIfAbsent("level", level);
        setIfAbsent("format", format);
        setIfAbsent("thirdparty", level.equals("ERROR") ? "ERROR" : level.equals("DEBUG") ? "INFO" : "WARN");
        // Last: JavalinLogger's class initialisation creates its logger, which configures logback.
        io.javalin.util.JavalinLogger.startupInfo = false;
        return warning;
    }

    /**
     * Maps the environment value to a logback level.
     *
     * @param envValue the value, case-insensitive; null or empty means INFO
     * @return {@code DEBUG}, {@code INFO}, {@code WARN} or {@code ERROR}, or {@code null} when invalid
     */
    static @Nullable String level(@Nullable String envValue) {
        if (envValue == null || envValue.isEmpty()) {
            return "INFO";
        }
        String upper = envValue.toUpperCase(Locale.ROOT);
        return switch (upper) {
            case "DEBUG", "INFO", "WARN", "ERROR" -> upper;
            default -> null;
        };
    }

    /**
     * Maps the environment value to an appender of {@code logback.xml}.
     *
     * @param envValue the value, case-insensitive; null or empty means text
     * @return {@code text} or {@code json}, or {@code null} when invalid
     */
    static @Nullable String format(@Nullable String envValue) {
        if (envValue == null || envValue.isEmpty()) {
            return "text";
        }
        String lower = envValue.toLowerCase(Locale.ROOT);
        return switch (lower) {
            case "text", "json" -> lower;
            default -> null;
        };
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(PREFIX + key) == null) {
            System.setProperty(PREFIX + key, value);
        }
    }
}
