package io.conductor.example.engine;

import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.HashProfile;
import org.jspecify.annotations.Nullable;

/**
 * The engine's block hasher: the project's vLLM v1 chain ({@link BlockHashChain}) under one {@link HashProfile}, so
 * the simulated engine publishes exactly the hashes the conductor recomputes from token ids.
 *
 * <p>Thread-safe: each thread hashes with its own chain.
 */
public final class VllmBlockHasher implements BlockHasher {
    private final HashProfile profile;
    private final int blockSize;
    private final ThreadLocal<BlockHashChain> chains = ThreadLocal.withInitial(BlockHashChain::new);

    /**
     * Creates the hasher.
     *
     * @param algorithm {@code sha256} or {@code sha256_cbor}
     * @param seedText the {@code PYTHONHASHSEED} text (any text vLLM can hash, e.g. {@code vllm-none-hash})
     * @param blockSize hash block size, {@code > 0}
     * @throws IllegalArgumentException for an unknown algorithm or a bad seed text
     */
    public VllmBlockHasher(String algorithm, String seedText, int blockSize) {
        HashAlgorithm a = HashAlgorithm.fromWireName(algorithm);
        if (a == null || a == HashAlgorithm.XXH3) {
            throw new IllegalArgumentException("hash algorithm must be sha256 or sha256_cbor, was " + algorithm);
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("block size must be > 0, was " + blockSize);
        }
        this.profile = HashProfile.forAnySeedText(a, seedText);
        this.blockSize = blockSize;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long[] hashBlocks(int[] tokens, int length, @Nullable String loraName, @Nullable String cacheSalt) {
        HashExtras extras = HashExtras.of(loraName == null ? "" : loraName, cacheSalt);
        BlockHashChain chain = chains.get().reset(profile, blockSize, tokens, 0, length, extras);
        long[] out = new long[chain.blockCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = chain.blockHash(i);
        }
        return out;
    }
}
