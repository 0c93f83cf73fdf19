package io.conductor.daemon.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.conductor.daemon.api.RoutingSettings;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and validates the configuration file. Stateless and thread-safe.
 *
 * <p>Behaviour (see {@code docs/configuration.md}):
 * <ul>
 *   <li>a missing file: a warning, no subscriptions, port 13333;</li>
 *   <li>malformed JSON (including duplicate keys and trailing content), a root that is not an object, an
 *       unreadable file or an invalid top-level field: {@link ConfigException}, whatever {@code lenient} says;</li>
 *   <li>invalid entries: one line per entry naming the entry, each bad field, the expected form and the value
 *       found; a {@link ConfigException} listing all of them, or, when {@code lenient}, a warning each and the
 *       entry skipped (the reference's behaviour);</li>
 *   <li>an unknown top-level key: a {@link ConfigException} with a "did you mean", or, when {@code lenient}, a
 *       warning and the key ignored;</li>
 *   <li>unknown entry fields: a warning each, then ignored;</li>
 *   <li>{@code native_store}, {@code index}, {@code api}, {@code routing}, {@code cluster} and {@code snapshot}:
 *       kept as raw JSON for the parts of the daemon that own them.</li>
 * </ul>
 * Every warning is logged at WARN and also returned in {@link LoadedConfig#warnings()}.
 */
public final class ConfigLoader {
    private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);

    private static final Set<String> TOP_LEVEL_KEYS =
        Set.of("http_server_port", "kvevent_instance", "native_store", "index", "api", "routing", "cluster",
            "snapshot");

    private static final JsonMapper MAPPER = JsonMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .build();

    private ConfigLoader() {
    }

    /**
     * Loads a configuration file.
     *
     * @param path    the file
     * @param lenient skip invalid entries with a warning instead of refusing the whole file
     * @return the configuration and its warnings; {@link ConductorConfig#fileFound()} is false when the file does
     *         not exist
     * @throws ConfigException when the file cannot be read or parsed, a top-level field is invalid, or (unless
     *                         lenient) any entry is invalid; nothing is loaded then
     */
    public static LoadedConfig load(Path path, boolean lenient) throws ConfigException {
        String source = path.toString();
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            String warning = "config file " + source + " does not exist: starting with no subscriptions on port "
                + ConductorConfig.DEFAULT_HTTP_PORT + " (set CONDUCTOR_CONFIG_PATH or --config)";
            LOG.warn(warning);
            return new LoadedConfig(ConductorConfig.empty(source), List.of(warning));
        } catch (IOException | RuntimeException e) {
            throw new ConfigException(List.of("cannot read config file " + source + ": " + describe(e)));
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(java.nio.ByteBuffer.wrap(bytes))
                .toString();
        } catch (CharacterCodingException e) {
            throw new ConfigException(List.of("config file " + source + " is not valid UTF-8"));
        }
        return parse(text, source, lenient);
    }

    /**
     * Parses configuration text.
     *
     * @param json    the JSON text
     * @param source  where it came from, used in messages (a path)
     * @param lenient skip invalid entries with a warning instead of refusing the whole text
     * @return the configuration (marked as found) and its warnings
     * @throws ConfigException as for {@link #load(Path, boolean)}
     */
    public static LoadedConfig parse(String json, String source, boolean lenient) throws ConfigException {
        JsonNode root = readTree(json, source);
        List<String> warnings = new ArrayList<>();
        List<String> fatal = new ArrayList<>();

        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!TOP_LEVEL_KEYS.contains(key)) {
                // A misspelled top-level key silently drops what it holds (all subscriptions, for a misspelled
                // kvevent_instance), so it refuses the file unless --lenient.
                String suggestion = Spelling.closest(key, TOP_LEVEL_KEYS);
                String line = "unknown top-level key " + EntryParser.quote(key)
                    + (suggestion == null ? "" : ": did you mean " + EntryParser.quote(suggestion) + "?")
                    + " (known: " + String.join(", ", new java.util.TreeSet<>(TOP_LEVEL_KEYS)) + ")";
                if (lenient) {
                    warnings.add("ignoring " + line);
                } else {
                    fatal.add(line);
                }
            }
        }

        int port = ConductorConfig.DEFAULT_HTTP_PORT;
        JsonNode portNode = root.get("http_server_port");
        if (portNode != null) {
            if (portNode.isIntegralNumber() && portNode.canConvertToInt() && portNode.intValue() >= 0
                && portNode.intValue() <= 65_535) {
                port = portNode.intValue();
            } else {
                fatal.add("http_server_port: expected an integer in 0..65535 (0 = any free port; absent = "
                    + ConductorConfig.DEFAULT_HTTP_PORT + "), got " + EntryParser.describe(portNode));
            }
        }

        List<SubscriptionConfig> subscriptions = new ArrayList<>();
        JsonNode entries = root.get("kvevent_instance");
        if (entries != null && !entries.isNull() && !entries.isObject()) {
            fatal.add("kvevent_instance: expected an object {\"<entry name>\": {...}, ...}, got "
                + EntryParser.describe(entries));
        } else if (entries != null && entries.isObject()) {
            List<String> invalid = parseEntries(entries, subscriptions, warnings);
            if (lenient) {
                for (String line : invalid) {
                    warnings.add("skipping " + line);
                }
            } else {
                fatal.addAll(invalid);
            }
        }

        try {
            RoutingSettings.parse(root.get("routing"));
        } catch (IllegalArgumentException e) {
            fatal.add(e.getMessage());
        }

        if (!fatal.isEmpty()) {
            for (String warning : warnings) {
                LOG.warn("config {}: {}", source, warning);
            }
            throw new ConfigException(fatal);
        }
        for (String warning : warnings) {
            LOG.warn("config {}: {}", source, warning);
        }
        ConductorConfig config = new ConductorConfig(source, true, port, subscriptions,
            copyOrNull(root.get("native_store")), copyOrNull(root.get("index")), copyOrNull(root.get("api")),
            copyOrNull(root.get("routing")), copyOrNull(root.get("cluster")), copyOrNull(root.get("snapshot")));
        return new LoadedConfig(config, warnings);
    }

    /**
     * Parses every entry; valid ones go to {@code out} in file order. Returns one "invalid entry" line per invalid
     * entry. Uniqueness across entries (one subscription per endpoint and per service key, as the reference's
     * registration enforces) is checked against the earlier valid entries, so the later duplicate is the invalid
     * one.
     */
    private static List<String> parseEntries(JsonNode entries, List<SubscriptionConfig> out, List<String> warnings) {
        List<String> invalid = new ArrayList<>();
        Map<String, String> endpointOwners = new HashMap<>();
        Map<String, String> serviceKeyOwners = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = entries.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            EntryParser parser = new EntryParser(name, field.getValue());
            SubscriptionConfig subscription = parser.parse();
            warnings.addAll(parser.warnings());
            List<String> errors = new ArrayList<>(parser.fieldErrors());
            if (subscription != null) {
                String endpointOwner = endpointOwners.get(subscription.endpoint());
                if (endpointOwner != null) {
                    errors.add("endpoint: expected an endpoint no other entry uses (one subscription per "
                        + "endpoint), got " + EntryParser.quote(subscription.endpoint()) + " (already used by entry "
                        + EntryParser.quote(endpointOwner) + ")");
                }
                String keyOwner = serviceKeyOwners.get(subscription.serviceKey());
                if (keyOwner != null) {
                    errors.add("instance_id/tenant_id/dp_rank: expected a combination no other entry uses, got "
                        + EntryParser.quote(subscription.serviceKey()) + " (already used by entry "
                        + EntryParser.quote(keyOwner) + ")");
                }
            }
            if (errors.isEmpty() && subscription != null) {
                endpointOwners.put(subscription.endpoint(), name);
                serviceKeyOwners.put(subscription.serviceKey(), name);
                out.add(subscription);
            } else {
                invalid.add("invalid entry " + EntryParser.quote(name) + ": " + String.join("; ", errors));
            }
        }
        return invalid;
    }

    private static JsonNode readTree(String json, String source) throws ConfigException {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            JsonLocation location = e.getLocation();
            String where = location == null ? "" : " at line " + location.getLineNr() + ", column "
                + location.getColumnNr();
            String detail = e.getOriginalMessage().replaceAll("\\s*\\R\\s*", " ");
            throw new ConfigException(List.of("malformed JSON in " + source + where + ": " + detail));
        }
        if (root == null || root.isMissingNode()) {
            throw new ConfigException(List.of("config file " + source + " is empty: expected a JSON object "
                + "{\"http_server_port\": ..., \"kvevent_instance\": {...}}"));
        }
        if (!root.isObject()) {
            throw new ConfigException(List.of("config file " + source + ": expected a JSON object at the top level, "
                + "got " + EntryParser.describe(root)));
        }
        return root;
    }

    private static @Nullable JsonNode copyOrNull(@Nullable JsonNode node) {
        return node == null || node.isNull() ? null : node.deepCopy();
    }

    private static String describe(Exception e) {
        String message = e.getMessage();
        return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }
}
