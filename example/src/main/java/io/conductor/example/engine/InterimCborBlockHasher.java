package io.conductor.example.engine;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.jspecify.annotations.Nullable;

/**
 * Stand-in {@code sha256_cbor} chain used until the project's hasher ({@code io.conductor.index.hash}) is on
 * {@code main}; to be replaced by it. Follows {@code hashing.md} sections 1, 2 and 5.
 *
 * <p>Thread-safe: every call uses its own digest and buffer.
 */
public final class InterimCborBlockHasher implements BlockHasher {
    private final int blockSize;
    private final byte[] root;

    /**
     * Creates the hasher.
     *
     * @param blockSize hash block size, {@code > 0}
     * @param seedText the {@code PYTHONHASHSEED} text (e.g. {@code "0"} or {@code "vllm-none-hash"})
     */
    public InterimCborBlockHasher(int blockSize, String seedText) {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("block size must be > 0, was " + blockSize);
        }
        this.blockSize = blockSize;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        text(out, seedText);
        this.root = sha256().digest(out.toByteArray());
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long[] hashBlocks(int[] tokens, int length, @Nullable String loraName, @Nullable String cacheSalt) {
        int n = length / blockSize;
        long[] out = new long[n];
        MessageDigest md = sha256();
        byte[] parent = root;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        for (int i = 0; i < n; i++) {
            buf.reset();
            buf.write(0x83);
            header(buf, 2, parent.length);
            buf.writeBytes(parent);
            header(buf, 4, blockSize);
            for (int j = i * blockSize; j < (i + 1) * blockSize; j++) {
                int t = tokens[j];
                if (t >= 0) {
                    header(buf, 0, t);
                } else {
                    header(buf, 1, -1L - t);
                }
            }
            boolean lora = loraName != null && !loraName.isEmpty();
            boolean salt = i == 0 && cacheSalt != null && !cacheSalt.isEmpty();
            int extras = (lora ? 1 : 0) + (salt ? 1 : 0);
            if (extras == 0) {
                buf.write(0xf6);
            } else {
                header(buf, 4, extras);
                if (lora) {
                    text(buf, loraName);
                }
                if (salt) {
                    text(buf, cacheSalt);
                }
            }
            parent = md.digest(buf.toByteArray());
            out[i] = ByteBuffer.wrap(parent, parent.length - 8, 8).getLong();
        }
        return out;
    }

    private static void text(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        header(out, 3, b.length);
        out.writeBytes(b);
    }

    private static void header(ByteArrayOutputStream out, int major, long arg) {
        int m = major << 5;
        if (arg < 24) {
            out.write(m | (int) arg);
        } else if (arg <= 0xff) {
            out.write(m | 24);
            out.write((int) arg);
        } else if (arg <= 0xffff) {
            out.write(m | 25);
            out.write((int) (arg >>> 8));
            out.write((int) arg);
        } else if (arg <= 0xffffffffL) {
            out.write(m | 26);
            for (int s = 24; s >= 0; s -= 8) {
                out.write((int) (arg >>> s));
            }
        } else {
            out.write(m | 27);
            for (int s = 56; s >= 0; s -= 8) {
                out.write((int) (arg >>> s));
            }
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
