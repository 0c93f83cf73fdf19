package io.conductor.daemon.snapshot;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The local snapshot file. {@link #write} writes a temporary file next to it, forces it to disk and renames it
 * over the old one, so a crash at any point leaves either the old snapshot or the new one, never a torn file.
 * {@link #load} reads it whole and decodes it with {@link SnapshotCodec#read} (format version and checksum
 * checked before anything is used).
 *
 * <p>Thread-safe: {@link #write} is synchronized so the periodic writer and the shutdown writer never interleave.
 */
public final class SnapshotFile {
    private final Path path;
    private final long maxBytes;

    /**
     * Creates the file handle.
     *
     * @param path     the snapshot file
     * @param maxBytes largest file {@link #load} accepts (at most {@code Integer.MAX_VALUE - 16})
     */
    public SnapshotFile(Path path, long maxBytes) {
        this.path = Objects.requireNonNull(path, "path");
        this.maxBytes = Math.min(maxBytes, Integer.MAX_VALUE - 16);
    }

    /**
     * Returns the path.
     *
     * @return the snapshot file
     */
    public Path path() {
        return path;
    }

    /**
     * Writes a snapshot atomically.
     *
     * @param snapshot the snapshot
     * @return the file size
     * @throws IOException when the directory cannot be written (the old file, if any, is left as it was)
     */
    public synchronized long write(IndexSnapshot snapshot) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        long size;
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            OutputStream out = Channels.newOutputStream(ch);
            size = SnapshotCodec.write(snapshot, out);
            out.flush();
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        try {
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
        }
        return size;
    }

    /**
     * Loads the snapshot.
     *
     * @return the snapshot, or {@code null} when the file does not exist
     * @throws SnapshotFormatException when the file is larger than allowed, unreadable, truncated or corrupt
     */
    public @Nullable IndexSnapshot load() throws SnapshotFormatException {
        byte[] bytes;
        try {
            long size = Files.size(path);
            if (size > maxBytes) {
                throw new SnapshotFormatException(path + " is " + size + " bytes, more than the " + maxBytes
                        + " allowed (snapshot.max_bytes)");
            }
            bytes = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new SnapshotFormatException("cannot read " + path + ": " + e, e);
        }
        try {
            return SnapshotCodec.read(bytes, bytes.length);
        } catch (SnapshotFormatException e) {
            throw new SnapshotFormatException(path + ": " + e.getMessage(), e);
        }
    }
}
