package io.conductor.events;

/**
 * Derives the 64-bit lookup key of a Mooncake store object in place (events.md 5.3, 5.4): from connector hash text,
 * from a connector object key ({@code [prefix@]model@tp_rank:N@pcpN@dcpN@pp_rank:N[@group:N]@<hex>}, the vLLM
 * Ascend forms with {@code head_or_tp_rank:N}, layerwise with a trailing layer id), or from a bare decimal or
 * {@code 0x} hex key. Hex text yields its rightmost 16 hex digits read big-endian (vLLM's {@code low64_be}).
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

    /** Whether the last parse succeeded. */
    private boolean ok;

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

    /** Parses a vLLM / vLLM Ascend connector object key and returns its hash's low 64 bits. */
    long connectorKey(byte[] b, int offset, int length) {
        ok = false;
        final int end = offset + length;
        // Find segment boundaries (unescaped '@'); remember the last two segments and which labels occur.
        int segments = 0;
        int lastStart = offset;
        int prevStart = -1;
        int prevEnd = -1;
        boolean tpRank = false;
        boolean headOrTpRank = false;
        boolean ppRank = false;
        int segStart = offset;
        for (int i = offset; i <= end; i++) {
            if (i < end && b[i] == '\\') {
                i++;
                continue;
            }
            if (i == end || b[i] == '@') {
                final int segLength = i - segStart;
                if (labelled(b, segStart, segLength, TP_RANK)) {
                    tpRank = true;
                } else if (labelled(b, segStart, segLength, HEAD_OR_TP_RANK)) {
                    headOrTpRank = true;
                } else if (labelled(b, segStart, segLength, PP_RANK)) {
                    ppRank = true;
                }
                if (i < end) {
                    prevStart = segStart;
                    prevEnd = i;
                    segStart = i + 1;
                }
                lastStart = segStart;
                segments++;
            }
        }
        if (segments < 3 || !(tpRank || headOrTpRank)) {
            return NO_KEY;
        }
        if (headOrTpRank && !ppRank) {
            // Ascend layerwise: the hash is second to last, the layer id last
            return hexHash(b, prevStart, prevEnd - prevStart);
        }
        return hexHash(b, lastStart, end - lastStart);
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
