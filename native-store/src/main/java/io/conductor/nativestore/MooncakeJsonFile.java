package io.conductor.nativestore;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Reads the {@code mooncake.json} that vLLM's Mooncake connectors take from {@code MOONCAKE_CONFIG_PATH} into the
 * same tree shape {@link NativeStoreConfig#fromTree} reads: {@code Map<String, Object>} objects, {@code List}
 * arrays, {@code String}, {@code Long} or {@code BigDecimal} numbers, {@code Boolean} and {@code null}.
 *
 * <p>A strict RFC 8259 parser small enough not to pull a JSON library into this module (the daemon has Jackson;
 * native-store depends only on Caffeine and SLF4J). Stateless; thread-safe.
 */
final class MooncakeJsonFile {
    private final String text;
    private final String source;
    private int pos;

    private MooncakeJsonFile(String text, String source) {
        this.text = text;
        this.source = source;
    }

    /**
     * Reads and parses a JSON file whose top level must be an object.
     *
     * @param path the file
     * @param field the configuration field that named the file, for error messages
     * @return the top-level object
     * @throws NativeStoreConfigException if the file cannot be read or is not a JSON object
     */
    static Map<String, Object> read(Path path, String field) {
        String text;
        try {
            text = Files.readString(path, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            throw new NativeStoreConfigException(field, "cannot read " + path + ": " + e);
        }
        return parseObject(text, field + " (" + path + ")");
    }

    /**
     * Parses JSON text whose top level must be an object.
     *
     * @param text the JSON text
     * @param field where the text came from, for error messages
     * @return the top-level object
     * @throws NativeStoreConfigException if the text is not a single JSON object
     */
    static Map<String, Object> parseObject(String text, String field) {
        MooncakeJsonFile parser = new MooncakeJsonFile(text, field);
        parser.skipWhitespace();
        if (parser.peek() != '{') {
            throw parser.error("top level must be a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> result = (Map<String, Object>) parser.value();
        parser.skipWhitespace();
        if (parser.pos != text.length()) {
            throw parser.error("trailing characters after the JSON object");
        }
        return result;
    }

    private @Nullable Object value() {
        skipWhitespace();
        char c = peek();
        switch (c) {
            case '{':
                return object();
            case '[':
                return array();
            case '"':
                return string();
            case 't':
                literal("true");
                return Boolean.TRUE;
            case 'f':
                literal("false");
                return Boolean.FALSE;
            case 'n':
                literal("null");
                return null;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    return number();
                }
                throw error("unexpected character '" + c + "'");
        }
    }

    private Map<String, Object> object() {
        pos++; // '{'
        Map<String, Object> map = new LinkedHashMap<>();
        skipWhitespace();
        if (peek() == '}') {
            pos++;
            return map;
        }
        while (true) {
            skipWhitespace();
            if (peek() != '"') {
                throw error("expected a string key");
            }
            String key = string();
            skipWhitespace();
            expect(':');
            Object v = value();
            if (map.containsKey(key)) {
                throw error("duplicate key \"" + key + "\"");
            }
            map.put(key, v);
            skipWhitespace();
            char c = next();
            if (c == '}') {
                return map;
            }
            if (c != ',') {
                throw error("expected ',' or '}'");
            }
        }
    }

    private List<@Nullable Object> array() {
        pos++; // '['
        List<@Nullable Object> list = new ArrayList<>();
        skipWhitespace();
        if (peek() == ']') {
            pos++;
            return list;
        }
        while (true) {
            list.add(value());
            skipWhitespace();
            char c = next();
            if (c == ']') {
                return list;
            }
            if (c != ',') {
                throw error("expected ',' or ']'");
            }
        }
    }

    private String string() {
        pos++; // '"'
        StringBuilder sb = new StringBuilder();
        while (true) {
            char c = next();
            if (c == '"') {
                return sb.toString();
            }
            if (c < 0x20) {
                throw error("control character in string");
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char e = next();
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) {
                        throw error("truncated \\u escape");
                    }
                    try {
                        sb.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw error("bad \\u escape");
                    }
                    pos += 4;
                }
                default -> throw error("bad escape \\" + e);
            }
        }
    }

    private Object number() {
        int start = pos;
        if (peek() == '-') {
            pos++;
        }
        while (pos < text.length() && "0123456789.eE+-".indexOf(text.charAt(pos)) >= 0) {
            pos++;
        }
        String token = text.substring(start, pos);
        try {
            BigDecimal d = new BigDecimal(token);
            if (token.indexOf('.') < 0 && token.indexOf('e') < 0 && token.indexOf('E') < 0) {
                return d.longValueExact();
            }
            return d;
        } catch (NumberFormatException | ArithmeticException e) {
            throw error("bad number " + token);
        }
    }

    private void literal(String word) {
        if (!text.startsWith(word, pos)) {
            throw error("unexpected token");
        }
        pos += word.length();
    }

    private void expect(char c) {
        if (next() != c) {
            throw error("expected '" + c + "'");
        }
    }

    private char peek() {
        if (pos >= text.length()) {
            throw error("unexpected end of input");
        }
        return text.charAt(pos);
    }

    private char next() {
        char c = peek();
        pos++;
        return c;
    }

    private void skipWhitespace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    private NativeStoreConfigException error(String problem) {
        return new NativeStoreConfigException(source, "invalid JSON at offset " + pos + ": " + problem);
    }
}
