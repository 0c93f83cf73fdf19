package io.conductor.daemon.snapshot;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.index.hash.RehashEntries;
import io.conductor.index.hash.TokenRehasher;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.GroupLayout;
import io.conductor.index.prefix.RankBlocks;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;
import org.jspecify.annotations.Nullable;

/**
 * The snapshot wire format, version {@value #VERSION}: what the local snapshot file and {@code GET /snapshot}
 * hold. Big-endian throughout:
 * <pre>
 *   header   "CONDSNAP" (8 bytes), u32 version, u32 flags (0), i64 created_millis, u32 stream_count
 *   stream   str instance_id, str tenant_id, u32 dp_rank, str model, i64 block_size, str profile, str endpoint,
 *            i64 last_seq, i64 epoch, u8 flags (bit 0: stale),
 *            u32 group_count, str layout,                       (version 2 on)
 *            u32 lora_count, str x lora_count, u32 block_count,
 *            block_count x (i64 hash, u32 meta = lora &lt;&lt; 18 | depth &lt;&lt; 3 | tier_bits),
 *            u32 digest_length, u32 entry_count,                 (version 3 on; digest_length 0: no map)
 *            entry_count x (i64 engine_hash, i64 own_hash, u32 refs, digest_length bytes own digest)
 *   trailer  "CONDSEND" (8 bytes), i64 length of everything before the trailer, u32 CRC32C of it
 *   str      u32 byte length (at most {@value #MAX_STRING_BYTES}), UTF-8 bytes
 * </pre>
 * In a hybrid context (group_count &gt; 1) a block's lora field is {@code lora * group_count + group}; layout is
 * the registration's group layout ({@code ""} when plain). A token-rehash stream (registered without
 * {@code hash_profile}; profile field {@code "token-rehash"}) also carries its rehasher's engine-to-own hash map
 * (version 3), so engine removals of restored blocks still translate; at most
 * {@link TokenRehasher#MAX_CAPACITY} entries. Version 1 files (before group layouts) are still read,
 * as plain contexts; version 1 and 2 files hold no rehash maps. A block costs 12 bytes, about what the index spends on it in memory. {@link #read} checks the trailer (length
 * and checksum) over the whole input before decoding anything, then every count against the bytes left before
 * allocating, and decodes into new objects only: a bad snapshot fails with {@link SnapshotFormatException} and
 * nothing of it reaches the index.
 *
 * <p>Stateless and thread-safe.
 */
public final class SnapshotCodec {
    /** The format version this code writes and reads. */
    public static final int VERSION = 3;
    /** The oldest format version {@link #read} still accepts. */
    public static final int OLDEST_READABLE = 1;
    /** Longest string field. */
    public static final int MAX_STRING_BYTES = 64 * 1024;

    private static final long MAGIC = 0x434F4E44534E4150L; // "CONDSNAP"
    private static final long END_MAGIC = 0x434F4E4453454E44L; // "CONDSEND"
    private static final int HEADER_BYTES = 8 + 4 + 4 + 8 + 4;
    private static final int TRAILER_BYTES = 8 + 8 + 4;
    private static final int BLOCK_BYTES = 12;
    private static final int TIER_BITS = 3;
    private static final int DEPTH_SHIFT = 3;
    private static final int LORA_SHIFT = 18;
    private static final int BUFFER_BYTES = 1 << 20;

    private SnapshotCodec() {
    }

    // ============================================================== writing

    /**
     * Writes a snapshot.
     *
     * @param snapshot the snapshot
     * @param out      where to write (not closed)
     * @return bytes written
     * @throws IOException when {@code out} fails
     */
    public static long write(IndexSnapshot snapshot, OutputStream out) throws IOException {
        Writer w = new Writer(out);
        w.ensure(HEADER_BYTES);
        w.buf.putLong(MAGIC).putInt(VERSION).putInt(0).putLong(snapshot.createdMillis())
                .putInt(snapshot.streams().size());
        for (StreamSnapshot s : snapshot.streams()) {
            w.str(s.key().instanceId());
            w.str(s.key().tenantId());
            w.ensure(4);
            w.buf.putInt(s.key().dpRank());
            w.str(s.context().modelName());
            w.ensure(8);
            w.buf.putLong(s.context().blockSize());
            w.str(s.profile());
            w.str(s.endpoint());
            w.ensure(17);
            w.buf.putLong(s.lastSeq()).putLong(s.epoch()).put((byte) (s.stale() ? 1 : 0));
            RankBlocks b = s.blocks();
            w.ensure(4);
            w.buf.putInt(b.groupCount());
            w.str(s.layout());
            List<String> loras = b.loraNames();
            w.ensure(4);
            w.buf.putInt(loras.size());
            for (String l : loras) {
                w.str(l);
            }
            int n = b.size();
            w.ensure(4);
            w.buf.putInt(n);
            for (int i = 0; i < n; i++) {
                w.ensure(BLOCK_BYTES);
                w.buf.putLong(b.hash(i)).putInt(b.loraOf(i) << LORA_SHIFT | b.depth(i) << DEPTH_SHIFT
                        | b.tierBits(i));
            }
            writeRehash(w, s.rehash());
        }
        w.flush();
        ByteBuffer trailer = ByteBuffer.allocate(TRAILER_BYTES);
        trailer.putLong(END_MAGIC).putLong(w.written).putInt((int) w.crc.getValue());
        out.write(trailer.array());
        return w.written + TRAILER_BYTES;
    }

    private static void writeRehash(Writer w, @Nullable RehashEntries r) throws IOException {
        w.ensure(8);
        if (r == null) {
            w.buf.putInt(0).putInt(0);
            return;
        }
        int length = r.digestLength();
        int n = r.size();
        w.buf.putInt(length).putInt(n);
        byte[] digests = r.digests();
        for (int i = 0; i < n; i++) {
            w.ensure(20 + length);
            w.buf.putLong(r.engineHashes()[i]).putLong(r.ownHashes()[i]).putInt(r.counts()[i])
                    .put(digests, i * length, length);
        }
    }

    /** Buffers writes and checksums each flushed chunk. */
    private static final class Writer {
        final OutputStream out;
        final ByteBuffer buf = ByteBuffer.allocate(BUFFER_BYTES);
        final CRC32C crc = new CRC32C();
        long written;

        Writer(OutputStream out) {
            this.out = out;
        }

        void ensure(int bytes) throws IOException {
            if (buf.remaining() < bytes) {
                flush();
            }
        }

        void flush() throws IOException {
            int n = buf.position();
            crc.update(buf.array(), 0, n);
            out.write(buf.array(), 0, n);
            written += n;
            buf.clear();
        }

        void str(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            if (b.length > MAX_STRING_BYTES) {
                throw new IllegalArgumentException("string field longer than " + MAX_STRING_BYTES + " bytes");
            }
            ensure(4);
            buf.putInt(b.length);
            int off = 0;
            while (off < b.length) {
                if (!buf.hasRemaining()) {
                    flush();
                }
                int k = Math.min(buf.remaining(), b.length - off);
                buf.put(b, off, k);
                off += k;
            }
        }
    }

    // ============================================================== reading

    /**
     * Decodes a snapshot held whole in {@code bytes[0..length)}.
     *
     * @param bytes  the snapshot
     * @param length its length
     * @return the snapshot
     * @throws SnapshotFormatException when it is not a complete, intact snapshot of this version
     */
    public static IndexSnapshot read(byte[] bytes, int length) throws SnapshotFormatException {
        if (length < HEADER_BYTES + TRAILER_BYTES) {
            throw new SnapshotFormatException("truncated: " + length + " bytes, a snapshot has at least "
                    + (HEADER_BYTES + TRAILER_BYTES));
        }
        ByteBuffer all = ByteBuffer.wrap(bytes, 0, length);
        if (all.getLong(0) != MAGIC) {
            throw new SnapshotFormatException("not a conductor snapshot (bad magic)");
        }
        int version = all.getInt(8);
        if (version < OLDEST_READABLE || version > VERSION) {
            throw new SnapshotFormatException("unsupported snapshot format version " + version + " (this conductor "
                    + "reads versions " + OLDEST_READABLE + " to " + VERSION + ")");
        }
        int body = length - TRAILER_BYTES;
        if (all.getLong(body) != END_MAGIC) {
            throw new SnapshotFormatException("truncated or corrupt: no end marker at byte " + body);
        }
        long declared = all.getLong(body + 8);
        if (declared != body) {
            throw new SnapshotFormatException("truncated or corrupt: trailer says " + declared + " bytes, found "
                    + body);
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, body);
        int expected = all.getInt(body + 16);
        if ((int) crc.getValue() != expected) {
            throw new SnapshotFormatException("checksum mismatch (CRC32C " + Integer.toHexString((int) crc.getValue())
                    + ", trailer says " + Integer.toHexString(expected) + ")");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes, 0, body);
        in.position(16);
        try {
            long created = in.getLong();
            int streams = count(in, in.getInt(), 8, "stream count");
            List<StreamSnapshot> out = new ArrayList<>(streams);
            for (int k = 0; k < streams; k++) {
                out.add(readStream(in, k, version));
            }
            if (in.hasRemaining()) {
                throw new SnapshotFormatException(in.remaining() + " unexpected bytes after the last stream");
            }
            return new IndexSnapshot(created, out);
        } catch (BufferUnderflowException e) {
            throw new SnapshotFormatException("truncated inside the snapshot body", e);
        } catch (IllegalArgumentException e) {
            throw new SnapshotFormatException("invalid value: " + e.getMessage(), e);
        }
    }

    private static StreamSnapshot readStream(ByteBuffer in, int k, int version) throws SnapshotFormatException {
        String instance = str(in);
        String tenant = str(in);
        int dpRank = in.getInt();
        String model = str(in);
        long blockSize = in.getLong();
        String profile = str(in);
        String endpoint = str(in);
        long lastSeq = in.getLong();
        long epoch = in.getLong();
        int flags = in.get();
        int groups = 1;
        String layout = "";
        if (version >= 2) {
            groups = in.getInt();
            if (groups < 1 || groups > GroupLayout.MAX_GROUPS) {
                throw new SnapshotFormatException("stream " + k + ": group count " + Integer.toUnsignedString(groups)
                        + " out of range");
            }
            layout = str(in);
        }
        ServiceKey key = new ServiceKey(instance, tenant, dpRank);
        ContextKey context = new ContextKey(tenant, model, blockSize);
        int loras = count(in, in.getInt(), 4, "stream " + k + " LoRA count");
        if (loras < 1 || loras > RankBlocks.MAX_LORA + 1) {
            throw new SnapshotFormatException("stream " + k + ": LoRA count " + loras + " out of range");
        }
        List<String> names = new ArrayList<>(loras);
        for (int i = 0; i < loras; i++) {
            names.add(str(in));
        }
        if (!names.getFirst().isEmpty()) {
            throw new SnapshotFormatException("stream " + k + ": LoRA 0 must be the base model");
        }
        int n = count(in, in.getInt(), BLOCK_BYTES, "stream " + k + " block count");
        RankBlocks blocks = new RankBlocks(n, groups);
        for (int i = 1; i < loras; i++) {
            if (blocks.lora(names.get(i)) != i) {
                throw new SnapshotFormatException("stream " + k + ": duplicate LoRA name");
            }
        }
        for (int i = 0; i < n; i++) {
            long hash = in.getLong();
            int meta = in.getInt();
            int lora = meta >>> LORA_SHIFT;
            if (lora >= loras * groups) {
                throw new SnapshotFormatException("stream " + k + " block " + i + ": LoRA index " + lora
                        + " out of range");
            }
            blocks.add(lora, hash, meta & ((1 << TIER_BITS) - 1), (meta >>> DEPTH_SHIFT) & RankBlocks.MAX_DEPTH);
        }
        RehashEntries rehash = version >= 3 ? readRehash(in, k) : null;
        if (rehash != null && !StreamSnapshot.TOKEN_REHASH.equals(profile)) {
            throw new SnapshotFormatException("stream " + k + ": a rehash map on a stream with a hash profile");
        }
        return new StreamSnapshot(key, context, profile, layout, endpoint, lastSeq, epoch, (flags & 1) != 0, blocks,
                rehash);
    }

    private static @Nullable RehashEntries readRehash(ByteBuffer in, int k) throws SnapshotFormatException {
        int length = in.getInt();
        int declared = in.getInt();
        if (length == 0) {
            if (declared != 0) {
                throw new SnapshotFormatException("stream " + k + ": rehash entries without a digest length");
            }
            return null;
        }
        if (length < 1 || length > RehashEntries.MAX_DIGEST_LENGTH) {
            throw new SnapshotFormatException("stream " + k + ": rehash digest length "
                    + Integer.toUnsignedString(length) + " out of range");
        }
        int n = count(in, declared, 20 + length, "stream " + k + " rehash entry count");
        if (n > TokenRehasher.MAX_CAPACITY) {
            throw new SnapshotFormatException("stream " + k + ": " + n + " rehash entries, at most "
                    + TokenRehasher.MAX_CAPACITY);
        }
        long[] engine = new long[n];
        long[] own = new long[n];
        int[] refs = new int[n];
        byte[] digests = new byte[n * length];
        for (int i = 0; i < n; i++) {
            engine[i] = in.getLong();
            own[i] = in.getLong();
            refs[i] = in.getInt();
            if (refs[i] < 1) {
                throw new SnapshotFormatException("stream " + k + " rehash entry " + i + ": reference count "
                        + Integer.toUnsignedString(refs[i]));
            }
            in.get(digests, i * length, length);
        }
        return new RehashEntries(length, engine, own, refs, digests);
    }

    /** A declared count, checked against the bytes left (each element needs at least {@code minBytes}). */
    private static int count(ByteBuffer in, int declared, int minBytes, String what) throws SnapshotFormatException {
        if (declared < 0 || (long) declared * minBytes > in.remaining()) {
            throw new SnapshotFormatException(what + " " + Integer.toUnsignedString(declared)
                    + " exceeds the bytes left (" + in.remaining() + ")");
        }
        return declared;
    }

    private static String str(ByteBuffer in) throws SnapshotFormatException {
        int len = in.getInt();
        if (len < 0 || len > MAX_STRING_BYTES || len > in.remaining()) {
            throw new SnapshotFormatException("string length " + Integer.toUnsignedString(len) + " out of range at byte "
                    + (in.position() - 4));
        }
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(in.slice(in.position(), len)).toString();
            in.position(in.position() + len);
            return s;
        } catch (CharacterCodingException e) {
            throw new SnapshotFormatException("string at byte " + in.position() + " is not UTF-8", e);
        }
    }
}
