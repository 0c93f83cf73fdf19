package io.conductor.daemon.api;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The field rules of mooncake-api.md §3.1 (required / optional string, int64, key checks) with their exact error
 * texts, shared by every route's reader. Stateless and thread-safe.
 */
final class FieldRules {
    private FieldRules() {
    }

    /**
     * The key name of an entry, or the §3.1 step-4 error.
     */
    static String keyName(Value.Entry entry) {
        if (entry.key() instanceof Value.Str s) {
            return s.text();
        }
        throw ApiException.badRequest(Reason.INVALID_MSGPACK, null, "map keys must be strings");
    }

    /**
     * §3.1 steps 4 and 5 over the whole map, then the first occurrence of each key (register / unregister).
     */
    static Map<String, Value> firstOccurrences(Value.MapValue map, Set<String> allowed) {
        for (Value.Entry entry : map.entries()) {
            keyName(entry);
        }
        Map<String, Value> fields = new LinkedHashMap<>();
        for (Value.Entry entry : map.entries()) {
            String key = keyName(entry);
            if (!allowed.contains(key)) {
                throw unknownField(key);
            }
            fields.putIfAbsent(key, entry.value());
        }
        return fields;
    }

    static ApiException unknownField(String key) {
        return ApiException.badRequest(Reason.UNKNOWN_FIELD, key, "unsupported request field: " + key);
    }

    static ApiException missing(String name) {
        return ApiException.badRequest(Reason.MISSING, name, name + " is required");
    }

    /** Required string: absent → missing; not a str → invalid_type; empty → invalid_value; too long → 400. */
    static String requiredString(String name, @Nullable Value value, ApiLimits limits) {
        if (value == null) {
            throw missing(name);
        }
        String text = string(name, value, limits);
        if (text.isEmpty()) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, name, name + " must not be empty");
        }
        return text;
    }

    /** Optional string: absent → the default; present but not a str (nil included) → invalid_type. */
    static String optionalString(String name, @Nullable Value value, String defaultValue, ApiLimits limits) {
        return value == null ? defaultValue : string(name, value, limits);
    }

    /** A present value that must be a str. */
    static String string(String name, Value value, ApiLimits limits) {
        if (!(value instanceof Value.Str s)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, name, name + " must be a string");
        }
        return checkLength(name, s.text(), limits);
    }

    static String checkLength(String name, String text, ApiLimits limits) {
        if (text.length() > limits.maxStringBytes()) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, name,
                    name + " must be at most " + limits.maxStringBytes() + " bytes long");
        }
        return text;
    }

    /** Whether the value is a str whose raw bytes were valid UTF-8 (JSON strings always are). */
    static boolean validUtf8(@Nullable Value value) {
        return !(value instanceof Value.Str s) || s.validUtf8();
    }

    /** An int64 (msgpack int within the signed range), else invalid_type "X must be an integer". */
    static long int64(String name, Value value) {
        if (value instanceof Value.Int i) {
            return i.value();
        }
        throw ApiException.badRequest(Reason.INVALID_TYPE, name, name + " must be an integer");
    }
}
