package io.conductor.index.hash;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * A slow, obviously-correct model of CPython's protocol-5 pickler for the value shapes vLLM hashes: {@code byte[]}
 * (bytes), {@code String} (str), {@code Integer} / {@code Long} (int), {@code null} (None) and {@code Object[]}
 * (tuple). It follows the structure of the pure-Python {@code pickle._Pickler} and its {@code _Framer} (a pending
 * frame buffer, commit when >= 64 KiB before each object, large payloads written unframed), independently of the
 * production byte writer, which has no object graph and reserves frame headers in place. Java object identity
 * stands for Python object identity (memo / BINGET).
 */
final class ReferencePickler {
    private static final int FRAME_SIZE_TARGET = 64 * 1024;
    private static final int FRAME_SIZE_MIN = 4;

    private final ByteArrayOutputStream file = new ByteArrayOutputStream();
    private ByteArrayOutputStream currentFrame;
    private final Map<Object, Integer> memo = new IdentityHashMap<>();

    static byte[] dumps(Object value) {
        final ReferencePickler p = new ReferencePickler();
        p.file.write(0x80);
        p.file.write(5);
        p.currentFrame = new ByteArrayOutputStream();      // start_framing
        p.save(value);
        p.write(new byte[] {0x2e});                           // STOP
        p.commitFrame(true);                                 // end_framing
        return p.file.toByteArray();
    }

    private void write(byte[] data) {
        currentFrame.writeBytes(data);
    }

    private void commitFrame(boolean force) {
        if (currentFrame.size() >= FRAME_SIZE_TARGET || force) {
            final byte[] data = currentFrame.toByteArray();
            if (data.length >= FRAME_SIZE_MIN) {
                file.write(0x95);
                file.writeBytes(le(data.length, 8));
            }
            file.writeBytes(data);
            currentFrame = new ByteArrayOutputStream();
        }
    }

    private void writeLarge(byte[] header, byte[] payload) {
        commitFrame(true);
        file.writeBytes(header);
        file.writeBytes(payload);
    }

    private void save(Object obj) {
        commitFrame(false);
        if (obj != null && memo.containsKey(obj)) {
            write(new byte[] {0x68, (byte) (int) memo.get(obj)});   // BINGET
            return;
        }
        if (obj == null) {
            write(new byte[] {0x4e});
        } else if (obj instanceof Integer i) {
            saveLong(i);
        } else if (obj instanceof Long l) {
            saveLong(l);
        } else if (obj instanceof byte[] bytes) {
            saveBytes(bytes);
        } else if (obj instanceof String s) {
            saveStr(s);
        } else if (obj instanceof Object[] tuple) {
            saveTuple(tuple);
        } else {
            throw new IllegalArgumentException("unsupported: " + obj.getClass());
        }
    }

    private void saveLong(long v) {
        if (v >= 0 && v <= 0xff) {
            write(new byte[] {0x4b, (byte) v});
        } else if (v >= 0 && v <= 0xffff) {
            write(concat(new byte[] {0x4d}, le(v, 2)));
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            write(concat(new byte[] {0x4a}, le(v, 4)));
        } else {
            throw new IllegalArgumentException("LONG1 not modelled: " + v);
        }
    }

    private void saveBytes(byte[] b) {
        final int n = b.length;
        if (n <= 0xff) {
            write(concat(new byte[] {0x43, (byte) n}, b));
        } else if (n >= FRAME_SIZE_TARGET) {
            writeLarge(concat(new byte[] {0x42}, le(n, 4)), b);
        } else {
            write(concat(concat(new byte[] {0x42}, le(n, 4)), b));
        }
        memoize(b);
    }

    private void saveStr(String s) {
        final byte[] encoded = s.getBytes(StandardCharsets.UTF_8);
        final int n = encoded.length;
        if (n <= 0xff) {
            write(concat(new byte[] {(byte) 0x8c, (byte) n}, encoded));
        } else if (n >= FRAME_SIZE_TARGET) {
            writeLarge(concat(new byte[] {0x58}, le(n, 4)), encoded);
        } else {
            write(concat(concat(new byte[] {0x58}, le(n, 4)), encoded));
        }
        memoize(s);
    }

    private void saveTuple(Object[] t) {
        if (t.length == 0) {
            write(new byte[] {0x29});
            return;
        }
        if (t.length <= 3) {
            for (Object element : t) {
                save(element);
            }
            write(new byte[] {(byte) (0x85 + t.length - 1)});
        } else {
            write(new byte[] {0x28});
            for (Object element : t) {
                save(element);
            }
            write(new byte[] {0x74});
        }
        memoize(t);
    }

    private void memoize(Object obj) {
        write(new byte[] {(byte) 0x94});
        memo.put(obj, memo.size());
    }

    static byte[] le(long v, int n) {
        final byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            out[i] = (byte) (v >>> (8 * i));
        }
        return out;
    }

    static byte[] concat(byte[] a, byte[] b) {
        final byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
