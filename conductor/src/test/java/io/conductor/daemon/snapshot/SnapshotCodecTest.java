package io.conductor.daemon.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.index.hash.RehashEntries;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.RankBlocks;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The snapshot format: round trip, and every way a damaged snapshot is refused whole with a clear reason. */
class SnapshotCodecTest {
    @TempDir
    Path dir;

    private static IndexSnapshot sample() {
        RankBlocks a = new RankBlocks(4);
        int lora = a.lora("adapter-ü");
        a.add(0, 0x1234_5678_9abc_def0L, RankBlocks.GPU_BIT, 1);
        a.add(0, -1L, RankBlocks.GPU_BIT | RankBlocks.CPU_BIT, 2);
        a.add(lora, 42, RankBlocks.DISK_BIT, RankBlocks.MAX_DEPTH);
        RankBlocks b = new RankBlocks(0);
        // A hybrid context's rank: 3 groups, so the LoRA field is lora * 3 + group.
        RankBlocks h = new RankBlocks(4, 3);
        int hl = h.lora("ad");
        h.add(2, 7, RankBlocks.GPU_BIT, 3);
        h.add(hl * 3 + 1, 8, RankBlocks.GPU_BIT, 4);
        return new IndexSnapshot(1_700_000_000_123L, List.of(
                new StreamSnapshot(new ServiceKey("vllm-1", "default", 0), new ContextKey("default", "qwen", 16),
                        "vllm_v1|sha256|0|ab|low64_be", "", "tcp://10.0.0.5:5557", 977, 2, false, a),
                new StreamSnapshot(new ServiceKey("vllm-2", "t2", 3), new ContextKey("t2", "llama", 32),
                        "p", "", "tcp://10.0.0.6:5557", -1, 0, true, b),
                new StreamSnapshot(new ServiceKey("gemma-1", "default", 0), new ContextKey("default", "gemma", 16),
                        "p", "GroupLayout[0=full/16, 1=sliding_window/16/window=64, 2=full/32]",
                        "tcp://10.0.0.7:5557", 12, 1, false, h),
                new StreamSnapshot(new ServiceKey("sglang-1", "default", 1), new ContextKey("default", "qwen", 16),
                        StreamSnapshot.TOKEN_REHASH, "", "tcp://10.0.0.8:5557", 5, 0, false, rehashBlocks(),
                        rehashMap())));
    }

    private static RankBlocks rehashBlocks() {
        RankBlocks r = new RankBlocks(2);
        r.add(0, 0x0102_0304_0506_0708L, RankBlocks.GPU_BIT, 1);
        r.add(0, 0x1112_1314_1516_1718L, RankBlocks.GPU_BIT, 2);
        return r;
    }

    /** Two entries with 32-byte digests (values only: the codec does not hash). */
    private static RehashEntries rehashMap() {
        byte[] digests = new byte[64];
        for (int i = 0; i < digests.length; i++) {
            digests[i] = (byte) (i * 7 + 1);
        }
        return new RehashEntries(32, new long[] {-5L, 77L}, new long[] {0x0102_0304_0506_0708L,
            0x1112_1314_1516_1718L}, new int[] {1, 3}, digests);
    }

    private static byte[] encode(IndexSnapshot s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long n = SnapshotCodec.write(s, out);
        assertEquals(n, out.size());
        return out.toByteArray();
    }

    private static String describe(IndexSnapshot s) {
        StringBuilder sb = new StringBuilder().append(s.createdMillis());
        for (StreamSnapshot t : s.streams()) {
            sb.append('\n').append(t.key()).append(' ').append(t.context()).append(' ').append(t.profile())
                    .append(' ').append(t.layout()).append(' ').append(t.blocks().groupCount())
                    .append(' ').append(t.endpoint()).append(' ').append(t.lastSeq()).append(' ').append(t.epoch())
                    .append(' ').append(t.stale()).append(' ').append(t.blocks().loraNames());
            for (int i = 0; i < t.blocks().size(); i++) {
                sb.append(' ').append(t.blocks().hash(i)).append('/').append(t.blocks().loraOf(i)).append('/')
                        .append(t.blocks().tierBits(i)).append('/').append(t.blocks().depth(i));
            }
            RehashEntries r = t.rehash();
            if (r != null) {
                sb.append(" rehash ").append(r.digestLength()).append(Arrays.toString(r.engineHashes()))
                        .append(Arrays.toString(r.ownHashes())).append(Arrays.toString(r.counts()))
                        .append(Arrays.toString(r.digests()));
            }
        }
        return sb.toString();
    }

    /** Re-seals a modified body with a valid trailer, so only the body's own checks can catch the change. */
    private static byte[] reseal(byte[] bytes) {
        int body = bytes.length - 20;
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, body);
        ByteBuffer.wrap(bytes).putInt(body + 16, (int) crc.getValue());
        return bytes;
    }

    @Test
    void shouldReadBackEveryFieldWhenWrittenAndRead() throws Exception {
        IndexSnapshot s = sample();
        byte[] bytes = encode(s);

        IndexSnapshot back = SnapshotCodec.read(bytes, bytes.length);

        assertEquals(describe(s), describe(back));
        assertEquals(7, back.pairs());
        assertEquals(2, back.streams().get(3).rehash().size());
        assertNull(back.streams().getFirst().rehash());
    }

    /** A version 2 file (group layouts, no rehash maps), written field by field: one hybrid stream, one block. */
    @Test
    void shouldStillReadAVersionTwoFileWithoutRehashMaps() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(512);
        b.putLong(0x434F4E44534E4150L).putInt(2).putInt(0).putLong(1_700_000_000_000L).putInt(1);
        for (String str : new String[] {"vllm-1", "default"}) {
            b.putInt(str.length()).put(str.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        b.putInt(0);
        b.putInt(4).put("qwen".getBytes(java.nio.charset.StandardCharsets.UTF_8)).putLong(16);
        b.putInt(1).put((byte) 'p');
        b.putInt(3).put("tcp".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        b.putLong(41).putLong(0).put((byte) 0);
        b.putInt(2).putInt(1).put((byte) 'L'); // two groups, layout "L"
        b.putInt(1).putInt(0); // one LoRA name: ""
        b.putInt(1).putLong(99).putInt(1 << 18 | 5 << 3 | RankBlocks.GPU_BIT); // group 1
        int body = b.position();
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, body);
        b.putLong(0x434F4E4453454E44L).putLong(body).putInt((int) crc.getValue());
        byte[] bytes = Arrays.copyOf(b.array(), b.position());

        StreamSnapshot t = SnapshotCodec.read(bytes, bytes.length).streams().getFirst();

        assertEquals("L", t.layout());
        assertEquals(2, t.blocks().groupCount());
        assertEquals(1, t.blocks().loraOf(0));
        assertNull(t.rehash());
    }

    @Test
    void shouldRefuseARehashEntryCountBeyondTheBytesLeft() throws Exception {
        byte[] bytes = encode(new IndexSnapshot(1, List.of(new StreamSnapshot(new ServiceKey("s", "default", 0),
                new ContextKey("default", "m", 16), StreamSnapshot.TOKEN_REHASH, "", "tcp", 1, 0, false,
                rehashBlocks(), rehashMap()))));
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        int at = bytes.length - 20 - 2 * (20 + 32) - 4; // the entry count
        assertEquals(2, buf.getInt(at));
        buf.putInt(at, 1 << 30);

        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> SnapshotCodec.read(reseal(bytes), bytes.length));

        assertTrue(e.getMessage().contains("rehash entry count"), e.getMessage());
    }

    /** A version 1 file (before group layouts), written field by field: one plain stream, one block. */
    private static byte[] versionOneFile() {
        ByteBuffer b = ByteBuffer.allocate(512);
        b.putLong(0x434F4E44534E4150L).putInt(1).putInt(0).putLong(1_700_000_000_000L).putInt(1);
        for (String str : new String[] {"vllm-1", "default"}) {
            b.putInt(str.length()).put(str.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        b.putInt(0);
        b.putInt(4).put("qwen".getBytes(java.nio.charset.StandardCharsets.UTF_8)).putLong(16);
        b.putInt(1).put((byte) 'p');
        b.putInt(3).put("tcp".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        b.putLong(41).putLong(0).put((byte) 0);
        b.putInt(1).putInt(0); // one LoRA name: ""
        b.putInt(1).putLong(99).putInt(5 << 3 | RankBlocks.GPU_BIT);
        int body = b.position();
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, body);
        b.putLong(0x434F4E4453454E44L).putLong(body).putInt((int) crc.getValue());
        return Arrays.copyOf(b.array(), b.position());
    }

    @Test
    void shouldStillReadAVersionOneFileAsPlainContexts() throws Exception {
        byte[] bytes = versionOneFile();

        IndexSnapshot back = SnapshotCodec.read(bytes, bytes.length);

        StreamSnapshot t = back.streams().getFirst();
        assertEquals("", t.layout());
        assertEquals(1, t.blocks().groupCount());
        assertEquals(99, t.blocks().hash(0));
        assertEquals(5, t.blocks().depth(0));
        assertEquals(41, t.lastSeq());
    }

    @Test
    void shouldRefuseABlockWhoseGroupIsBeyondTheGroupCount() throws Exception {
        RankBlocks h = new RankBlocks(1, 2);
        h.add(1, 0x1234_5678_9abc_def0L, RankBlocks.GPU_BIT, 1); // lora 0, group 1
        byte[] bytes = encode(new IndexSnapshot(1, List.of(new StreamSnapshot(new ServiceKey("g", "default", 0),
                new ContextKey("default", "m", 16), "p", "L", "tcp", 1, 0, false, h))));
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        for (int i = 0; i + 8 <= bytes.length; i++) {
            if (buf.getLong(i) == 0x1234_5678_9abc_def0L) {
                buf.putInt(i + 8, buf.getInt(i + 8) + (1 << 18)); // group 2 of 2
                break;
            }
        }

        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> SnapshotCodec.read(reseal(bytes), bytes.length));
        assertTrue(e.getMessage().contains("LoRA index 2 out of range"), e.getMessage());
    }

    @Test
    void shouldRefuseAFlippedByteByChecksum() throws Exception {
        byte[] bytes = encode(sample());
        bytes[60] ^= 0x10;

        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> SnapshotCodec.read(bytes, bytes.length));
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());
    }

    @Test
    void shouldRefuseEveryTruncation() throws Exception {
        byte[] bytes = encode(sample());
        for (int len = 0; len < bytes.length; len++) {
            byte[] cut = Arrays.copyOf(bytes, len);
            int l = len;
            assertThrows(SnapshotFormatException.class, () -> SnapshotCodec.read(cut, l), "length " + len);
        }
    }

    @Test
    void shouldRefuseAnotherVersionOrMagic() throws Exception {
        byte[] bytes = encode(sample());
        ByteBuffer.wrap(bytes).putInt(8, 99);
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> SnapshotCodec.read(bytes, bytes.length));
        assertTrue(e.getMessage().contains("version 99"), e.getMessage());

        byte[] other = encode(sample());
        other[0] = 'X';
        e = assertThrows(SnapshotFormatException.class, () -> SnapshotCodec.read(other, other.length));
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void shouldRefuseACountBeyondTheBytesLeftBeforeAllocating() throws Exception {
        byte[] bytes = encode(sample());
        ByteBuffer.wrap(bytes).putInt(24, Integer.MAX_VALUE); // stream count
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> SnapshotCodec.read(reseal(bytes), bytes.length));
        assertTrue(e.getMessage().contains("stream count"), e.getMessage());
    }

    @Test
    void shouldRefuseBadTierBitsInsideAnIntactFile() throws Exception {
        IndexSnapshot s = sample();
        byte[] bytes = encode(s);
        // The first block's meta word is the 4 bytes after its hash; find the hash and zero its tier bits.
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        int at = -1;
        for (int i = 0; i + 8 <= bytes.length; i++) {
            if (buf.getLong(i) == 0x1234_5678_9abc_def0L) {
                at = i + 8;
                break;
            }
        }
        assertTrue(at > 0);
        buf.putInt(at, buf.getInt(at) & ~7);

        SnapshotFormatException e = assertThrows(SnapshotFormatException.class,
                () -> SnapshotCodec.read(reseal(bytes), bytes.length));
        assertTrue(e.getMessage().contains("tier bits"), e.getMessage());
    }

    @Test
    void shouldReplaceTheFileAtomicallyAndReportAMissingOne() throws Exception {
        SnapshotFile f = new SnapshotFile(dir.resolve("sub/index.snap"), 1 << 20);
        assertNull(f.load());

        f.write(sample());
        f.write(new IndexSnapshot(5, List.of()));

        assertEquals(5, f.load().createdMillis());
        try (var files = Files.list(dir.resolve("sub"))) {
            assertEquals(List.of("index.snap"), files.map(p -> p.getFileName().toString()).toList(),
                    "no temporary file left behind");
        }
    }

    @Test
    void shouldNameTheFileAndTheReasonWhenItIsTruncated() throws Exception {
        SnapshotFile f = new SnapshotFile(dir.resolve("index.snap"), 1 << 20);
        f.write(sample());
        byte[] bytes = Files.readAllBytes(f.path());
        Files.write(f.path(), Arrays.copyOf(bytes, bytes.length - 7));

        SnapshotFormatException e = assertThrows(SnapshotFormatException.class, f::load);
        assertTrue(e.getMessage().contains("index.snap") && e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void shouldRefuseAFileLargerThanTheLimit() throws Exception {
        SnapshotFile big = new SnapshotFile(dir.resolve("index.snap"), 1 << 20);
        big.write(sample());
        SnapshotFile small = new SnapshotFile(dir.resolve("index.snap"), 10);

        SnapshotFormatException e = assertThrows(SnapshotFormatException.class, small::load);
        assertTrue(e.getMessage().contains("max_bytes"), e.getMessage());
    }
}
