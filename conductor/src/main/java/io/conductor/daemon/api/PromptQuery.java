package io.conductor.daemon.api;

import io.conductor.index.prefix.ContextKey;
import org.jspecify.annotations.Nullable;

/**
 * A validated prefix query: the context, LoRA, salt and instance filter, and the prompt either as token ids
 * ({@code /query}, {@code /route}, {@code /cache}) or as precomputed block hashes ({@code /query_by_hash}).
 * Arrays are owned by the request and not copied; the token ids are {@code tokens[0, tokenCount)} (the array may be
 * the request thread's reused buffer, valid only until its next request). Immutable by convention; belongs to one
 * request thread.
 *
 * @param context the context the query names
 * @param loraName LoRA name, {@code ""} for the base model
 * @param cacheSalt cache salt, or {@code null} for none ({@code ""} is normalized to {@code null})
 * @param instanceFilter restrict the answer to this instance, or {@code null}
 * @param tokens prompt token ids, or {@code null} when {@code hashes} is given
 * @param hashes precomputed block hashes, or {@code null} when {@code tokens} is given
 * @param hashable false when {@code loraName} or {@code cacheSalt} was not valid UTF-8: the answer is empty
 * @param tokenCount how many of {@code tokens} are the prompt ({@code 0} when {@code tokens} is {@code null})
 */
public record PromptQuery(ContextKey context, String loraName, @Nullable String cacheSalt,
        @Nullable String instanceFilter, int @Nullable [] tokens, long @Nullable [] hashes, boolean hashable,
        int tokenCount) {

    /**
     * Checks that the token count lies within the token array.
     *
     * @throws IllegalArgumentException if it does not
     */
    public PromptQuery {
        if (tokenCount < 0 || tokenCount > (tokens == null ? 0 : tokens.length)) {
            throw new IllegalArgumentException("tokenCount " + tokenCount + " outside the token array");
        }
    }

    /**
     * A query whose prompt is the whole {@code tokens} array.
     *
     * @param context the context the query names
     * @param loraName LoRA name, {@code ""} for the base model
     * @param cacheSalt cache salt, or {@code null}
     * @param instanceFilter restrict the answer to this instance, or {@code null}
     * @param tokens prompt token ids, or {@code null} when {@code hashes} is given
     * @param hashes precomputed block hashes, or {@code null} when {@code tokens} is given
     * @param hashable false when a name was not valid UTF-8
     */
    public PromptQuery(ContextKey context, String loraName, @Nullable String cacheSalt,
            @Nullable String instanceFilter, int @Nullable [] tokens, long @Nullable [] hashes, boolean hashable) {
        this(context, loraName, cacheSalt, instanceFilter, tokens, hashes, hashable,
                tokens == null ? 0 : tokens.length);
    }

    /**
     * Returns the number of complete blocks of the prompt.
     *
     * @return {@code floor(tokens / block_size)}, or the number of hashes
     */
    public int blockCount() {
        long[] h = hashes;
        if (h != null) {
            return h.length;
        }
        return (int) (tokenCount / context.blockSize());
    }

    /**
     * Returns the prompt length in tokens that the query covers.
     *
     * @return token count; for a hash query, {@code hashes × block_size}
     */
    public long promptTokens() {
        return tokens != null ? tokenCount : blockCount() * context.blockSize();
    }

    /**
     * Returns the same query restricted to {@code instanceId}.
     *
     * @param instanceId the filter, or {@code null} for none
     * @return the new query
     */
    public PromptQuery withInstanceFilter(@Nullable String instanceId) {
        return new PromptQuery(context, loraName, cacheSalt, instanceId, tokens, hashes, hashable, tokenCount);
    }
}
