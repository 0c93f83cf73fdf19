package io.conductor.daemon;

import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Configures slf4j-simple from {@code CONDUCTOR_LOG_LEVEL} through system properties. Must run before the first
 * logger is created, because slf4j-simple reads its properties once. Not thread-safe: call once, from
 * {@code main}, before anything else.
 *
 * <p>Log lines go to stderr as {@code <ISO time> <LEVEL> <logger> - event=... key=value ...}. Jetty and Javalin are
 * held at WARN (their INFO lines are start-up chatter); per-request lines appear only at DEBUG. A property already
 * set on the command line ({@code CONDUCTOR_JAVA_OPTS=-Dorg.slf4j.simpleLogger...}) is left alone.
 */
final class LogSettings {
    /** The environment variable naming the level. */
    static final String ENV_LOG_LEVEL = "CONDUCTOR_LOG_LEVEL";

    private static final String PREFIX = "org.slf4j.simpleLogger.";

    private LogSettings() {
    }

    /**
     * Applies the level.
     *
     * @param envValue the value of {@code CONDUCTOR_LOG_LEVEL}, or {@code null} when unset
     * @return a warning to log once logging works (an invalid level), or {@code null}
     */
    static @Nullable String apply(@Nullable String envValue) {
        String level = level(envValue);
        String warning = null;
        if (level == null) {
            level = "info";
            warning = ENV_LOG_LEVEL + "=\"" + envValue + "\" is not one of DEBUG, INFO, WARN, ERROR; using INFO";
        }
        boolean debug = level.equals("debug");
        setIfAbsent("defaultLogLevel", level);
        setIfAbsent("logFile", "System.err");
        setIfAbsent("showDateTime", "true");
        setIfAbsent("dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
        setIfAbsent("showThreadName", Boolean.toString(debug));
        setIfAbsent("showShortLogName", "true");
        String thirdParty = level.equals("error") ? "error" : debug ? "info" : "warn";
        setIfAbsent("log.org.eclipse.jetty", thirdParty);
        setIfAbsent("log.io.javalin", thirdParty);
        return warning;
    }

    /**
     * Maps the environment value to an slf4j-simple level.
     *
     * @param envValue the value, case-insensitive; null or empty means INFO
     * @return {@code debug}, {@code info}, {@code warn} or {@code error}, or {@code null} when invalid
     */
    static @Nullable String level(@Nullable String envValue) {
        if (envValue == null || envValue.isEmpty()) {
            return "info";
        }
        String lower = envValue.toLowerCase(Locale.ROOT);
        return switch (lower) {
            case "debug", "info", "warn", "error" -> lower;
            default -> null;
        };
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(PREFIX + key) == null) {
            System.setProperty(PREFIX + key, value);
        }
    }
}
