package io.conductor.daemon.service;

import io.conductor.index.prefix.RankBlocks;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What a snapshot saved of one engine stream, handed to its registration: the rank's blocks and where its stream
 * resumes ({@code null}: the snapshot was taken before any batch applied, so the stream bootstraps as usual).
 * Immutable once handed over.
 *
 * @param blocks the blocks to restore into the rank
 * @param resume the resume position, or {@code null}
 */
public record SavedStream(RankBlocks blocks, @Nullable ResumePoint resume) {
    /** Checks the blocks. */
    public SavedStream {
        Objects.requireNonNull(blocks, "blocks");
    }
}
