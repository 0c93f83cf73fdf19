package io.conductor.index.hash;

import io.conductor.index.BlockHashSequence;

import java.util.Objects;

/**
 * A prompt's block-hash chain under one {@link HashProfile}, computed lazily: block {@code i} is hashed the first
 * time {@link #blockHash(int)} (or {@link #copyDigest}) asks for it or for a later block, and then remembered, so a
 * query that misses at block 0 costs one hash and all instances and DP ranks of a query share the digests.
 *
 * <p>Reusable: {@link #reset} points the chain at a new prompt without allocating (buffers grow only when a longer
 * prompt than ever before arrives). Keep one per thread, e.g. in a {@code ThreadLocal} of the HTTP layer.
 *
 * <p>Not thread-safe: one instance belongs to one thread; the token array passed to {@link #reset} is referenced,
 * not copied, and must not change until the chain is reset or dropped.
 *
 * <pre>{@code
 * BlockHashChain chain = CHAINS.get();                 // one per thread
 * chain.reset(profile, blockSize, tokens, 0, tokens.length, extras);
 * for (int i = 0; i < chain.blockCount(); i++) {
 *     if (!index.contains(chain.blockHash(i))) break;  // stop at the first miss: later blocks are never hashed
 * }
 * }</pre>
 */
public final class BlockHashChain implements BlockHashSequence {
    /** The most complete blocks a prompt may have (the digests of all of them must fit one array). */
    public static final int MAX_BLOCKS = Integer.MAX_VALUE / 64;

    private final BlockDigester digester = new BlockDigester();
    private final byte[] root = new byte[32];
    private HashProfile profile = HashProfile.of(HashAlgorithm.SHA256, "0");
    private HashExtras extras = HashExtras.NONE;
    private int[] tokens = new int[0];
    private int tokenOffset;
    private int blockSize = 1;
    private int blockCount;
    private int digestLength = 32;
    /** Where the 8 published key bytes start inside a digest (the profile's projection). */
    private int keyOffset = 24;
    /** Blocks 0 .. hashed-1 are in {@link #digests} and {@link #keys}. */
    private int hashed;
    private long[] keys = new long[64];
    private byte[] digests = new byte[64 * 32];

    /** Creates an empty chain (no blocks); call {@link #reset} before use. */
    public BlockHashChain() {
    }

    /**
     * Points the chain at a prompt. Nothing is hashed yet. Allocates only if the prompt has more blocks than any
     * before on this chain.
     *
     * @param profile    the hash profile of the context being queried
     * @param blockSize  hash block size in tokens, {@code >= 1}
     * @param tokens     token ids (referenced, not copied)
     * @param offset     first token of the prompt in {@code tokens}
     * @param length     number of prompt tokens; only {@code length / blockSize} complete blocks are hashed
     * @param extras     LoRA name and cache salt ({@link HashExtras#NONE} for none; ignored by XXH3)
     * @return this chain
     * @throws IllegalArgumentException  if {@code blockSize < 1} or the prompt has more than {@link #MAX_BLOCKS}
     *                                   blocks; the chain is then left with no blocks
     * @throws IndexOutOfBoundsException if the range lies outside {@code tokens}; the chain is then left with no
     *                                   blocks
     */
    @SuppressWarnings("ReferenceEquality") // identity is the cheap "same profile as last time" test
    public BlockHashChain reset(HashProfile profile, int blockSize, int[] tokens, int offset, int length,
                                HashExtras extras) {
        blockCount = 0;
        hashed = 0;
        Objects.checkFromIndexSize(offset, length, tokens.length);
        if (blockSize < 1) {
            throw new IllegalArgumentException("block size must be at least 1, was " + blockSize);
        }
        if (this.profile != profile) {
            digester.use(profile);
            profile.copyRootDigest(root, 0);
            this.profile = profile;
            digestLength = profile.algorithm().digestLength();
            keyOffset = profile.indexProjection().keyOffset(digestLength);
        }
        this.tokens = tokens;
        this.tokenOffset = offset;
        this.blockSize = blockSize;
        this.extras = extras;
        final int count = length / blockSize;
        if (count > MAX_BLOCKS) {
            throw new IllegalArgumentException("prompt has " + count + " blocks, more than " + MAX_BLOCKS);
        }
        if (keys.length < count) {
            final int capacity = (int) Math.min(MAX_BLOCKS, Math.max(count, 2L * keys.length));
            keys = new long[capacity];
            digests = new byte[capacity * 32];
        }
        blockCount = count;
        return this;
    }

    /**
     * Points the chain at a whole token array; see {@link #reset(HashProfile, int, int[], int, int, HashExtras)}.
     *
     * @param profile   the hash profile
     * @param blockSize hash block size, {@code >= 1}
     * @param tokens    the prompt's token ids (referenced, not copied)
     * @param extras    LoRA name and cache salt
     * @return this chain
     */
    public BlockHashChain reset(HashProfile profile, int blockSize, int[] tokens, HashExtras extras) {
        return reset(profile, blockSize, tokens, 0, tokens.length, extras);
    }

    @Override
    public int blockCount() {
        return blockCount;
    }

    /**
     * Returns block {@code index}'s published 64-bit hash (its digest's {@code low64_be}, or {@code high64_be} for
     * the sglang strategy), hashing it and any
     * earlier unhashed block first.
     *
     * @param index block index, {@code 0 <= index < blockCount()}
     * @return the 64-bit hash (values above {@link Long#MAX_VALUE} are negative)
     * @throws IndexOutOfBoundsException if {@code index} is outside the chain
     */
    @Override
    public long blockHash(int index) {
        if (index >= hashed) {
            hashThrough(Objects.checkIndex(index, blockCount));
        } else if (index < 0) {
            throw new IndexOutOfBoundsException("block index " + index + " out of bounds");
        }
        return keys[index];
    }

    /**
     * Copies block {@code index}'s full digest (32 bytes for SHA-256, 8 for XXH3), hashing it first if needed.
     *
     * @param index       block index, {@code 0 <= index < blockCount()}
     * @param destination buffer with {@link #digestLength()} bytes free at {@code offset}
     * @param offset      where to write
     * @throws IndexOutOfBoundsException if {@code index} is outside the chain
     */
    public void copyDigest(int index, byte[] destination, int offset) {
        blockHash(index);
        System.arraycopy(digests, index * digestLength, destination, offset, digestLength);
    }

    /**
     * Returns the length of one digest under the current profile.
     *
     * @return 32 (SHA-256 algorithms) or 8 (XXH3)
     */
    public int digestLength() {
        return digestLength;
    }

    /**
     * Returns how many blocks have been hashed since the last reset (for tests and metrics: the laziness is
     * observable here).
     *
     * @return the number of hashed blocks, {@code 0..blockCount()}
     */
    public int hashedBlockCount() {
        return hashed;
    }

    /**
     * Returns the profile of the current prompt.
     *
     * @return the profile
     */
    public HashProfile profile() {
        return profile;
    }

    private void hashThrough(int last) {
        final BlockDigester d = digester;
        final int[] t = tokens;
        final int size = blockSize;
        final int length = digestLength;
        final HashExtras x = extras;
        final byte[] out = digests;
        final long[] k = keys;
        for (int i = hashed; i <= last; i++) {
            if (i == 0) {
                d.digest(root, 0, true, t, tokenOffset, size, x, out, 0);
            } else {
                d.digest(out, (i - 1) * length, false, t, tokenOffset + i * size, size, x, out, i * length);
            }
            k[i] = BlockDigester.readLongBe(out, i * length + keyOffset);
            hashed = i + 1;
        }
    }
}
