package io.conductor.events;

/**
 * Derives the 64-bit lookup key of a Mooncake store object in place (events.md 5.3, 5.4): from connector hash text,
 * from a connector object key parsed by label ({@code [prefix@]model@tp_rank:N@pcpN@dcpN@pp_rank:N[@group:N]@<hex>},
 * the vLLM Ascend forms with {@code head_or_tp_rank:N}, the layerwise forms with {@code layer_id:N},
 * {@code cache_role:} and {@code cache_family:} labels or a trailing layer id), from an LMCache key, or from a bare
 * decimal or {@code 0x} hex key. Hex text yields its rightmost 16 hex digits read big-endian (vLLM's {@code low64_be}).
 *
 * <p>Not thread-safe: one instance per decoder. A failed parse is an expected outcome, not an exception: each
 * method returns a primitive key and sets a flag read by {@link #lastOk()}, so nothing is boxed.
 */
final class MooncakeKeys {

    /** Returned with {@link #lastOk()} false. Real keys use all 64 bits, so only the flag tells failure apart. */
    static final long NO_KEY = 0;

    private static final byte[] TP_RANK = BatchDecoder.ascii("tp_rank:");
    private static final byte[] HEAD_OR_TP_RANK = BatchDecoder.ascii("head_or_tp_rank:");
    private static final byte[] PP_RANK = BatchDecoder.ascii("pp_rank:");
    private static final byte[] GROUP = BatchDecoder.ascii("group:");
    private static final byte[] LAYER_ID = BatchDecoder.ascii("layer_id:");
    private static final byte[] PCP = BatchDecoder.ascii("pcp");
    private static final byte[] DCP = BatchDecoder.ascii("dcp");
    private static final byte[] CACHE_ROLE = BatchDecoder.ascii("cache_role:");
    private static final byte[] CACHE_FAMILY = BatchDecoder.ascii("cache_family:");
    /** LMCache keys have 5 fixed segments, an optional layer id and tags; more are not looked at. */
    private static final int MAX_LMCACHE_SEGMENTS = 64;
    /** The largest LMCache world size accepted (the sink tracks one counter per worker of a chunk). */
    static final int MAX_WORLD_SIZE = 1024;

    /** Whether the last parse succeeded. */
    private boolean ok;
    private boolean cacheRoleKv = true;
    private final int[] segStarts = new int[MAX_LMCACHE_SEGMENTS];
    private final int[] segEnds = new int[MAX_LMCACHE_SEGMENTS];
    private int lmcacheWorldSize;
    private int lmcacheWorkerId;
    private int workerSegmentStart;
    private int workerSegmentEnd;
    private int layerSegmentStart = -1;
    private int layerSegmentEnd = -1;

    boolean lastOk() {
        return ok;
    }

    /** Parses hash text: optional {@code 0x}/{@code 0X}, then at least one hex digit, nothing else. */
    long hexHash(byte[] b, int offset, int length) {
        ok = false;
        int start = offset;
        final int end = offset + length;
        if (length >= 2 && b[start] == '0' && (b[start + 1] == 'x' || b[start + 1] == 'X')) {
            start += 2;
        }
        if (start >= end) {
            return NO_KEY;
        }
        long v = 0;
        for (int i = start; i < end; i++) {
            final int d = Character.digit(b[i], 16);
            if (d < 0) {
                return NO_KEY;
            }
            if (i >= end - 16) {
                v = (v << 4) | d;
            }
        }
        ok = true;
        return v;
    }

    /** Parses a whole key as a decimal u64 or a {@code 0x} hex u64 (at most 16 digits). */
    long bareKey(byte[] b, int offset, int length) {
        ok = false;
        if (length >= 3 && b[offset] == '0' && (b[offset + 1] == 'x' || b[offset + 1] == 'X')) {
            if (length - 2 > 16) {
                return NO_KEY;
            }
            return hexHash(b, offset, length);
        }
        if (length == 0 || length > 20) {
            return NO_KEY;
        }
        long v = 0;
        for (int i = offset; i < offset + length; i++) {
            final int d = b[i] - '0';
            if (d < 0 || d > 9) {
                return NO_KEY;
            }
            // overflow check for unsigned 64-bit: v * 10 + d must stay below 2^64
            if (Long.compareUnsigned(v, Long.divideUnsigned(-1L, 10)) > 0) {
                return NO_KEY;
            }
            final long next = v * 10 + d;
            if (Long.compareUnsigned(next, v * 10) < 0) {
                return NO_KEY;
            }
            v = next;
        }
        ok = true;
        return v;
    }

    /**
     * Parses a vLLM / vLLM Ascend connector object key by its labels, not by position, and returns its hash's low
     * 64 bits. A connector key has a rank label ({@code tp_rank:N} or {@code head_or_tp_rank:N}); after it come
     * labelled segments ({@code pp_rank:N}, {@code group:N}, {@code layer_id:N}, {@code cache_role:X},
     * {@code cache_family:X}, {@code pcpN}, {@code dcpN}) in any order and exactly one unlabelled segment, the hash,
     * optionally followed by one bare decimal layer id (the older Ascend layerwise form). Sets
     * {@link #cacheRoleKv()}: false when a {@code cache_role} other than {@code kv} is present (a state object).
     */
    long connectorKey(byte[] b, int offset, int length) {
        ok = false;
        cacheRoleKv = true;
        final int end = offset + length;
        boolean sawRank = false;
        int hashStart = -1;
        int hashEnd = -1;
        int trailing = 0;               // unlabelled segments after the hash
        boolean trailingDecimal = true;
        int segStart = offset;
        for (int i = offset; i <= end; i++) {
            if (i < end && b[i] == '\\') {
                i++;
                continue;
            }
            if (i < end && b[i] != '@') {
                continue;
            }
            final int segLength = i - segStart;
            if (labelled(b, segStart, segLength, TP_RANK) || labelled(b, segStart, segLength, HEAD_OR_TP_RANK)) {
                sawRank = true;
            } else if (!sawRank) {
                // cache_prefix, model, pcpN / dcpN before the rank label
            } else if (labelled(b, segStart, segLength, PP_RANK) || labelled(b, segStart, segLength, GROUP)
                    || labelled(b, segStart, segLength, LAYER_ID) || prefixed(b, segStart, segLength, PCP)
                    || prefixed(b, segStart, segLength, DCP)) {
                // position-free labels
            } else if (textLabel(b, segStart, segLength, CACHE_ROLE)) {
                final int v = segStart + CACHE_ROLE.length;
                cacheRoleKv = i - v == 2 && (b[v] | 0x20) == 'k' && (b[v + 1] | 0x20) == 'v';
            } else if (textLabel(b, segStart, segLength, CACHE_FAMILY)) {
                // model family of the object; the role decides what it is
            } else if (hashStart < 0) {
                hashStart = segStart;
                hashEnd = i;
            } else {
                trailing++;
                trailingDecimal &= decimal(b, segStart, segLength);
            }
            segStart = i + 1;
        }
        if (!sawRank || hashStart < 0 || trailing > 1 || !trailingDecimal) {
            cacheRoleKv = true;
            return NO_KEY;
        }
        return hexHash(b, hashStart, hashEnd - hashStart);
    }

    /** False after {@link #connectorKey} met a {@code cache_role} other than {@code kv}. */
    boolean cacheRoleKv() {
        return cacheRoleKv;
    }

    /**
     * Parses an LMCache object key and returns its chunk hash's low 64 bits. Forms (LMCache's
     * {@code CacheEngineKey} / {@code LayerCacheEngineKey}):
     * <ul>
     * <li>{@code model@world_size@worker_id@<chunk hash hex>@dtype[@layer_id][@tag%value...]} (current);</li>
     * <li>{@code fmt@model@world_size@worker_id@<chunk hash>[@...]} (older releases, format first; the hash is
     *     decimal when it has only digits, else hex).</li>
     * </ul>
     * On success {@link #lmcacheWorldSize()}, {@link #lmcacheWorkerId()} and the segment offsets of the worker id
     * and layer id are set, so the caller can group a chunk's objects across workers.
     */
    long lmcacheKey(byte[] b, int offset, int length) {
        ok = false;
        final int end = offset + length;
        int count = 0;
        int segStart = offset;
        for (int i = offset; i <= end && count < MAX_LMCACHE_SEGMENTS; i++) {
            if (i < end && b[i] != '@') {
                continue;
            }
            segStarts[count] = segStart;
            segEnds[count] = i;
            count++;
            segStart = i + 1;
        }
        if (count < 5 || segEnds[count - 1] != end) {
            return NO_KEY;
        }
        int base;   // index of the model segment
        boolean decimalHash = false;
        if (decimal(b, segStarts[1], segEnds[1] - segStarts[1]) && decimal(b, segStarts[2], segEnds[2] - segStarts[2])
                && hex(b, segStarts[3], segEnds[3] - segStarts[3]) && dtype(b, segStarts[4], segEnds[4] - segStarts[4])) {
            base = 0;
        } else if (decimal(b, segStarts[2], segEnds[2] - segStarts[2])
                && decimal(b, segStarts[3], segEnds[3] - segStarts[3])
                && hex(b, segStarts[4], segEnds[4] - segStarts[4])) {
            base = 1;
            decimalHash = decimal(b, segStarts[4], segEnds[4] - segStarts[4]);
        } else {
            return NO_KEY;
        }
        final long worldSize = smallDecimal(b, segStarts[base + 1], segEnds[base + 1]);
        final long workerId = smallDecimal(b, segStarts[base + 2], segEnds[base + 2]);
        if (worldSize < 1 || worldSize > MAX_WORLD_SIZE || workerId < 0 || workerId >= worldSize) {
            return NO_KEY;
        }
        lmcacheWorldSize = (int) worldSize;
        lmcacheWorkerId = (int) workerId;
        workerSegmentStart = segStarts[base + 2];
        workerSegmentEnd = segEnds[base + 2];
        layerSegmentStart = -1;
        layerSegmentEnd = -1;
        final int layerIndex = base + 5;
        if (base == 0 && count > layerIndex && decimal(b, segStarts[layerIndex], segEnds[layerIndex] - segStarts[layerIndex])) {
            layerSegmentStart = segStarts[layerIndex];
            layerSegmentEnd = segEnds[layerIndex];
        }
        final int hashStart = segStarts[base + 3];
        final int hashEnd = segEnds[base + 3];
        if (!decimalHash) {
            return hexHash(b, hashStart, hashEnd - hashStart);
        }
        long v = 0;
        for (int i = hashStart; i < hashEnd; i++) {
            v = v * 10 + (b[i] - '0');      // wraps modulo 2^64: the low 64 bits of the Python int
        }
        ok = true;
        return v;
    }

    int lmcacheWorldSize() {
        return lmcacheWorldSize;
    }

    int lmcacheWorkerId() {
        return lmcacheWorkerId;
    }

    int workerSegmentStart() {
        return workerSegmentStart;
    }

    int workerSegmentEnd() {
        return workerSegmentEnd;
    }

    int layerSegmentStart() {
        return layerSegmentStart;
    }

    int layerSegmentEnd() {
        return layerSegmentEnd;
    }

    private static boolean decimal(byte[] b, int offset, int length) {
        if (length < 1) {
            return false;
        }
        for (int i = offset; i < offset + length; i++) {
            if (b[i] < '0' || b[i] > '9') {
                return false;
            }
        }
        return true;
    }

    private static boolean hex(byte[] b, int offset, int length) {
        if (length < 1) {
            return false;
        }
        for (int i = offset; i < offset + length; i++) {
            if (Character.digit(b[i], 16) < 0) {
                return false;
            }
        }
        return true;
    }

    /** An LMCache dtype name ({@code half}, {@code bfloat16}, {@code fp8_e4m3fn}, ...): a letter, then [a-z0-9_]. */
    private static boolean dtype(byte[] b, int offset, int length) {
        if (length < 1 || b[offset] < 'a' || b[offset] > 'z') {
            return false;
        }
        for (int i = offset; i < offset + length; i++) {
            final byte c = b[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
                return false;
            }
        }
        return true;
    }

    /** A decimal of at most 9 digits, or -1. */
    private static long smallDecimal(byte[] b, int from, int to) {
        if (to - from > 9) {
            return -1;
        }
        long v = 0;
        for (int i = from; i < to; i++) {
            v = v * 10 + (b[i] - '0');
        }
        return v;
    }

    /** A segment {@code prefix} followed by at least one decimal digit ({@code pcp1}, {@code dcp0}). */
    private static boolean prefixed(byte[] b, int offset, int length, byte[] prefix) {
        return labelled(b, offset, length, prefix);
    }

    /** A segment {@code label} followed by at least one character ({@code cache_role:kv}). */
    private static boolean textLabel(byte[] b, int offset, int length, byte[] label) {
        if (length <= label.length) {
            return false;
        }
        for (int i = 0; i < label.length; i++) {
            if (b[offset + i] != label[i]) {
                return false;
            }
        }
        return true;
    }

    /** A segment {@code label} followed by at least one decimal digit and nothing else. */
    private static boolean labelled(byte[] b, int offset, int length, byte[] label) {
        if (length <= label.length) {
            return false;
        }
        for (int i = 0; i < label.length; i++) {
            if (b[offset + i] != label[i]) {
                return false;
            }
        }
        for (int i = offset + label.length; i < offset + length; i++) {
            if (b[i] < '0' || b[i] > '9') {
                return false;
            }
        }
        return true;
    }
}
