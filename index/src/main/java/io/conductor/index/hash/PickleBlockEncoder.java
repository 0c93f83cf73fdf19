package io.conductor.index.hash;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Writes CPython's {@code pickle.dumps((parent, tuple(tokens), extras), protocol=5)} for one vLLM block, byte for
 * byte, straight into a reused buffer: no object graph, no per-token allocation. Not thread-safe: one instance per
 * thread (it lives inside a {@link BlockDigester}).
 */
final class PickleBlockEncoder {
    /*
     * Layout and framing (hashing.md section 6):
     *
     *   80 05                      PROTO 5, outside any frame
     *   95 <u64 LE body length>    FRAME header, reserved when a frame opens, filled in when it is committed
     *   43 20 <32 parent> 94       SHORT_BINBYTES + MEMOIZE
     *   28 <token>... 74 94        MARK ... TUPLE (4+ tokens), or <token>... 85|86|87 94 (1..3 tokens)
     *   4e | <str> 94 [<str> 94 | 68 02] 85|86 94     extras: None, or (lora?, salt?)
     *   87 94 2e                   TUPLE3 MEMOIZE STOP
     *
     * CPython's framer keeps one pending frame. Before each object is saved (outer tuple, parent, token tuple,
     * every token, None or the extras tuple, every extra string) it commits the pending frame if its body already
     * holds >= 64 KiB; a new frame opens lazily at the next write. A str payload >= 64 KiB commits the pending frame
     * and is written with its opcode outside any frame. A committed body shorter than 4 bytes gets no header (we
     * reserved 9 bytes for it, so the body is moved back). The final frame is committed after STOP.
     */

    /** CPython's {@code _FRAME_SIZE_TARGET}. */
    static final int FRAME_SIZE_TARGET = RootDigests.PICKLE_FRAME_SIZE_TARGET;
    private static final int FRAME_SIZE_MIN = 4;
    private static final int FRAME_HEADER_LENGTH = 9;
    private static final int NO_FRAME = -1;
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class,
            ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT_LE = MethodHandles.byteArrayViewVarHandle(int[].class,
            ByteOrder.LITTLE_ENDIAN);

    private static final byte PROTO = (byte) 0x80;
    private static final byte FRAME = (byte) 0x95;
    private static final byte SHORT_BINBYTES = 0x43;
    private static final byte MEMOIZE = (byte) 0x94;
    private static final byte MARK = 0x28;
    private static final byte TUPLE = 0x74;
    private static final byte TUPLE1 = (byte) 0x85;
    private static final byte TUPLE2 = (byte) 0x86;
    private static final byte TUPLE3 = (byte) 0x87;
    /** BININT (i32 LE); BININT2 (u16 LE) = BININT + 3, BININT1 (u8) = BININT + 1: the token loop relies on it. */
    private static final byte BININT = 0x4a;
    private static final byte NONE = 0x4e;
    private static final byte SHORT_BINUNICODE = (byte) 0x8c;
    private static final byte BINUNICODE = 0x58;
    private static final byte BINGET = 0x68;
    private static final byte STOP = 0x2e;
    /** Memo index of the LoRA name: 0 = parent, 1 = token tuple, 2 = first extra. */
    private static final byte LORA_MEMO_INDEX = 2;

    private byte[] buffer = new byte[1024];
    /** Offset of the pending frame's reserved header, or {@link #NO_FRAME}. */
    private int frameStart;

    /**
     * Returns the buffer holding the last encoding (valid up to the length {@link #encode} returned).
     *
     * @return the internal buffer; overwritten by the next call
     */
    byte[] buffer() {
        return buffer;
    }

    /**
     * Encodes one block into {@link #buffer()}.
     *
     * @param parent       buffer holding the parent digest
     * @param parentOffset offset of the parent digest
     * @param parentLength parent digest length (32)
     * @param tokens       token ids
     * @param from         first token of the block
     * @param count        tokens in the block, {@code >= 1}
     * @param lora         UTF-8 LoRA name, empty for none
     * @param salt         UTF-8 salt for this block (empty unless block 0 with a salt)
     * @param saltIsLora   whether CPython would pickle the salt as a memo reference to the LoRA name
     * @return the encoded length
     */
    int encode(byte[] parent, int parentOffset, int parentLength, int[] tokens, int from, int count,
               byte[] lora, byte[] salt, boolean saltIsLora) {
        final long payload = 5L * count + lora.length + salt.length + parentLength;
        final long bound = 96 + payload + FRAME_HEADER_LENGTH * (4 + payload / FRAME_SIZE_TARGET);
        ensureCapacity(bound);
        final byte[] b = buffer;
        b[0] = PROTO;
        b[1] = 5;
        frameStart = NO_FRAME;
        int p = 2;

        // parent: bytes of length <= 255
        p = openFrameIfNone(p);
        b[p++] = SHORT_BINBYTES;
        b[p++] = (byte) parentLength;
        if (parentLength == 32) {                   // the only length in practice: four long moves, no stub call
            LONG.set(b, p, (long) LONG.get(parent, parentOffset));
            LONG.set(b, p + 8, (long) LONG.get(parent, parentOffset + 8));
            LONG.set(b, p + 16, (long) LONG.get(parent, parentOffset + 16));
            LONG.set(b, p + 24, (long) LONG.get(parent, parentOffset + 24));
        } else {
            System.arraycopy(parent, parentOffset, b, p, parentLength);
        }
        p += parentLength;
        b[p++] = MEMOIZE;

        // token tuple
        if (count >= 4) {
            b[p++] = MARK;
        }
        final int end = from + count;
        int frameLimit = frameStart + FRAME_HEADER_LENGTH + FRAME_SIZE_TARGET;    // body >= target from here on
        if (p + 5L * count < frameLimit) {
            frameLimit = Integer.MAX_VALUE;           // the whole run fits the pending frame: the check never fires
        }
        for (int i = from; i < end; i++) {
            if (p >= frameLimit) {
                p = openFrameIfNone(commitFrame(p));
                frameLimit = frameStart + FRAME_HEADER_LENGTH + FRAME_SIZE_TARGET;
            }
            // Branch-free BININT1 / BININT2 / BININT: the opcode, then all 4 little-endian bytes (the buffer has
            // slack for them), then advance by 2, 3 or 5; later writes overwrite the surplus bytes.
            final int v = tokens[i];
            final int fits16 = (v >>> 16) == 0 ? 1 : 0;
            final int fits8 = (v >>> 8) == 0 ? 1 : 0;
            b[p] = (byte) (BININT + 3 * fits16 - 2 * fits8);
            INT_LE.set(b, p + 1, v);
            p += 5 - 2 * fits16 - fits8;
        }
        b[p++] = switch (count) {
            case 1 -> TUPLE1;
            case 2 -> TUPLE2;
            case 3 -> TUPLE3;
            default -> TUPLE;
        };
        b[p++] = MEMOIZE;

        // extras: None, or a 1- or 2-tuple of str
        p = opcodeBoundary(p);
        final boolean hasLora = lora.length > 0;
        final boolean hasSalt = salt.length > 0;
        if (!hasLora && !hasSalt) {
            p = openFrameIfNone(p);                 // the check above may have committed the frame
            b[p++] = NONE;
        } else {
            if (hasLora) {
                p = opcodeBoundary(p);
                p = writeStr(p, lora);
            }
            if (hasSalt) {
                p = opcodeBoundary(p);
                if (hasLora && saltIsLora) {
                    p = openFrameIfNone(p);
                    buffer[p++] = BINGET;
                    buffer[p++] = LORA_MEMO_INDEX;
                } else {
                    p = writeStr(p, salt);
                }
            }
            final byte[] out = buffer;
            out[p++] = hasLora && hasSalt ? TUPLE2 : TUPLE1;
            out[p++] = MEMOIZE;
        }
        final byte[] out = buffer;
        out[p++] = TUPLE3;
        out[p++] = MEMOIZE;
        out[p++] = STOP;
        return commitFrame(p);
    }

    /** Saves a str (with its MEMOIZE), taking the unframed path for payloads of 64 KiB or more. */
    private int writeStr(int position, byte[] utf8) {
        final int n = utf8.length;
        int p = position;
        if (n >= FRAME_SIZE_TARGET) {
            p = commitFrame(p);
            final byte[] b = buffer;
            b[p] = BINUNICODE;
            INT_LE.set(b, p + 1, n);
            System.arraycopy(utf8, 0, b, p + 5, n);
            p += 5 + n;
        } else {
            p = openFrameIfNone(p);
            final byte[] b = buffer;
            if (n <= 0xff) {
                b[p++] = SHORT_BINUNICODE;
                b[p++] = (byte) n;
            } else {
                b[p++] = BINUNICODE;
                INT_LE.set(b, p, n);
                p += 4;
            }
            System.arraycopy(utf8, 0, b, p, n);
            p += n;
        }
        p = openFrameIfNone(p);
        buffer[p++] = MEMOIZE;
        return p;
    }

    /** The check CPython makes before saving each object. */
    private int opcodeBoundary(int p) {
        if (frameStart != NO_FRAME && p - frameStart - FRAME_HEADER_LENGTH >= FRAME_SIZE_TARGET) {
            return commitFrame(p);
        }
        return p;
    }

    private int openFrameIfNone(int p) {
        if (frameStart != NO_FRAME) {
            return p;
        }
        frameStart = p;
        return p + FRAME_HEADER_LENGTH;
    }

    /** Commits the pending frame, if any; returns the new write position. */
    private int commitFrame(int p) {
        final int start = frameStart;
        if (start == NO_FRAME) {
            return p;
        }
        frameStart = NO_FRAME;
        final byte[] b = buffer;
        final int body = p - start - FRAME_HEADER_LENGTH;
        if (body >= FRAME_SIZE_MIN) {
            b[start] = FRAME;
            INT_LE.set(b, start + 1, body);
            INT_LE.set(b, start + 5, 0);
            return p;
        }
        System.arraycopy(b, start + FRAME_HEADER_LENGTH, b, start, body);
        return p - FRAME_HEADER_LENGTH;
    }

    private void ensureCapacity(long bound) {
        if (bound > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("block too large to pickle: about " + bound + " bytes");
        }
        if (buffer.length < bound) {
            buffer = new byte[(int) Math.min(Integer.MAX_VALUE - 64, Math.max(bound, 2L * buffer.length))];
        }
    }
}
