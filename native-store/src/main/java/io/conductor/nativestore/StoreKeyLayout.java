package io.conductor.nativestore;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The object keys vLLM's Mooncake store connector writes for one model and parallel layout:
 * <pre>
 *   [cache_prefix@]model@tp_rank:R@pcpP@dcpD@pp_rank:Q[@group:G]@&lt;full block hash, lower-case hex&gt;
 * </pre>
 * One block is stored as one object per rank namespace, so it counts as resident only when every namespace's key
 * exists. The namespaces follow the connector's lookup: with {@code dcp_size > 1}, every
 * {@code (tp, pcp, tp % dcp_size, pp)}; otherwise every {@code (shard, pcp, 0, pp)} with
 * {@code shard < tp_size / tp_replication} (TP ranks holding identical KV bytes share a shard).
 *
 * <p>Immutable; thread-safe. Key writing ({@link #writeKey}) allocates nothing.
 */
public final class StoreKeyLayout {
    private final String cachePrefix;
    private final String model;
    private final int group;
    private final byte[][] prefixes;
    private final int maxPrefixBytes;
    private final int maxKeyBytes;
    private final long cacheSeed;

    private StoreKeyLayout(String cachePrefix, String model, int group, byte[][] prefixes, int maxKeyBytes) {
        this.cachePrefix = cachePrefix;
        this.model = model;
        this.group = group;
        this.prefixes = prefixes;
        int max = 0;
        long seed = 0x9E3779B97F4A7C15L;
        for (byte[] p : prefixes) {
            max = Math.max(max, p.length);
            for (byte b : p) {
                seed = (seed ^ (b & 0xff)) * 0x100000001B3L;
            }
            seed = Long.rotateLeft(seed, 17) * 0xBF58476D1CE4E5B9L;
        }
        this.maxPrefixBytes = max;
        this.maxKeyBytes = maxKeyBytes;
        this.cacheSeed = seed;
    }

    /**
     * Builds the layout of {@code model} with the parallel layout, cache prefix and group of {@code config}.
     *
     * @param config the parallel layout, cache prefix, group and key size bound
     * @param model model name as it appears in keys (last path segment of vLLM's {@code --model})
     * @return the layout
     * @throws NativeStoreConfigException if the model is blank or holds '@', or a 32-byte-digest key would not
     *                                    fit {@link NativeStoreConfig#maxKeyBytes()}
     */
    public static StoreKeyLayout of(NativeStoreConfig config, String model) {
        ConfigTree.requireKeySegment("native_store.model", model);
        if (model.isBlank()) {
            throw new NativeStoreConfigException("native_store.model", "must not be blank");
        }
        List<byte[]> list = new ArrayList<>();
        String head = (config.cachePrefix().isEmpty() ? "" : config.cachePrefix() + "@") + model;
        String groupPart = config.group() == NativeStoreConfig.NO_GROUP ? "" : "@group:" + config.group();
        for (int pcp = 0; pcp < config.pcpSize(); pcp++) {
            if (config.dcpSize() > 1) {
                for (int tp = 0; tp < config.tpSize(); tp++) {
                    for (int pp = 0; pp < config.ppSize(); pp++) {
                        list.add(prefix(head, tp, pcp, tp % config.dcpSize(), pp, groupPart));
                    }
                }
            } else {
                int shards = config.tpSize() / config.tpReplication();
                for (int shard = 0; shard < shards; shard++) {
                    for (int pp = 0; pp < config.ppSize(); pp++) {
                        list.add(prefix(head, shard, pcp, 0, pp, groupPart));
                    }
                }
            }
        }
        StoreKeyLayout layout = new StoreKeyLayout(config.cachePrefix(), model, config.group(),
                list.toArray(new byte[0][]), config.maxKeyBytes());
        int needed = layout.keyBytes(32);
        if (needed > config.maxKeyBytes()) {
            throw new NativeStoreConfigException("native_store.max_key_bytes", "keys of model \"" + model
                    + "\" need " + needed + " bytes (longest prefix " + layout.maxPrefixBytes
                    + " + 64 hex digits + NUL), was " + config.maxKeyBytes());
        }
        return layout;
    }

    private static byte[] prefix(String head, int tp, int pcp, int dcp, int pp, String groupPart) {
        return (head + "@tp_rank:" + tp + "@pcp" + pcp + "@dcp" + dcp + "@pp_rank:" + pp + groupPart + "@")
                .getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Returns the number of rank namespaces: the keys asked per block.
     *
     * @return the namespace count, {@code >= 1}
     */
    public int rankCount() {
        return prefixes.length;
    }

    /**
     * Returns the model name in these keys.
     *
     * @return the model name
     */
    public String model() {
        return model;
    }

    /**
     * Returns the cache prefix (empty when none).
     *
     * @return the cache prefix
     */
    public String cachePrefix() {
        return cachePrefix;
    }

    /**
     * Returns the group id, or {@link NativeStoreConfig#NO_GROUP}.
     *
     * @return the group id
     */
    public int group() {
        return group;
    }

    /**
     * Returns the bytes one key of a {@code digestLength}-byte digest needs, terminating NUL included.
     *
     * @param digestLength digest length in bytes
     * @return the bound over all rank namespaces
     */
    public int keyBytes(int digestLength) {
        return maxPrefixBytes + 2 * digestLength + 1;
    }

    int maxKeyBytes() {
        return maxKeyBytes;
    }

    /** Per-layout seed mixed into cache keys so two layouts never share an answer. */
    long cacheSeed() {
        return cacheSeed;
    }

    /**
     * Writes the key of one rank namespace: prefix, then the digest's hex, then a NUL.
     *
     * @param rank namespace index, {@code 0 <= rank < rankCount()}
     * @param hex the digest as lower-case ASCII hex
     * @param hexLength number of hex bytes to use
     * @param dst destination
     * @param dstOffset where the key starts in {@code dst}
     * @return the key length without the NUL
     * @throws IndexOutOfBoundsException if {@code dst} is too small
     */
    int writeKey(int rank, byte[] hex, int hexLength, byte[] dst, int dstOffset) {
        byte[] p = prefixes[rank];
        System.arraycopy(p, 0, dst, dstOffset, p.length);
        System.arraycopy(hex, 0, dst, dstOffset + p.length, hexLength);
        dst[dstOffset + p.length + hexLength] = 0;
        return p.length + hexLength;
    }

    /**
     * Returns the key of one rank namespace for a digest, as a string (diagnostics and tests; allocates).
     *
     * @param rank namespace index, {@code 0 <= rank < rankCount()}
     * @param digest the full block digest
     * @return the object key
     */
    public String key(int rank, byte[] digest) {
        byte[] hex = new byte[digest.length * 2];
        DigestHex.encode(digest, 0, digest.length, hex);
        return new String(prefixes[rank], StandardCharsets.UTF_8) + new String(hex, StandardCharsets.US_ASCII);
    }

    /**
     * Returns every namespace prefix (each ending in '@'), in the order keys are asked.
     *
     * @return the prefixes
     */
    public List<String> prefixes() {
        List<String> out = new ArrayList<>(prefixes.length);
        for (byte[] p : prefixes) {
            out.add(new String(p, StandardCharsets.UTF_8));
        }
        return List.copyOf(out);
    }

    /**
     * Parses an object key in vLLM store-connector form (with or without {@code @group:}); the rules are those of
     * {@code events.md} section 5.4.
     *
     * @param objectKey the key, e.g. from a Mooncake master {@code stored} event
     * @return the parsed key, or {@code null} if it is not a connector key
     */
    public static @Nullable ParsedKey parse(String objectKey) {
        String[] parts = objectKey.split("@", -1);
        int tpIndex = -1;
        for (int i = 0; i < parts.length; i++) {
            if (parts[i].startsWith("tp_rank:")) {
                tpIndex = i;
                break;
            }
        }
        if (tpIndex < 1 || parts.length < tpIndex + 5) {
            return null;
        }
        String model = parts[tpIndex - 1];
        String prefix = String.join("@", java.util.Arrays.copyOfRange(parts, 0, tpIndex - 1));
        String hash = parts[parts.length - 1];
        if (hash.startsWith("0x") || hash.startsWith("0X")) {
            hash = hash.substring(2);
        }
        if (hash.length() < 16 || model.isEmpty()) {
            return null;
        }
        long low64 = 0;
        for (int i = hash.length() - 16; i < hash.length(); i++) {
            int d = Character.digit(hash.charAt(i), 16);
            if (d < 0) {
                return null;
            }
            low64 = (low64 << 4) | d;
        }
        for (int i = 0; i < hash.length() - 16; i++) {
            if (Character.digit(hash.charAt(i), 16) < 0) {
                return null;
            }
        }
        return new ParsedKey(prefix, model, low64);
    }

    /**
     * A parsed connector key.
     *
     * @param cachePrefix the cache prefix (empty when none)
     * @param model the model segment
     * @param low64 the rightmost 16 hex digits of the hash as a big-endian u64 (the key events and the index use)
     */
    public record ParsedKey(String cachePrefix, String model, long low64) {
    }

    @Override
    public String toString() {
        return "StoreKeyLayout{model=" + model + ", ranks=" + prefixes.length + ", first="
                + new String(prefixes[0], StandardCharsets.UTF_8) + "}";
    }
}
