package io.conductor.daemon.snapshot;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.RankBlocks;
import java.util.Objects;

/**
 * One engine stream's part of a snapshot: whose stream it is (service key, context, hash profile, endpoint), the
 * blocks its rank held, and the position those blocks reflect: the seq of the last batch applied and the stream's
 * epoch (resets seen by the subscriber that took the snapshot). Immutable apart from {@link #blocks()}, which its
 * holder must not change after construction.
 *
 * @param key      the registration's service key
 * @param context  the registration's context
 * @param profile  the hash profile the context is bound to, in {@link io.conductor.daemon.registry.HashProfileSpec}'s
 *                 string form; a registration with another profile does not get these blocks
 * @param layout   the hybrid group layout the context is registered with ({@code GroupLayout#toString}), or
 *                 {@code ""} for a plain context; a registration with another layout does not get these blocks
 * @param endpoint the publisher endpoint; a registration of another endpoint is another publisher
 * @param lastSeq  seq of the last batch the blocks include, or -1 when none was applied yet
 * @param epoch    the stream's epoch when the snapshot was taken
 * @param stale    the stream was already {@code stale} (its position could not be brought up to date)
 * @param blocks   the rank's blocks
 * @param rehash   a token-rehash stream's engine-to-own hash map as of {@code lastSeq} (then {@code profile} is
 *                 {@link #TOKEN_REHASH}), or {@code null}
 */
public record StreamSnapshot(ServiceKey key, ContextKey context, String profile, String layout, String endpoint,
        long lastSeq, long epoch, boolean stale, RankBlocks blocks, io.conductor.index.hash.@org.jspecify.annotations.Nullable RehashEntries rehash) {
    /** The profile field of a stream registered without {@code hash_profile} (token-rehash mode). */
    public static final String TOKEN_REHASH = "token-rehash";

    /**
     * A stream with a hash profile (no rehash map).
     *
     * @param key      the registration's service key
     * @param context  the registration's context
     * @param profile  the hash profile string
     * @param layout   the group layout string
     * @param endpoint the publisher endpoint
     * @param lastSeq  seq of the last batch the blocks include, or -1
     * @param epoch    the stream's epoch
     * @param stale    the stream was stale
     * @param blocks   the rank's blocks
     */
    public StreamSnapshot(ServiceKey key, ContextKey context, String profile, String layout, String endpoint,
            long lastSeq, long epoch, boolean stale, RankBlocks blocks) {
        this(key, context, profile, layout, endpoint, lastSeq, epoch, stale, blocks, null);
    }

    /**
     * Checks the fields.
     *
     * @throws NullPointerException for a null field
     */
    public StreamSnapshot {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(profile, "profile");
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(blocks, "blocks");
    }

    /**
     * The layout string of a registration's group layout.
     *
     * @param layout the layout, or {@code null} for a plain context
     * @return its canonical string, {@code ""} for none
     */
    public static String layoutString(io.conductor.index.prefix.@org.jspecify.annotations.Nullable GroupLayout layout) {
        return layout == null ? "" : layout.toString();
    }
}
