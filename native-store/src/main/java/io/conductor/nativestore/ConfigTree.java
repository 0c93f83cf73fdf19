package io.conductor.nativestore;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * Typed, path-aware reads from one object of a parsed JSON tree ({@code Map<String, ?>} with {@code String},
 * {@code Number}, {@code Boolean}, {@code null}, nested maps and lists). Every error is a
 * {@link NativeStoreConfigException} naming {@code path.field} and quoting the bad value.
 *
 * <p>Immutable view over the map it was given; thread-safe if that map is not modified.
 */
final class ConfigTree {
    private final String path;
    private final Map<?, ?> node;
    private final @Nullable ConfigTree fallback;
    private final Set<String> fallbackFields;

    private ConfigTree(String path, Map<?, ?> node, @Nullable ConfigTree fallback, Set<String> fallbackFields) {
        this.path = path;
        this.node = node;
        this.fallback = fallback;
        this.fallbackFields = fallbackFields;
    }

    static ConfigTree of(String path, @Nullable Object node) {
        if (node == null) {
            return new ConfigTree(path, Map.of(), null, Set.of());
        }
        if (!(node instanceof Map<?, ?> map)) {
            throw new NativeStoreConfigException(path, "must be an object, was " + describe(node));
        }
        for (Object key : map.keySet()) {
            if (!(key instanceof String)) {
                throw new NativeStoreConfigException(path, "keys must be strings, found " + describe(key));
            }
        }
        return new ConfigTree(path, map, null, Set.of());
    }

    /** Returns a view that reads {@code fields} from {@code other} when this object does not hold them. */
    ConfigTree withFallback(ConfigTree other, Set<String> fields) {
        return new ConfigTree(path, node, other, fields);
    }

    void rejectUnknown(Set<String> known) {
        for (Object key : node.keySet()) {
            if (!known.contains((String) key)) {
                throw new NativeStoreConfigException(path + "." + key, "unknown field (known: "
                        + String.join(", ", new TreeSet<>(known)) + ")");
            }
        }
    }

    private @Nullable ConfigTree owner(String name) {
        if (node.containsKey(name)) {
            return this;
        }
        ConfigTree f = fallback;
        if (f != null && fallbackFields.contains(name) && f.node.containsKey(name)) {
            return f;
        }
        return null;
    }

    String string(String name, String defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || t.node.get(name) == null) {
            return defaultValue;
        }
        Object v = t.node.get(name);
        if (!(v instanceof String s)) {
            throw new NativeStoreConfigException(t.path + "." + name, "must be a string, was " + describe(v));
        }
        return s.strip();
    }

    boolean bool(String name, boolean defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || t.node.get(name) == null) {
            return defaultValue;
        }
        Object v = t.node.get(name);
        if (!(v instanceof Boolean b)) {
            throw new NativeStoreConfigException(t.path + "." + name, "must be true or false, was " + describe(v));
        }
        return b;
    }

    long longValue(String name, long defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || t.node.get(name) == null) {
            return defaultValue;
        }
        return t.integral(name, t.node.get(name));
    }

    int integer(String name, int defaultValue) {
        ConfigTree t = owner(name);
        if (t == null || t.node.get(name) == null) {
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
        Object v = t.node.get(name);
        if (v == null || (v instanceof String s && s.strip().equalsIgnoreCase("none"))) {
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
        if (t == null || t.node.get(name) == null) {
            return defaultValue;
        }
        Object v = t.node.get(name);
        String field = t.path + "." + name;
        if (v instanceof String s) {
            return parseSize(field, s);
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

    private long integral(String name, @Nullable Object v) {
        String field = path + "." + name;
        try {
            if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
                return ((Number) v).longValue();
            }
            if (v instanceof BigInteger b) {
                return b.longValueExact();
            }
            if (v instanceof BigDecimal d) {
                return d.longValueExact();
            }
            if (v instanceof Double || v instanceof Float) {
                return new BigDecimal(v.toString()).longValueExact();
            }
        } catch (ArithmeticException | NumberFormatException e) {
            throw new NativeStoreConfigException(field, "must be an integer, was " + describe(v));
        }
        throw new NativeStoreConfigException(field, "must be an integer, was " + describe(v));
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

    private static String describe(@Nullable Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof String s) {
            return "\"" + s + "\"";
        }
        if (v instanceof Map<?, ?>) {
            return "an object";
        }
        if (v instanceof Iterable<?>) {
            return "an array";
        }
        return v.toString();
    }
}
