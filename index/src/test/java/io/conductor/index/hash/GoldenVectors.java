package io.conductor.index.hash;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The shared golden vectors ({@code src/test/resources/vectors/}, copied unchanged from
 * {@code shared/vectors/} of the project workspace), loaded into plain values.
 */
final class GoldenVectors {
    static final String CBOR_FILE = "hash_golden_vectors.json";
    static final String PICKLE_FILE = "hash_golden_vectors_sha256.json";

    record SeedRoot(String seed, String encodedHex, String rootHex) {
    }

    record Block(String digestHex, String projectedHex, String projectedDecimal, String pickleHex, int pickleLength) {
    }

    record Case(String name, int blockSize, String loraName, String cacheSalt, int[] tokens, List<Block> expected,
                String incorrectLow64ParentDigest) {
        @Override
        public String toString() {
            return name;
        }
    }

    record File(HashAlgorithm algorithm, String seed, String rootHex, List<SeedRoot> seedRoots, List<Case> cases) {
    }

    private GoldenVectors() {
    }

    static File load(String name) {
        final JsonNode root;
        try (InputStream in = GoldenVectors.class.getResourceAsStream("/vectors/" + name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource /vectors/" + name);
            }
            root = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        final JsonNode profile = root.get("profile");
        final HashAlgorithm algorithm = HashAlgorithm.fromWireName(profile.get("algorithm").asText());
        final List<SeedRoot> seedRoots = new ArrayList<>();
        for (JsonNode v : root.get("seed_root_vectors")) {
            final JsonNode encoded = v.has("pickle_hex") ? v.get("pickle_hex") : v.get("canonical_cbor_hex");
            seedRoots.add(new SeedRoot(v.get("python_hash_seed").asText(), encoded.asText(),
                    v.get("root_digest").asText()));
        }
        final List<Case> cases = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            cases.add(readCase(c));
        }
        return new File(algorithm, profile.get("python_hash_seed").asText(), profile.get("root_digest").asText(),
                seedRoots, cases);
    }

    private static Case readCase(JsonNode c) {
        final int[] tokens;
        if (c.has("token_ids_repeat")) {
            final JsonNode r = c.get("token_ids_repeat");
            tokens = new int[r.get("count").asInt()];
            java.util.Arrays.fill(tokens, r.get("value").asInt());
        } else {
            final JsonNode t = c.get("token_ids");
            tokens = new int[t.size()];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = t.get(i).asInt();
            }
        }
        String lora = c.get("lora_name").asText();
        if (c.has("lora_name_repeat")) {
            final JsonNode r = c.get("lora_name_repeat");
            lora = r.get("value").asText().repeat(r.get("count").asInt());
        }
        final JsonNode salt = c.get("cache_salt");
        final List<Block> expected = new ArrayList<>();
        for (JsonNode e : c.get("expected")) {
            expected.add(new Block(e.get("digest").asText(), e.get("projected_hex").asText(),
                    e.get("projected_decimal").asText(),
                    e.has("pickle_hex") ? e.get("pickle_hex").asText() : null,
                    e.has("pickle_len") ? e.get("pickle_len").asInt() : -1));
        }
        final JsonNode wrong = c.get("incorrect_low64_parent_digest");
        return new Case(c.get("name").asText(), c.get("block_size").asInt(), lora,
                salt == null || salt.isNull() ? null : salt.asText(), tokens, expected,
                wrong == null ? null : wrong.asText());
    }
}
