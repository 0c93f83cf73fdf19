package io.conductor.index.hash;

import com.dynatrace.hash4j.hashing.Hasher64;
import com.dynatrace.hash4j.hashing.Hashing;
import org.jspecify.annotations.Nullable;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.DigestException;
import java.security.MessageDigest;

/**
 * Computes one block digest of a profile's chain from a parent digest, reusing its encoders, its
 * {@link MessageDigest} and its XXH3 hasher, so that hashing a block allocates nothing. Shared by
 * {@link BlockHashChain} (queries) and {@link TokenRehasher} (events). Not thread-safe: one instance per thread.
 */
final class BlockDigester {
    private static final VarHandle LONG_BE = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class,
            ByteOrder.LITTLE_ENDIAN);

    /** SGLang's salted event chain seed: {@code SHA-256("sglang-cache-salt-v1" || 0x00 || salt)}. */
    private static final byte[] SGLANG_SALT_PREFIX = "sglang-cache-salt-v1\0".getBytes(
            java.nio.charset.StandardCharsets.US_ASCII);

    private final MessageDigest sha256 = RootDigests.newSha256();
    private final PickleBlockEncoder pickle = new PickleBlockEncoder();
    private final CborBlockEncoder cbor = new CborBlockEncoder();
    private HashAlgorithm algorithm = HashAlgorithm.SHA256;
    private HashStrategy strategy = HashStrategy.VLLM_V1;
    private final byte[] sglangSaltSeed = new byte[32];
    private @Nullable Hasher64 xxh3;
    private long xxh3Seed;
    private byte[] xxh3Buffer = new byte[256];

    /**
     * Switches to a profile's algorithm. Allocates only when the XXH3 seed changes.
     *
     * @param profile the profile
     */
    void use(HashProfile profile) {
        algorithm = profile.algorithm();
        strategy = profile.strategy();
        if (algorithm == HashAlgorithm.XXH3) {
            final long seed = RootDigests.parseUnsignedDecimal64(profile.pythonHashSeed());
            if (xxh3 == null || seed != xxh3Seed) {
                xxh3 = Hashing.xxh3_64(seed);
                xxh3Seed = seed;
            }
        }
    }

    HashAlgorithm algorithm() {
        return algorithm;
    }

    /**
     * Digests one block.
     *
     * @param parent       buffer holding the parent digest (the root for block 0)
     * @param parentOffset offset of the parent digest
     * @param firstBlock   whether this is block 0 (the salt applies; XXH3 ignores the parent)
     * @param tokens       token ids
     * @param from         first token of the block
     * @param count        tokens in the block, {@code >= 1}
     * @param extras       LoRA name and salt
     * @param out          where the digest goes ({@code algorithm().digestLength()} bytes)
     * @param outOffset    offset in {@code out}
     */
    void digest(byte[] parent, int parentOffset, boolean firstBlock, int[] tokens, int from, int count,
                HashExtras extras, byte[] out, int outOffset) {
        final HashAlgorithm a = algorithm;
        if (strategy == HashStrategy.SGLANG) {
            digestSglang(parent, parentOffset, firstBlock, tokens, from, count, extras, out, outOffset);
            return;
        }
        if (strategy == HashStrategy.LMCACHE) {
            extras = HashExtras.NONE;                   // LMCache hashes (prefix, tokens, None)
        }
        if (a == HashAlgorithm.XXH3) {
            digestXxh3(parent, parentOffset, firstBlock, tokens, from, count, out, outOffset);
            return;
        }
        final byte[] salt = firstBlock ? extras.cacheSaltUtf8() : HashExtras.NONE.cacheSaltUtf8();
        final byte[] encoded;
        final int length;
        if (a == HashAlgorithm.SHA256) {
            length = pickle.encode(parent, parentOffset, 32, tokens, from, count, extras.loraNameUtf8(), salt,
                    firstBlock && extras.sameCachedObject());
            encoded = pickle.buffer();
        } else {
            length = cbor.encode(parent, parentOffset, 32, tokens, from, count, extras.loraNameUtf8(), salt);
            encoded = cbor.buffer();
        }
        final MessageDigest md = sha256;
        md.update(encoded, 0, length);
        try {
            md.digest(out, outOffset, 32);
        } catch (DigestException e) {
            throw new IllegalStateException("SHA-256 refused a 32-byte output buffer", e);
        }
    }

    /** RFC #1527: local = XXH3(tokens as u32 LE, S); seq_0 = local_0; seq_i = XXH3(seq_{i-1} LE ‖ local LE, S). */
    private void digestXxh3(byte[] parent, int parentOffset, boolean firstBlock, int[] tokens, int from, int count,
                            byte[] out, int outOffset) {
        final Hasher64 hasher = xxh3;
        if (hasher == null) {
            throw new IllegalStateException("use(profile) was not called");
        }
        final int length = 4 * count;
        if (xxh3Buffer.length < length) {
            xxh3Buffer = new byte[Math.max(length, 2 * xxh3Buffer.length)];
        }
        final byte[] b = xxh3Buffer;
        for (int i = 0; i < count; i++) {
            INT_LE.set(b, 4 * i, tokens[from + i]);
        }
        final long local = hasher.hashBytesToLong(b, 0, length);
        final long seq = firstBlock ? local : hasher.hashLongLongToLong(readLongBe(parent, parentOffset), local);
        LONG_BE.set(out, outOffset, seq);
    }

    /**
     * SGLang: SHA-256 over the parent digest (none for the first page, or the salt seed when salted) followed by
     * the tokens as u32 little-endian.
     */
    private void digestSglang(byte[] parent, int parentOffset, boolean firstBlock, int[] tokens, int from, int count,
                              HashExtras extras, byte[] out, int outOffset) {
        final MessageDigest md = sha256;
        md.reset();
        if (!firstBlock) {
            md.update(parent, parentOffset, 32);
        } else if (extras.cacheSaltUtf8().length > 0) {
            md.update(SGLANG_SALT_PREFIX);
            md.update(extras.cacheSaltUtf8());
            try {
                md.digest(sglangSaltSeed, 0, 32);
            } catch (DigestException e) {
                throw new IllegalStateException(e);
            }
            md.update(sglangSaltSeed, 0, 32);
        }
        final int length = 4 * count;
        if (xxh3Buffer.length < length) {
            xxh3Buffer = new byte[Math.max(length, 2 * xxh3Buffer.length)];
        }
        final byte[] b = xxh3Buffer;
        for (int i = 0; i < count; i++) {
            INT_LE.set(b, 4 * i, tokens[from + i]);
        }
        md.update(b, 0, length);
        try {
            md.digest(out, outOffset, 32);
        } catch (DigestException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads 8 bytes as a big-endian long: the {@code low64_be} projection when pointed at a digest's last 8 bytes.
     *
     * @param bytes  the buffer
     * @param offset first of the 8 bytes
     * @return the value
     */
    static long readLongBe(byte[] bytes, int offset) {
        return (long) LONG_BE.get(bytes, offset);
    }
}
