package io.conductor.daemon.snapshot;

import java.util.List;

/**
 * A whole snapshot: when it was taken and every engine stream's part. Immutable (see {@link StreamSnapshot} for
 * its blocks).
 *
 * @param createdMillis wall-clock time it was taken, epoch milliseconds
 * @param streams       one entry per engine stream, in no particular order
 */
public record IndexSnapshot(long createdMillis, List<StreamSnapshot> streams) {
    /** Copies the list. */
    public IndexSnapshot {
        streams = List.copyOf(streams);
    }

    /**
     * Returns the number of (block, owner) pairs in the snapshot.
     *
     * @return the total over every stream
     */
    public long pairs() {
        long n = 0;
        for (StreamSnapshot s : streams) {
            n += s.blocks().size();
        }
        return n;
    }
}
