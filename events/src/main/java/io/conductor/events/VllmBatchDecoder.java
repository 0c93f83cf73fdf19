package io.conductor.events;

/**
 * Decodes vLLM and SGLang batches (events.md 2 and 4): events as tagged arrays of every historical length or as
 * tagged maps (decoded by key, unknown keys ignored, omitted defaults), hashes in any integer form or as bin.
 *
 * <p>SGLang differs in position 7 of the array form (a {@code metadata} map {@code {cache_salt, session_id}} instead
 * of {@code lora_name}); its tagged-map form (sglang #37482) carries {@code cache_salt} and {@code session_id} as
 * top-level keys (a nested {@code metadata} map is read too). vLLM's map-only {@code session_id} (#51381) and
 * {@code ownership} (#52067) are read; any other key is skipped. Hashes keep their 64-bit pattern either way.
 *
 * <p>Not thread-safe: one instance per stream.
 */
final class VllmBatchDecoder extends BatchDecoder {

    private static final byte[] BLOCK_STORED = ascii("BlockStored");
    private static final byte[] BLOCK_REMOVED = ascii("BlockRemoved");
    private static final byte[] ALL_BLOCKS_CLEARED = ascii("AllBlocksCleared");

    private static final byte[] TYPE = ascii("type");
    private static final byte[] BLOCK_HASHES = ascii("block_hashes");
    private static final byte[] PARENT_BLOCK_HASH = ascii("parent_block_hash");
    private static final byte[] TOKEN_IDS = ascii("token_ids");
    private static final byte[] BLOCK_SIZE = ascii("block_size");
    private static final byte[] LORA_ID = ascii("lora_id");
    private static final byte[] MEDIUM = ascii("medium");
    private static final byte[] LORA_NAME = ascii("lora_name");
    private static final byte[] EXTRA_KEYS = ascii("extra_keys");
    private static final byte[] GROUP_IDX = ascii("group_idx");
    private static final byte[] SPEC_KIND = ascii("kv_cache_spec_kind");
    private static final byte[] SLIDING_WINDOW = ascii("kv_cache_spec_sliding_window");
    private static final byte[] LOCALITY = ascii("locality");
    private static final byte[] SESSION_ID = ascii("session_id");
    private static final byte[] OWNERSHIP = ascii("ownership");
    private static final byte[] CACHE_SALT = ascii("cache_salt");
    private static final byte[] METADATA = ascii("metadata");

    /** Minimum array lengths, tag included (events.md 2.2). */
    private static final int MIN_STORED = 6;
    private static final int MIN_REMOVED = 2;

    private final boolean sglang;

    VllmBatchDecoder(boolean sglang) {
        this.sglang = sglang;
    }

    @Override
    double timestampUnitsPerSecond() {
        return 1.0;
    }

    @Override
    void decodeEvent(KvEvent event) {
        final MsgpackReader r = reader;
        if (r.isArrayNext()) {
            decodeArrayEvent(event, r);
        } else if (r.isMapNext()) {
            decodeMapEvent(event, r);
        } else {
            throw DecodeException.of(DropReason.EVENT_SHAPE, "event must be an array or a map, found type byte 0x%02x",
                    r.peek() & 0xff);
        }
    }

    private void decodeArrayEvent(KvEvent event, MsgpackReader r) {
        final int n = r.readArrayHeader();
        if (n == 0 || !r.isStrNext()) {
            throw DecodeException.of(DropReason.EVENT_SHAPE, "event array without a string tag");
        }
        final EventKind kind = readTag(r);
        event.reset(kind, r.buffer());
        int field = 1;
        switch (kind) {
            case BLOCKS_STORED -> {
                if (n < MIN_STORED) {
                    throw DecodeException.of(DropReason.EVENT_SHAPE, "BlockStored array of %d, at least %d", n,
                            MIN_STORED);
                }
                readHashes(event);
                readParent(event, r);
                readTokens(event, r);
                readBlockSize(event, r);
                readLoraId(event, r);
                field = 6;
                if (n > 6) {
                    readMedium(event, r);
                    field = 7;
                }
                if (n > 7) {
                    if (r.isMapNext()) {
                        readMetadata(event, r); // SGLang: {cache_salt, session_id}
                    } else if (sglang && !r.isStrNext()) {
                        r.skipValue();
                    } else {
                        event.loraName(readOptionalString());
                    }
                    field = 8;
                }
                if (n > 8) {
                    readExtraKeys(event, r);
                    field = 9;
                }
                if (n > 9) {
                    readGroupIdx(event, r);
                    field = 10;
                }
                if (n > 10) {
                    readSpecKind(event, r);
                    field = 11;
                }
                if (n > 11) {
                    readSlidingWindow(event, r);
                    field = 12;
                }
            }
            case BLOCKS_REMOVED -> {
                if (n < MIN_REMOVED) {
                    throw DecodeException.of(DropReason.EVENT_SHAPE, "BlockRemoved array of %d, at least %d", n,
                            MIN_REMOVED);
                }
                readHashes(event);
                field = 2;
                if (n > 2) {
                    readMedium(event, r);
                    field = 3;
                }
                if (n > 3) {
                    readGroupIdx(event, r);
                    field = 4;
                }
            }
            default -> { }
        }
        for (; field < n; field++) {
            r.skipValue(); // fields of newer releases
        }
    }

    private void decodeMapEvent(KvEvent event, MsgpackReader r) {
        final int n = r.readMapHeader();
        event.reset(EventKind.BLOCKS_STORED, r.buffer());
        @org.jspecify.annotations.Nullable EventKind kind = null;
        boolean sawHashes = false;
        for (int i = 0; i < n; i++) {
            if (!r.isStrNext()) {
                r.skipValue();
                r.skipValue();
                continue;
            }
            final int k = r.readStr();
            switch (k) {
                case 4 -> {
                    if (r.lastRawEquals(k, TYPE)) {
                        if (!r.isStrNext()) {
                            throw DecodeException.of(DropReason.EVENT_SHAPE, "event type must be a string");
                        }
                        kind = readTag(r);
                    } else {
                        r.skipValue();
                    }
                }
                case 12 -> {
                    if (r.lastRawEquals(k, BLOCK_HASHES)) {
                        readHashes(event);
                        sawHashes = true;
                    } else {
                        r.skipValue();
                    }
                }
                case 17 -> {
                    if (r.lastRawEquals(k, PARENT_BLOCK_HASH)) {
                        readParent(event, r);
                    } else {
                        r.skipValue();
                    }
                }
                case 9 -> {
                    if (r.lastRawEquals(k, TOKEN_IDS)) {
                        readTokens(event, r);
                    } else if (r.lastRawEquals(k, LORA_NAME)) {
                        event.loraName(readOptionalString());
                    } else if (r.lastRawEquals(k, GROUP_IDX)) {
                        readGroupIdx(event, r);
                    } else if (r.lastRawEquals(k, OWNERSHIP)) {
                        event.ownership(readOptionalText(r));
                    } else {
                        r.skipValue();
                    }
                }
                case 10 -> {
                    if (r.lastRawEquals(k, BLOCK_SIZE)) {
                        readBlockSize(event, r);
                    } else if (r.lastRawEquals(k, EXTRA_KEYS)) {
                        readExtraKeys(event, r);
                    } else if (r.lastRawEquals(k, SESSION_ID)) {
                        event.sessionId(readOptionalText(r));
                    } else if (r.lastRawEquals(k, CACHE_SALT)) {
                        event.cacheSalt(readOptionalText(r));
                    } else {
                        r.skipValue();
                    }
                }
                case 7 -> {
                    if (r.lastRawEquals(k, LORA_ID)) {
                        readLoraId(event, r);
                    } else {
                        r.skipValue();
                    }
                }
                case 6 -> {
                    if (r.lastRawEquals(k, MEDIUM)) {
                        readMedium(event, r);
                    } else {
                        r.skipValue();
                    }
                }
                case 18 -> {
                    if (r.lastRawEquals(k, SPEC_KIND)) {
                        readSpecKind(event, r);
                    } else {
                        r.skipValue();
                    }
                }
                case 28 -> {
                    if (r.lastRawEquals(k, SLIDING_WINDOW)) {
                        readSlidingWindow(event, r);
                    } else {
                        r.skipValue();
                    }
                }
                case 8 -> {
                    if (r.lastRawEquals(k, LOCALITY)) {
                        readLocality(event, r);
                    } else if (r.lastRawEquals(k, METADATA) && r.isMapNext()) {
                        readMetadata(event, r);
                    } else {
                        r.skipValue(); // unknown keys
                    }
                }
                default -> r.skipValue();
            }
        }
        if (kind == null) {
            throw DecodeException.of(DropReason.EVENT_SHAPE, "event map without \"type\"");
        }
        if (kind != EventKind.ALL_BLOCKS_CLEARED && !sawHashes) {
            throw DecodeException.of(DropReason.MISSING_FIELD, "%s without block_hashes", kind);
        }
        event.kind(kind);
    }

    private static EventKind readTag(MsgpackReader r) {
        final int length = r.readStr();
        if (r.lastRawEquals(length, BLOCK_STORED)) {
            return EventKind.BLOCKS_STORED;
        }
        if (r.lastRawEquals(length, BLOCK_REMOVED)) {
            return EventKind.BLOCKS_REMOVED;
        }
        if (r.lastRawEquals(length, ALL_BLOCKS_CLEARED)) {
            return EventKind.ALL_BLOCKS_CLEARED;
        }
        throw DecodeException.of(DropReason.UNKNOWN_EVENT_TAG, "unknown event tag \"%s\"",
                new String(r.buffer(), r.lastRawOffset(), length, java.nio.charset.StandardCharsets.UTF_8));
    }

    private static void readParent(KvEvent event, MsgpackReader r) {
        if (!r.tryReadNil()) {
            event.parentHash(r.readHash());
        }
    }

    private static void readTokens(KvEvent event, MsgpackReader r) {
        if (r.tryReadNil()) {
            return;
        }
        final int n = r.readArrayHeader();
        if (n > MAX_ELEMENTS_PER_EVENT) {
            throw DecodeException.of(DropReason.TOO_LARGE, "%d tokens in one event", n);
        }
        if (n > 0 && r.isArrayNext()) {
            // SGLang EAGLE bigram keys: pair j is (t[j], t[j+1]); the first elements are the page's own tokens, one
            // per position, so the page keeps page_size tokens (KvEvent#tokenIds).
            final int[] tokens = event.tokensFor(n);
            for (int i = 0; i < n; i++) {
                if (!r.isArrayNext() || r.readArrayHeader() != 2) {
                    throw DecodeException.of(DropReason.FIELD_TYPE, "token pair must have 2 elements");
                }
                tokens[i] = readToken(r);
                readToken(r);
            }
            event.bigramTokens(true);
            return;
        }
        r.readUint32s(event.tokensFor(n), n, "token id");
    }

    /** Token ids are u32 on the hashing side; keep the low 32 bits of any value in [-2^31, 2^32). */
    private static int readToken(MsgpackReader r) {
        return (int) r.readLongInRange(Integer.MIN_VALUE, 0xFFFF_FFFFL, "token id");
    }

    /**
     * Reads SGLang's {@code metadata} map: {@code cache_salt} and {@code session_id} (strings or nil); other keys
     * are skipped.
     */
    private void readMetadata(KvEvent event, MsgpackReader r) {
        final int n = r.readMapHeader();
        for (int i = 0; i < n; i++) {
            if (!r.isStrNext()) {
                r.skipValue();
                r.skipValue();
                continue;
            }
            final int k = r.readStr();
            if (r.lastRawEquals(k, CACHE_SALT)) {
                event.cacheSalt(readOptionalText(r));
            } else if (r.lastRawEquals(k, SESSION_ID)) {
                event.sessionId(readOptionalText(r));
            } else {
                r.skipValue();
            }
        }
    }

    /**
     * Reads an optional text field of a newer publisher (salt, session, ownership): a string is interned; nil, an
     * empty string or a value of another type (a future encoding) gives {@code null} and is skipped, so such a
     * field never fails its event.
     */
    private @org.jspecify.annotations.Nullable String readOptionalText(MsgpackReader r) {
        if (!r.isStrNext()) {
            r.skipValue();
            return null;
        }
        final String value = readOptionalString();
        return value == null || value.isEmpty() ? null : value;
    }

    private static void readBlockSize(KvEvent event, MsgpackReader r) {
        if (!r.tryReadNil()) {
            event.blockSize(r.readIntInRange(1, Integer.MAX_VALUE, "block_size"));
        }
    }

    private static void readLoraId(KvEvent event, MsgpackReader r) {
        if (!r.tryReadNil()) {
            event.loraId(r.readLongInRange(Long.MIN_VALUE + 1, Long.MAX_VALUE, "lora_id"));
        }
    }

    private void readMedium(KvEvent event, MsgpackReader r) {
        if (r.tryReadNil()) {
            return;
        }
        final int length = r.readStr();
        event.medium(MediumNames.classify(r.buffer(), r.lastRawOffset(), length),
                strings.intern(r.buffer(), r.lastRawOffset(), length));
    }

    private static void readExtraKeys(KvEvent event, MsgpackReader r) {
        if (r.tryReadNil()) {
            return;
        }
        final int start = r.position();
        r.skipValue();
        event.extraKeys(start, r.position() - start);
    }

    private static void readGroupIdx(KvEvent event, MsgpackReader r) {
        if (!r.tryReadNil()) {
            event.groupIdx(r.readIntInRange(0, Integer.MAX_VALUE, "group_idx"));
        }
    }

    private static void readSpecKind(KvEvent event, MsgpackReader r) {
        if (r.tryReadNil()) {
            return;
        }
        final int length = r.readStr();
        event.specKind(MediumNames.specKind(r.buffer(), r.lastRawOffset(), length));
    }

    private static void readSlidingWindow(KvEvent event, MsgpackReader r) {
        if (!r.tryReadNil()) {
            event.slidingWindow(r.readIntInRange(0, Integer.MAX_VALUE, "kv_cache_spec_sliding_window"));
        }
    }

    private static void readLocality(KvEvent event, MsgpackReader r) {
        if (r.tryReadNil()) {
            return;
        }
        final int length = r.readStr();
        event.locality(MediumNames.locality(r.buffer(), r.lastRawOffset(), length));
    }
}
