package io.conductor.daemon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Mutation fuzzing of the config loader, seeded for reproducibility: whatever the text, the loader either returns
 * a configuration or throws {@link ConfigException} with non-empty, single-line problems; never anything else.
 */
class ConfigLoaderFuzzTest {
    private static final JsonMapper JSON = new JsonMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final String ALPHABET = "{}[]\",:0123456789-+.eE tfnulrasvLMS\\\n\t/é\u0000\uD83D\uDE00";
    private static final int ITERATIONS = 3_000;

    private static List<String> seeds() throws Exception {
        return List.of(
            Files.readString(Path.of("../example/conductor_config.json")),
            Files.readString(Path.of("../example/conductor_config.full.json")),
            "{\"kvevent_instance\": {\"a\": {\"type\": \"SGLang\", \"endpoint\": \"ipc:///x\", \"modelname\": \"m\"}}}");
    }

    /** Parses strictly and leniently and checks the contract; returns whether the strict parse succeeded. */
    private static boolean check(String text) {
        boolean strictOk = false;
        ConductorConfig strict = null;
        try {
            strict = ConfigLoader.parse(text, "fuzz.json", false).config();
            strictOk = true;
        } catch (ConfigException e) {
            assertWellFormed(e, text);
        } catch (RuntimeException e) {
            fail("strict parse threw " + e + " for:\n" + text, e);
        }
        try {
            ConductorConfig lenient = ConfigLoader.parse(text, "fuzz.json", true).config();
            if (strict != null) {
                assertEquals(strict, lenient, "lenient must not change a valid file's meaning");
            }
        } catch (ConfigException e) {
            assertWellFormed(e, text);
            assertFalse(strictOk, "lenient refused what strict accepted:\n" + text);
        } catch (RuntimeException e) {
            fail("lenient parse threw " + e + " for:\n" + text, e);
        }
        return strictOk;
    }

    private static void assertWellFormed(ConfigException e, String text) {
        assertFalse(e.problems().isEmpty());
        for (String problem : e.problems()) {
            assertFalse(problem.isBlank(), "blank problem for:\n" + text);
            assertFalse(problem.contains("\n"), "multi-line problem '" + problem + "' for:\n" + text);
        }
    }

    @Test
    void shouldParseOrRaiseConfigExceptionWhenTextIsMutated() throws Exception {
        SplittableRandom random = new SplittableRandom(20261122L);
        List<String> seeds = seeds();
        int accepted = 0;

        for (int i = 0; i < ITERATIONS; i++) {
            StringBuilder text = new StringBuilder(seeds.get(random.nextInt(seeds.size())));
            int mutations = 1 + random.nextInt(4);
            for (int m = 0; m < mutations && !text.isEmpty(); m++) {
                int at = random.nextInt(text.length());
                switch (random.nextInt(4)) {
                    case 0 -> text.deleteCharAt(at);
                    case 1 -> text.insert(at, ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                    case 2 -> text.setCharAt(at, ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                    default -> {
                        int end = Math.min(text.length(), at + 1 + random.nextInt(20));
                        text.insert(random.nextInt(text.length()), text.substring(at, end));
                    }
                }
            }
            accepted += check(text.toString()) ? 1 : 0;
        }

        // Mostly broken JSON, but a few mutations land in string contents and keep the file valid.
        assertTrue(accepted > 0 && accepted < ITERATIONS, "accepted " + accepted);
    }

    @Test
    void shouldParseOrRaiseConfigExceptionWhenValuesAreReplaced() throws Exception {
        SplittableRandom random = new SplittableRandom(42L);
        List<String> seeds = seeds();
        int accepted = 0;

        for (int i = 0; i < ITERATIONS; i++) {
            JsonNode root = JSON.readTree(seeds.get(random.nextInt(seeds.size())));
            int mutations = 1 + random.nextInt(3);
            for (int m = 0; m < mutations; m++) {
                root = mutate(root, random);
            }
            accepted += check(JSON.writeValueAsString(root)) ? 1 : 0;
        }

        assertTrue(accepted > 0 && accepted < ITERATIONS, "accepted " + accepted);
    }

    /** Replaces, removes or adds one value somewhere in the tree (or replaces the root). */
    private static JsonNode mutate(JsonNode root, SplittableRandom random) {
        List<JsonNode> containers = new ArrayList<>();
        collectContainers(root, containers);
        if (containers.isEmpty() || random.nextInt(50) == 0) {
            return randomValue(random, 2);
        }
        JsonNode container = containers.get(random.nextInt(containers.size()));
        if (container instanceof ObjectNode object) {
            List<String> names = new ArrayList<>();
            object.fieldNames().forEachRemaining(names::add);
            int choice = random.nextInt(3);
            if (choice == 0 || names.isEmpty()) {
                String[] keys = {"type", "endpoint", "replay_endpoint", "ip", "port", "modelname", "lora_name",
                    "lora_id", "tenant_id", "instance_id", "block_size", "dp_rank", "additionalsalt", "cache_group",
                    "hash_profile", "python_hash_seed", "algorithm", "strategy", "index_projection",
                    "http_server_port", "kvevent_instance", "x"};
                object.set(keys[random.nextInt(keys.length)], randomValue(random, 2));
            } else if (choice == 1) {
                object.remove(names.get(random.nextInt(names.size())));
            } else {
                object.set(names.get(random.nextInt(names.size())), randomValue(random, 2));
            }
        } else if (container instanceof ArrayNode array) {
            array.add(randomValue(random, 1));
        }
        return root;
    }

    private static void collectContainers(JsonNode node, List<JsonNode> out) {
        if (node.isContainerNode()) {
            out.add(node);
            for (Iterator<JsonNode> it = node.elements(); it.hasNext(); ) {
                collectContainers(it.next(), out);
            }
        }
    }

    private static JsonNode randomValue(SplittableRandom random, int depth) {
        String[] texts = {"", "vLLM", "Mooncake", "SGLang", "tcp://h:1", "tcp://10.0.0.1:65535", "ipc://p",
            "tcp://[::1]:5", "0", "00", "random", "vllm-none-hash", "4294967296", "sha256", "xxh3", "low64_be",
            "vllm_v1", "127.0.0.1", "::1", "é\u0000"};
        return switch (random.nextInt(depth > 0 ? 9 : 7)) {
            case 0 -> NODES.textNode(texts[random.nextInt(texts.length)]);
            case 1 -> NODES.numberNode(random.nextInt(-3, 70_000));
            case 2 -> NODES.numberNode(random.nextLong());
            case 3 -> NODES.numberNode(random.nextDouble() * 100);
            case 4 -> NODES.numberNode(new java.math.BigInteger("123456789012345678901234567890"));
            case 5 -> NODES.booleanNode(random.nextBoolean());
            case 6 -> NODES.nullNode();
            case 7 -> {
                ArrayNode array = NODES.arrayNode();
                array.add(randomValue(random, depth - 1));
                yield array;
            }
            default -> {
                ObjectNode object = NODES.objectNode();
                object.set("python_hash_seed", randomValue(random, depth - 1));
                yield object;
            }
        };
    }
}
