/**
 * Index snapshots: the binary, versioned, checksummed format ({@link io.conductor.daemon.snapshot.SnapshotCodec}),
 * the local snapshot file written on shutdown and periodically, the {@code GET /snapshot} route a starting peer
 * bootstraps from, and the restore of each stream's blocks at its registration, after which the stream resumes by
 * replay from the snapshot's position.
 */
@NullMarked
package io.conductor.daemon.snapshot;

import org.jspecify.annotations.NullMarked;
