package io.conductor.daemon.service;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.index.BlockHashSequence;
import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.HashProfile;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * Builds a query's lazy vLLM block-hash chain ({@link BlockHashChain}) with its context's profile. Profiles are
 * resolved once and cached; each request thread reuses one chain object (up to {@link #RETAINED_BLOCKS} blocks;
 * longer prompts get a one-off chain), so a query allocates no chain and
 * hashes only the blocks the index walk asks for. Contexts in token-rehash mode (no profile registered) hash with
 * {@link #REHASH_PROFILE}, the conductor's own chain that the event side recomputes from the events' tokens.
 * Thread-safe.
 */
public final class QueryHashing {
    /** The conductor's own hashing for token-rehash streams: vLLM v1 sha256_cbor with seed text "0". */
    public static final HashProfile REHASH_PROFILE = HashProfile.of(HashAlgorithm.SHA256_CBOR, "0");

    /**
     * Longest prompt, in blocks, whose chain a thread keeps for reuse (40 KB of keys and digests). A longer
     * prompt gets a chain of its own that is garbage after the query, so one huge query does not leave every
     * HTTP thread that served one holding megabytes.
     */
    public static final int RETAINED_BLOCKS = 1024;

    private final ConcurrentHashMap<HashProfileSpec, HashProfile> profiles = new ConcurrentHashMap<>();
    private final ThreadLocal<BlockHashChain> chains = ThreadLocal.withInitial(BlockHashChain::new);

    /**
     * Resolves a registered profile to the hashing module's profile.
     *
     * @param spec the registered profile, or {@code null} for token-rehash mode
     * @return the profile to hash with
     * @throws IllegalArgumentException if the spec cannot be resolved (registration validated it, so only for
     *     specs built elsewhere)
     */
    public HashProfile resolve(@Nullable HashProfileSpec spec) {
        if (spec == null) {
            return REHASH_PROFILE;
        }
        return profiles.computeIfAbsent(spec, s -> HashProfile.parse(s.strategy(), s.algorithm(), s.pythonHashSeed(),
                s.indexProjection()));
    }

    /**
     * Returns the calling thread's chain, reset to the prompt. Valid until the thread's next call.
     *
     * @param spec the context's profile, or {@code null} for token-rehash mode
     * @param blockSize hash block size in tokens
     * @param tokens the prompt (referenced, not copied)
     * @param loraName LoRA name, {@code ""} for none
     * @param cacheSalt cache salt, or {@code null}
     * @return the lazy chain
     * @throws IllegalArgumentException if the LoRA name or salt cannot be encoded (the answer is then empty)
     */
    public BlockHashSequence chain(@Nullable HashProfileSpec spec, long blockSize, int[] tokens, String loraName,
            @Nullable String cacheSalt) {
        return chain(spec, blockSize, tokens, tokens.length, loraName, cacheSalt);
    }

    /**
     * As {@link #chain(HashProfileSpec, long, int[], String, String)} for the prompt {@code tokens[0, tokenCount)}
     * (a reused request buffer may be longer).
     *
     * @param spec the context's profile, or {@code null} for token-rehash mode
     * @param blockSize hash block size in tokens
     * @param tokens the buffer holding the prompt (referenced, not copied)
     * @param tokenCount the prompt's length, {@code <= tokens.length}
     * @param loraName LoRA name, {@code ""} for none
     * @param cacheSalt cache salt, or {@code null}
     * @return the lazy chain
     * @throws IllegalArgumentException if the LoRA name or salt cannot be encoded (the answer is then empty)
     */
    public BlockHashSequence chain(@Nullable HashProfileSpec spec, long blockSize, int[] tokens, int tokenCount,
            String loraName, @Nullable String cacheSalt) {
        if (blockSize > tokenCount) {
            return new PrecomputedHashes(new long[0]);
        }
        HashExtras extras = loraName.isEmpty() && cacheSalt == null ? HashExtras.NONE
                : HashExtras.of(loraName, cacheSalt);
        BlockHashChain chain = tokenCount / blockSize > RETAINED_BLOCKS ? new BlockHashChain() : chains.get();
        return chain.reset(resolve(spec), (int) blockSize, tokens, 0, tokenCount, extras);
    }
}
