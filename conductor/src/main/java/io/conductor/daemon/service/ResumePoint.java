package io.conductor.daemon.service;

/**
 * Where a stream restored from a snapshot resumes: after batch {@code afterSeq} (its blocks are already in the
 * index), and whether it was already stale. Immutable.
 *
 * @param afterSeq seq of the last batch the restored blocks include, {@code >= 0}
 * @param stale    the restored blocks were already stale when the snapshot was taken
 */
public record ResumePoint(long afterSeq, boolean stale) {
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
