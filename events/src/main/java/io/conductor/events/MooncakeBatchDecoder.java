package io.conductor.events;

import org.jspecify.annotations.Nullable;

/**
 * Decodes Mooncake store master batches (events.md 5, RFC #1527 maps): {@code [timestamp_ms, [event maps],
 * dp_rank]}, events {@code stored} / {@code removed} / {@code cleared} (or the legacy {@code type} alias).
 *
 * <p>The 64-bit key of a stored / removed object is derived in the spec's order: a valid
 * {@code connector_block_hash}; else {@code object_key} parsed as a connector key; else as a bare decimal /
 * {@code 0x} u64; else, for the generic RFC form without an object key, the {@code seq_hashes} themselves. A
 * non-empty {@code seq_hashes} must equal the derived key. Unknown keys are ignored.
 *
 * <p>Not thread-safe: one instance per stream.
 */
final class MooncakeBatchDecoder extends BatchDecoder {

    private static final String DEFAULT_TENANT = "default";

    private static final byte[] EVENT_ID = ascii("event_id");
    private static final byte[] EVENT_TYPE = ascii("event_type");
    private static final byte[] TYPE = ascii("type");
    private static final byte[] MODEL_NAME = ascii("model_name");
    private static final byte[] BLOCK_SIZE = ascii("block_size");
    private static final byte[] LORA_NAME = ascii("lora_name");
    private static final byte[] TENANT_ID = ascii("tenant_id");
    private static final byte[] BACKEND_ID = ascii("backend_id");
    private static final byte[] MEDIUM = ascii("medium");
    private static final byte[] GROUP_ID = ascii("group_id");
    private static final byte[] OBJECT_KEY = ascii("object_key");
    private static final byte[] SEQ_HASHES = ascii("seq_hashes");
    private static final byte[] BLOCK_HASHES = ascii("block_hashes");
    private static final byte[] CONNECTOR_BLOCK_HASH = ascii("connector_block_hash");
    private static final byte[] PARENT_HASH = ascii("parent_hash");
    private static final byte[] TOKEN_IDS = ascii("token_ids");

    private static final byte[] STORED = ascii("stored");
    private static final byte[] REMOVED = ascii("removed");
    private static final byte[] CLEARED = ascii("cleared");
    private static final byte[] BLOCK_STORED = ascii("BlockStored");
    private static final byte[] BLOCK_REMOVED = ascii("BlockRemoved");
    private static final byte[] ALL_BLOCKS_CLEARED = ascii("AllBlocksCleared");

    private final MooncakeKeys keys = new MooncakeKeys();

    @Override
    double timestampUnitsPerSecond() {
        return 1000.0;
    }

    @Override
    void decodeEvent(KvEvent event) {
        final MsgpackReader r = reader;
        if (!r.isMapNext()) {
            throw DecodeException.of(DropReason.EVENT_SHAPE, "Mooncake event must be a map");
        }
        final int n = r.readMapHeader();
        event.reset(EventKind.OBJECT_STORED, r.buffer());
        @Nullable EventKind kind = null;
        @Nullable EventKind legacyKind = null;
        int connectorOffset = -1;
        int connectorLength = 0;
        boolean sawSeqHashes = false;
        event.tenantId(DEFAULT_TENANT);
        for (int i = 0; i < n; i++) {
            if (!r.isStrNext()) {
                r.skipValue();
                r.skipValue();
                continue;
            }
            final int k = r.readStr();
            if (r.lastRawEquals(k, EVENT_TYPE)) {
                kind = readKind(r, STORED, REMOVED, CLEARED);
            } else if (r.lastRawEquals(k, TYPE)) {
                legacyKind = readKind(r, BLOCK_STORED, BLOCK_REMOVED, ALL_BLOCKS_CLEARED);
            } else if (r.lastRawEquals(k, SEQ_HASHES)) {
                readHashes(event);
                sawSeqHashes = true;
            } else if (r.lastRawEquals(k, BLOCK_HASHES)) {
                if (sawSeqHashes) {
                    r.skipValue();
                } else {
                    readHashes(event); // legacy copy; seq_hashes, when it comes, overwrites it
                }
            } else if (r.lastRawEquals(k, OBJECT_KEY)) {
                if (r.tryReadNil()) {
                    continue;
                }
                final int length = r.readStr();
                event.objectKey(r.lastRawOffset(), length);
            } else if (r.lastRawEquals(k, CONNECTOR_BLOCK_HASH)) {
                if (!r.tryReadNil()) {
                    connectorLength = r.readStr();
                    connectorOffset = r.lastRawOffset();
                }
            } else if (r.lastRawEquals(k, BACKEND_ID)) {
                event.backendId(readOptionalString());
            } else if (r.lastRawEquals(k, TENANT_ID)) {
                final String tenant = readOptionalString();
                event.tenantId(tenant == null || tenant.isEmpty() ? DEFAULT_TENANT : tenant);
            } else if (r.lastRawEquals(k, MEDIUM)) {
                if (!r.tryReadNil()) {
                    final int length = r.readStr();
                    event.medium(MediumNames.classify(r.buffer(), r.lastRawOffset(), length),
                            strings.intern(r.buffer(), r.lastRawOffset(), length));
                }
            } else if (r.lastRawEquals(k, EVENT_ID)) {
                event.eventId(r.readIntBits());
            } else if (r.lastRawEquals(k, MODEL_NAME)) {
                event.modelName(readOptionalString());
            } else if (r.lastRawEquals(k, LORA_NAME)) {
                event.loraName(readOptionalString());
            } else if (r.lastRawEquals(k, GROUP_ID)) {
                event.groupId(r.isStrNext() || r.isNilNext() ? readOptionalString() : skipAndNull(r));
            } else if (r.lastRawEquals(k, BLOCK_SIZE)) {
                if (!r.tryReadNil()) {
                    event.blockSize(r.readIntInRange(1, Integer.MAX_VALUE, "block_size"));
                }
            } else if (r.lastRawEquals(k, PARENT_HASH)) {
                if (!r.tryReadNil()) {
                    event.parentHash(r.readHash());
                }
            } else if (r.lastRawEquals(k, TOKEN_IDS)) {
                readTokens(event, r);
            } else {
                r.skipValue();
            }
        }
        if (kind == null) {
            kind = legacyKind;
        }
        if (kind == null) {
            throw DecodeException.of(DropReason.MISSING_FIELD, "Mooncake event without event_type");
        }
        final String backend = event.backendId();
        if (backend == null || backend.isEmpty()) {
            throw DecodeException.of(DropReason.MISSING_FIELD, "Mooncake event without backend_id");
        }
        event.kind(kind);
        if (kind != EventKind.OBJECTS_CLEARED) {
            deriveKey(event, connectorOffset, connectorLength, sawSeqHashes || event.blockCount() > 0);
        }
    }

    private void deriveKey(KvEvent event, int connectorOffset, int connectorLength, boolean hasSeqHashes) {
        final byte[] raw = event.raw();
        long key = MooncakeKeys.NO_KEY;
        boolean derived = false;
        if (connectorOffset >= 0) {
            key = keys.hexHash(raw, connectorOffset, connectorLength);
            derived = keys.lastOk();
        }
        if (event.hasObjectKey()) {
            // Parse the key even when a connector hash gave the key: its labels (cache_role) and its LMCache
            // worker fields describe the object.
            final long fromKey = keys.connectorKey(raw, event.objectKeyOffset(), event.objectKeyLength());
            boolean parsed = keys.lastOk();
            event.cacheRoleKv(keys.cacheRoleKv());
            long value = fromKey;
            if (!parsed) {
                value = keys.lmcacheKey(raw, event.objectKeyOffset(), event.objectKeyLength());
                parsed = keys.lastOk();
                if (parsed) {
                    event.lmcache(keys.lmcacheWorldSize(), keys.lmcacheWorkerId(), keys.workerSegmentStart(),
                            keys.workerSegmentEnd(), keys.layerSegmentStart(), keys.layerSegmentEnd());
                }
            }
            if (!parsed) {
                value = keys.bareKey(raw, event.objectKeyOffset(), event.objectKeyLength());
                parsed = keys.lastOk();
            }
            if (!derived && parsed) {
                key = value;
                derived = true;
            }
        }
        if (!derived) {
            if (!event.hasObjectKey() && hasSeqHashes && event.blockCount() > 0) {
                return; // generic RFC #1527 form: the seq_hashes are the keys
            }
            throw DecodeException.of(DropReason.UNINDEXABLE_KEY, "no 64-bit key in connector hash, object key "
                    + "or seq_hashes");
        }
        if (hasSeqHashes && event.blockCount() > 0
                && (event.blockCount() != 1 || event.blockHashes()[0] != key)) {
            throw DecodeException.of(DropReason.HASH_MISMATCH, "seq_hashes %s disagree with derived key %s",
                    Long.toUnsignedString(event.blockHashes()[0]), Long.toUnsignedString(key));
        }
        event.hashesFor(1)[0] = key;
    }

    private static EventKind readKind(MsgpackReader r, byte[] stored, byte[] removed, byte[] cleared) {
        if (!r.isStrNext()) {
            throw DecodeException.of(DropReason.FIELD_TYPE, "event type must be a string");
        }
        final int length = r.readStr();
        if (r.lastRawEquals(length, stored)) {
            return EventKind.OBJECT_STORED;
        }
        if (r.lastRawEquals(length, removed)) {
            return EventKind.OBJECT_REMOVED;
        }
        if (r.lastRawEquals(length, cleared)) {
            return EventKind.OBJECTS_CLEARED;
        }
        throw DecodeException.of(DropReason.UNKNOWN_EVENT_TAG, "unknown Mooncake event type \"%s\"",
                new String(r.buffer(), r.lastRawOffset(), length, java.nio.charset.StandardCharsets.UTF_8));
    }

    private static void readTokens(KvEvent event, MsgpackReader r) {
        if (r.tryReadNil()) {
            return;
        }
        final int n = r.readArrayHeader();
        if (n > MAX_ELEMENTS_PER_EVENT) {
            throw DecodeException.of(DropReason.TOO_LARGE, "%d tokens in one event", n);
        }
        final int[] tokens = event.tokensFor(n);
        for (int i = 0; i < n; i++) {
            tokens[i] = (int) r.readLongInRange(Integer.MIN_VALUE, 0xFFFF_FFFFL, "token id");
        }
    }

    private static @Nullable String skipAndNull(MsgpackReader r) {
        r.skipValue();
        return null;
    }
}
