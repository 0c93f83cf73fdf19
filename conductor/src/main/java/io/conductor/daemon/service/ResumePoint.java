package io.conductor.daemon.service;

import io.conductor.index.hash.RehashEntries;
import org.jspecify.annotations.Nullable;

/**
 * Where a stream restored from a snapshot resumes: after batch {@code afterSeq} (its blocks are already in the
 * index), whether it was already stale, and for a token-rehash stream the rehasher's engine-to-own hash map as of
 * that batch. Immutable.
 *
 * @param afterSeq seq of the last batch the restored blocks include, {@code >= 0}
 * @param stale    the restored blocks were already stale when the snapshot was taken
 * @param rehash   the token-rehash map to restore, or {@code null} (a stream with a hash profile)
 */
public record ResumePoint(long afterSeq, boolean stale, @Nullable RehashEntries rehash) {
    /**
     * A resume point without a rehash map.
     *
     * @param afterSeq seq of the last batch the restored blocks include, {@code >= 0}
     * @param stale    the restored blocks were already stale
     */
    public ResumePoint(long afterSeq, boolean stale) {
        this(afterSeq, stale, null);
    }

    /**
     * Checks the seq.
     *
     * @throws IllegalArgumentException for a negative seq
     */
    public ResumePoint {
        if (afterSeq < 0) {
            throw new IllegalArgumentException("afterSeq must be >= 0: " + afterSeq);
        }
    }
}
