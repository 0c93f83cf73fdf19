package io.conductor.nativestore;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * Typed, path-aware reads from one object of a Jackson tree. Every error is a {@link NativeStoreConfigException}
 * naming {@code path.field} and quoting the bad value. A JSON {@code null} counts as absent.
 *
 * <p>Immutable view over the node it was given; thread-safe if that node is not modified.
 */
final class ConfigTree {
    private final String path;
    private final ObjectNode node;
    private final @Nullable ConfigTree fallback;
    private final Set<String> fallbackFields;

    private ConfigTree(String path, ObjectNode node, @Nullable ConfigTree fallback, Set<String> fallbackFields) {
        this.path = path;
        this.node = node;
        this.fallback = fallback;
        this.fallbackFields = fallbackFields;
    }

    static ConfigTree of(String path, @Nullable JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return new ConfigTree(path, JsonNodeFactory.instance.objectNode(), null, Set.of());
        }
        if (!(node instanceof ObjectNode object)) {
            throw new NativeStoreConfigException(path, "must be an object, was " + describe(node));
        }
        return new ConfigTree(path, object, null, Set.of());
    }

    /** Returns a view that reads {@code fields} from {@code other} when this object does not hold them. */
    ConfigTree withFallback(ConfigTree other, Set<String> fields) {
        return new ConfigTree(path, node, other, fields);
    }

    void rejectUnknown(Set<String> known) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!known.contains(key)) {
                throw new NativeStoreConfigException(path + "." + key, "unknown field (known: "
                        + String.join(", ", new TreeSet<>(known)) + ")");
            }
        }
    }

    private @Nullable ConfigTree owner(String name) {
        if (node.has(name)) {
            return this;
        }
        ConfigTree f = fallback;
        if (f != null && fallbackFields.contains(name) && f.node.has(name)) {
            return f;
        }
        return null;
    }

    String string(String name, String defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || absent(t.node.get(name))) {
            return defaultValue;
        }
        JsonNode v = t.node.get(name);
        if (!v.isTextual()) {
            throw new NativeStoreConfigException(t.path + "." + name, "must be a string, was " + describe(v));
        }
        return v.textValue().strip();
    }

    boolean bool(String name, boolean defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || absent(t.node.get(name))) {
            return defaultValue;
        }
        JsonNode v = t.node.get(name);
        if (!v.isBoolean()) {
            throw new NativeStoreConfigException(t.path + "." + name, "must be true or false, was " + describe(v));
        }
        return v.booleanValue();
    }

    long longValue(String name, long defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || absent(t.node.get(name))) {
            return defaultValue;
        }
        return t.integral(name, t.node.get(name));
    }

    int integer(String name, int defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || absent(t.node.get(name))) {
            return defaultValue;
        }
        long v = t.integral(name, t.node.get(name));
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new NativeStoreConfigException(t.path + "." + name, "out of range, was " + v);
        }
        return (int) v;
    }

    /** Absent: {@code defaultValue}; {@code null} or {@code "none"}: {@code noneValue}; else an int. */
    int optionalInteger(String name, int defaultValue, int noneValue) {
        ConfigTree t = owner(name);
        if (t == null) {
            return defaultValue;
        }
        JsonNode v = t.node.get(name);
        if (absent(v) || (v.isTextual() && v.textValue().strip().equalsIgnoreCase("none"))) {
            return noneValue;
        }
        long l = t.integral(name, v);
        if (l < 0 || l > Integer.MAX_VALUE) {
            throw new NativeStoreConfigException(t.path + "." + name, "must be >= 0, null or \"none\", was " + l);
        }
        return (int) l;
    }

    /** A byte size: an integer, or a string such as {@code "4gb"}, {@code "512 MB"}, {@code "1.5GB"} (1024-based). */
    long size(String name, long defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || absent(t.node.get(name))) {
            return defaultValue;
        }
        JsonNode v = t.node.get(name);
        String field = t.path + "." + name;
        if (v.isTextual()) {
            return parseSize(field, v.textValue());
        }
        long l = t.integral(name, v);
        requireAtLeast(field, l, 0);
        return l;
    }

    static long parseSize(String field, String text) {
        String s = text.strip().toLowerCase(Locale.ROOT);
        long multiplier = 1;
        String[][] units = {{"tb", "1099511627776"}, {"gb", "1073741824"}, {"mb", "1048576"}, {"kb", "1024"},
                {"b", "1"}};
        for (String[] unit : units) {
            if (s.endsWith(unit[0])) {
                multiplier = Long.parseLong(unit[1]);
                s = s.substring(0, s.length() - unit[0].length()).strip();
                break;
            }
        }
        try {
            BigDecimal value = new BigDecimal(s).multiply(BigDecimal.valueOf(multiplier));
            if (value.signum() < 0) {
                throw new NativeStoreConfigException(field, "must be >= 0, was \"" + text + "\"");
            }
            return value.toBigInteger().longValueExact();
        } catch (NumberFormatException | ArithmeticException e) {
            throw new NativeStoreConfigException(field, "must be a byte size such as 0, 1073741824, \"4gb\" or "
                    + "\"512mb\", was \"" + text + "\"");
        }
    }

    private long integral(String name, JsonNode v) {
        String field = path + "." + name;
        if (v.isNumber()) {
            try {
                return v.isIntegralNumber() ? v.bigIntegerValue().longValueExact()
                        : new BigDecimal(v.asText()).longValueExact();
            } catch (ArithmeticException | NumberFormatException e) {
                throw new NativeStoreConfigException(field, "must be an integer, was " + describe(v));
            }
        }
        throw new NativeStoreConfigException(field, "must be an integer, was " + describe(v));
    }

    private static boolean absent(@Nullable JsonNode v) {
        return v == null || v.isNull() || v.isMissingNode();
    }

    static void requireAtLeast(String field, long value, long min) {
        if (value < min) {
            throw new NativeStoreConfigException(field, "must be >= " + min + ", was " + value);
        }
    }

    static void requireNonBlank(String field, String value) {
        if (value.isBlank()) {
            throw new NativeStoreConfigException(field, "is required when native_store.enabled is true");
        }
    }

    static void requireNoNul(String field, String value) {
        if (value.indexOf('\0') >= 0) {
            throw new NativeStoreConfigException(field, "must not contain a NUL character");
        }
    }

    /** Key segments are joined with '@' and passed as C strings: neither may appear inside one. */
    static void requireKeySegment(String field, String value) {
        requireNoNul(field, value);
        if (value.indexOf('@') >= 0) {
            throw new NativeStoreConfigException(field, "must not contain '@' (the key separator), was \""
                    + value + "\"");
        }
    }

    private static String describe(JsonNode v) {
        if (v.isNull()) {
            return "null";
        }
        if (v.isTextual()) {
            return "\"" + v.textValue() + "\"";
        }
        if (v.isObject()) {
            return "an object";
        }
        if (v.isArray()) {
            return "an array";
        }
        return v.asText();
    }
}
