package io.conductor.daemon.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.daemon.registry.ServiceKey;
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
        return new IndexSnapshot(1_700_000_000_123L, List.of(
                new StreamSnapshot(new ServiceKey("vllm-1", "default", 0), new ContextKey("default", "qwen", 16),
                        "vllm_v1|sha256|0|ab|low64_be", "tcp://10.0.0.5:5557", 977, 2, false, a),
                new StreamSnapshot(new ServiceKey("vllm-2", "t2", 3), new ContextKey("t2", "llama", 32),
                        "p", "tcp://10.0.0.6:5557", -1, 0, true, b)));
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
                    .append(' ').append(t.endpoint()).append(' ').append(t.lastSeq()).append(' ').append(t.epoch())
                    .append(' ').append(t.stale()).append(' ').append(t.blocks().loraNames());
            for (int i = 0; i < t.blocks().size(); i++) {
                sb.append(' ').append(t.blocks().hash(i)).append('/').append(t.blocks().loraOf(i)).append('/')
                        .append(t.blocks().tierBits(i)).append('/').append(t.blocks().depth(i));
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
        assertEquals(3, back.pairs());
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
