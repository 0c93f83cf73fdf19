package io.conductor.nativestore;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads the {@code mooncake.json} that vLLM's Mooncake connectors take from {@code MOONCAKE_CONFIG_PATH} with
 * Jackson, into the tree {@link NativeStoreConfig#fromTree} reads. Strict where a silent mistake would hurt: a
 * duplicated key or content after the object is an error (the engines' Python reader would keep the last key).
 * Nesting deeper than 64 levels is refused. Stateless; thread-safe.
 */
final class MooncakeJsonFile {
    private static final JsonMapper MAPPER = JsonMapper.builder(new com.fasterxml.jackson.core.JsonFactory()
            .setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build()))
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(JsonReadFeature.ALLOW_LEADING_ZEROS_FOR_NUMBERS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .build();

    private MooncakeJsonFile() {
    }

    /**
     * Reads and parses a JSON file whose top level must be an object.
     *
     * @param path the file
     * @param field the configuration field that named the file, for error messages
     * @return the top-level object
     * @throws NativeStoreConfigException if the file cannot be read or is not a JSON object
     */
    static ObjectNode read(Path path, String field) {
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
     * @throws NativeStoreConfigException if the text is not one JSON object (the message has line and column)
     */
    static ObjectNode parseObject(String text, String field) {
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
            throw new NativeStoreConfigException(field, "invalid JSON" + where + ": " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new NativeStoreConfigException(field, "must hold a JSON object, was "
                    + (root == null || root.isMissingNode() ? "empty" : root.getNodeType().name().toLowerCase(
                            java.util.Locale.ROOT)));
        }
        return (ObjectNode) root;
    }

    /**
     * Converts values built in code (maps, lists, strings, numbers, booleans, {@code null}) to the same tree.
     *
     * @param value the value
     * @return its tree
     */
    static JsonNode tree(Object value) {
        return MAPPER.valueToTree(value);
    }
}
