package io.conductor.events;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * One normalized KV event, decoded in place. A reused flyweight: the decoder fills the same instance for every
 * event of a stream, so every value (and the arrays behind {@link #blockHashes()} and {@link #tokenIds()}) is valid
 * only until the {@link KvEventSink#onEvent} call returns. Copy what you keep.
 *
 * <p>Fields not carried by an event's encoding or publisher hold their sentinel: {@link #ABSENT_INT},
 * {@link #NO_LORA_ID}, {@code null}, or an {@code ABSENT} enum constant. String values are interned per decoder,
 * so a steady stream allocates none.
 *
 * <p>Not thread-safe: written and read on the stream's poller thread only.
 */
public final class KvEvent {

    /** Value of an absent integer field ({@link #blockSize()}, {@link #slidingWindow()}). */
    public static final int ABSENT_INT = -1;
    /** {@link #loraId()} when the event has no LoRA id. */
    public static final long NO_LORA_ID = Long.MIN_VALUE;
    /** {@link #eventId()} when the event has no Mooncake event id. */
    public static final long NO_EVENT_ID = -1;

    private EventKind kind = EventKind.BLOCKS_STORED;
    private long[] hashes;
    private int hashCount;
    private boolean hasParentHash;
    private long parentHash;
    private int[] tokens;
    private int tokenCount;
    private int blockSize = ABSENT_INT;
    private long loraId = NO_LORA_ID;
    private @Nullable String loraName;
    private Medium medium = Medium.ABSENT;
    private @Nullable String mediumName;
    private int groupIdx;
    private SpecKind specKind = SpecKind.ABSENT;
    private int slidingWindow = ABSENT_INT;
    private Locality locality = Locality.ABSENT;
    private static final byte[] EMPTY_RAW = new byte[0];
    private byte[] raw = EMPTY_RAW;
    private int extraKeysOffset;
    private int extraKeysLength;
    private long eventId = NO_EVENT_ID;
    private @Nullable String tenantId;
    private @Nullable String backendId;
    private @Nullable String modelName;
    private @Nullable String groupId;
    private int objectKeyOffset;
    private int objectKeyLength = ABSENT_INT;
    private @Nullable String objectKey;
    private @Nullable String cacheSalt;
    /** Whether {@link #cacheSalt()} already looked into {@code extra_keys} for this event. */
    private boolean extraSaltResolved;
    private final MsgpackReader extraKeysReader = new MsgpackReader();
    private @Nullable String sessionId;
    private @Nullable String ownership;
    private boolean bigramTokens;
    private boolean cacheRoleKv = true;
    private int lmcacheWorldSize = ABSENT_INT;
    private int lmcacheWorkerId = ABSENT_INT;
    private int workerSegmentStart;
    private int workerSegmentEnd;
    private int layerSegmentStart = -1;
    private int layerSegmentEnd = -1;

    KvEvent(int initialHashes, int initialTokens) {
        hashes = new long[initialHashes];
        tokens = new int[initialTokens];
    }

    /** What happened. */
    public EventKind kind() {
        return kind;
    }

    /** Number of valid entries in {@link #blockHashes()}. */
    public int blockCount() {
        return hashCount;
    }

    /**
     * The block hashes as 64-bit patterns (uint64 above {@code Long.MAX_VALUE} are negative; bin hashes are their
     * last 8 bytes big-endian; Mooncake keys are derived per events.md 5.3), in chain order. Only the first
     * {@link #blockCount()} entries are valid; the array is reused.
     */
    public long[] blockHashes() {
        return hashes;
    }

    /** The {@code i}-th block hash, {@code 0 <= i < blockCount()}. */
    public long blockHash(int i) {
        if (i >= hashCount) {
            throw new IndexOutOfBoundsException("block " + i + " of " + hashCount);
        }
        return hashes[i];
    }

    /** True when the event names the hash of the block before its first one. */
    public boolean hasParentHash() {
        return hasParentHash;
    }

    /** The parent block hash; meaningful only if {@link #hasParentHash()}. */
    public long parentHash() {
        return parentHash;
    }

    /**
     * Number of valid entries in {@link #tokenIds()}. For SGLang EAGLE pages ({@link #bigramTokens()}) this is the
     * number of {@code [a, b]} pairs, and the array holds each pair's first element.
     */
    public int tokenCount() {
        return tokenCount;
    }

    /**
     * The token ids of the stored blocks (needed for token-rehash mode). The array is reused. For EAGLE bigram
     * pages SGLang sends pair {@code j} as {@code (t[j], t[j+1])}, so the first elements are the page's own tokens,
     * in order: that is what is kept here, one per position, so a page of {@code page_size} pairs has
     * {@code page_size} tokens and is found by a plain-token query.
     */
    public int[] tokenIds() {
        return tokens;
    }

    /** True when {@code token_ids} came as SGLang EAGLE {@code [a, b]} bigram pairs (see {@link #tokenIds()}). */
    public boolean bigramTokens() {
        return bigramTokens;
    }

    /**
     * The cache salt of the stored blocks: SGLang's {@code cache_salt} (from the {@code metadata} map of the array
     * form, or the top-level key of the tagged-map form), or, for a vLLM run starting at block 0, the salt in block
     * 0's {@code extra_keys} (its last string: after the LoRA name when one is set); else {@code null}. It seeds the
     * block chain, so salted and unsalted blocks with the same tokens are different blocks.
     */
    public @Nullable String cacheSalt() {
        if (cacheSalt == null && !extraSaltResolved) {
            extraSaltResolved = true;
            cacheSalt = firstBlockSalt();
        }
        return cacheSalt;
    }

    /**
     * vLLM puts the request's cache salt into the extra keys of block 0 only, after the LoRA name (hashing.md 3).
     * For a run that starts at block 0 (no parent), the salt is therefore the last string of the first tuple: the
     * only one without a LoRA, the second with one. Parsed on demand (token-rehash mode asks; the decoder does not
     * pay for it); allocates the salt string when there is one. The bytes were validated by the batch walk.
     */
    private @Nullable String firstBlockSalt() {
        if (extraKeysLength <= 0 || hasParentHash || kind != EventKind.BLOCKS_STORED) {
            return null;
        }
        final MsgpackReader r = extraKeysReader;
        r.wrap(raw, extraKeysOffset, extraKeysLength);
        if (!r.isArrayNext() || r.readArrayHeader() == 0 || !r.isArrayNext()) {
            return null;
        }
        final int m = r.readArrayHeader();
        int strings = 0;
        int lastOffset = 0;
        int lastLength = 0;
        for (int j = 0; j < m; j++) {
            if (r.isStrNext()) {
                strings++;
                lastLength = r.readStr();
                lastOffset = r.lastRawOffset();
            } else {
                r.skipValue();
            }
        }
        return strings >= (loraName == null ? 1 : 2) && lastLength > 0
                ? new String(raw, lastOffset, lastLength, StandardCharsets.UTF_8) : null;
    }

    /** The request's session ({@code session_id}: vLLM #51381, SGLang metadata), or {@code null}. */
    public @Nullable String sessionId() {
        return sessionId;
    }

    /** vLLM's {@code ownership} (#52067), as sent, or {@code null}. */
    public @Nullable String ownership() {
        return ownership;
    }

    /** Tokens per block, or {@link #ABSENT_INT}. */
    public int blockSize() {
        return blockSize;
    }

    /** The LoRA adapter's int id, or {@link #NO_LORA_ID}. */
    public long loraId() {
        return loraId;
    }

    /** The LoRA adapter name (vLLM), Mooncake {@code lora_name}, or {@code null}. */
    public @Nullable String loraName() {
        return loraName;
    }

    /** The normalized medium / tier. */
    public Medium medium() {
        return medium;
    }

    /** The medium as sent, or {@code null}. */
    public @Nullable String mediumName() {
        return mediumName;
    }

    /** The KV-cache group ({@code group_idx}; nil or absent is 0). Hashes are keyed on (hash, group). */
    public int groupIdx() {
        return groupIdx;
    }

    /** The attention kind of the event's group. */
    public SpecKind specKind() {
        return specKind;
    }

    /** {@code kv_cache_spec_sliding_window}, or {@link #ABSENT_INT}. */
    public int slidingWindow() {
        return slidingWindow;
    }

    /** {@code locality} (map form, offload tiers). */
    public Locality locality() {
        return locality;
    }

    /**
     * True when the event belongs to group 0 with a full-prefix attention kind and no sliding window: the only
     * events that may be mixed into a plain prefix index. Others are counted in
     * {@link StreamStats#nonPrimaryGroupEvents()} and delivered for a sink that keys on (hash, group).
     */
    public boolean isPrimaryGroup() {
        return groupIdx == 0 && specKind.isFullPrefix() && slidingWindow == ABSENT_INT;
    }

    /** True when {@code extra_keys} is present and not nil; its raw msgpack is {@link #extraKeysMsgpack()}. */
    public boolean hasExtraKeys() {
        return extraKeysLength > 0;
    }

    /**
     * The raw msgpack bytes of {@code extra_keys} (one entry per hash), copied; for diagnostics and tests only.
     * The hot path never needs them: extra keys are already folded into the wire hash.
     */
    public byte[] extraKeysMsgpack() {
        return Arrays.copyOfRange(raw, extraKeysOffset, extraKeysOffset + extraKeysLength);
    }

    /** Mooncake {@code event_id}, or {@link #NO_EVENT_ID}. */
    public long eventId() {
        return eventId;
    }

    /** Mooncake {@code tenant_id} ({@code default} when empty), or {@code null} for engine events. */
    public @Nullable String tenantId() {
        return tenantId;
    }

    /** Mooncake {@code backend_id}, or {@code null} for engine events. */
    public @Nullable String backendId() {
        return backendId;
    }

    /** Mooncake {@code model_name}, or {@code null}. */
    public @Nullable String modelName() {
        return modelName;
    }

    /** Mooncake {@code group_id}, or {@code null}. */
    public @Nullable String groupId() {
        return groupId;
    }

    /** True when a Mooncake object key is present. */
    public boolean hasObjectKey() {
        return objectKeyLength != ABSENT_INT;
    }

    /**
     * The full Mooncake object key, or {@code null}. Built on first call for this event (one allocation per
     * Mooncake object event that the sink asks for).
     */
    public @Nullable String objectKey() {
        if (objectKey == null && objectKeyLength != ABSENT_INT) {
            objectKey = new String(raw, objectKeyOffset, objectKeyLength, StandardCharsets.UTF_8);
        }
        return objectKey;
    }

    /**
     * False when the object key names a {@code cache_role} other than {@code kv} (vLLM Ascend's {@code state}
     * objects of hybrid models): such an object shares its chunk hash with the KV object of the same chunk but is
     * a different object. True for engine events and keys without the label.
     */
    public boolean cacheRoleKv() {
        return cacheRoleKv;
    }

    /** True when the object key is an LMCache key ({@link #lmcacheWorldSize()} and worker id are then set). */
    public boolean isLmcacheKey() {
        return lmcacheWorldSize != ABSENT_INT;
    }

    /** The LMCache key's {@code world_size}, or {@link #ABSENT_INT}. */
    public int lmcacheWorldSize() {
        return lmcacheWorldSize;
    }

    /** The LMCache key's {@code worker_id} ({@code 0 <= id < world size}), or {@link #ABSENT_INT}. */
    public int lmcacheWorkerId() {
        return lmcacheWorkerId;
    }

    /**
     * The LMCache chunk this object belongs to: the object key without its worker id and layer id segments, so all
     * workers' (and layers') objects of one chunk share it. Allocates; {@code null} unless {@link #isLmcacheKey()}.
     */
    public @Nullable String lmcacheChunkKey() {
        if (!isLmcacheKey()) {
            return null;
        }
        final StringBuilder sb = new StringBuilder(objectKeyLength);
        final int end = objectKeyOffset + objectKeyLength;
        int from = objectKeyOffset;
        appendUntil(sb, from, workerSegmentStart);
        sb.append('*');
        from = workerSegmentEnd;
        if (layerSegmentStart >= 0) {
            from = appendUntil(sb, from, layerSegmentStart);
            sb.append('*');
            from = layerSegmentEnd;
        }
        appendUntil(sb, from, end);
        return sb.toString();
    }

    private int appendUntil(StringBuilder sb, int from, int to) {
        sb.append(new String(raw, from, to - from, StandardCharsets.UTF_8));
        return to;
    }

    // ---- decoder side (package-private) ----

    void cacheRoleKv(boolean value) {
        cacheRoleKv = value;
    }

    void lmcache(int worldSize, int workerId, int workerStart, int workerEnd, int layerStart, int layerEnd) {
        lmcacheWorldSize = worldSize;
        lmcacheWorkerId = workerId;
        workerSegmentStart = workerStart;
        workerSegmentEnd = workerEnd;
        layerSegmentStart = layerStart;
        layerSegmentEnd = layerEnd;
    }

    void reset(EventKind newKind, byte[] source) {
        kind = newKind;
        raw = source;
        hashCount = 0;
        hasParentHash = false;
        parentHash = 0;
        tokenCount = 0;
        blockSize = ABSENT_INT;
        loraId = NO_LORA_ID;
        loraName = null;
        medium = Medium.ABSENT;
        mediumName = null;
        groupIdx = 0;
        specKind = SpecKind.ABSENT;
        slidingWindow = ABSENT_INT;
        locality = Locality.ABSENT;
        extraKeysLength = 0;
        eventId = NO_EVENT_ID;
        tenantId = null;
        backendId = null;
        modelName = null;
        groupId = null;
        objectKeyLength = ABSENT_INT;
        objectKey = null;
        cacheSalt = null;
        extraSaltResolved = false;
        sessionId = null;
        ownership = null;
        bigramTokens = false;
        cacheRoleKv = true;
        lmcacheWorldSize = ABSENT_INT;
        lmcacheWorkerId = ABSENT_INT;
        layerSegmentStart = -1;
        layerSegmentEnd = -1;
    }

    void cacheSalt(@Nullable String value) {
        cacheSalt = value;
    }

    void sessionId(@Nullable String value) {
        sessionId = value;
    }

    void ownership(@Nullable String value) {
        ownership = value;
    }

    void bigramTokens(boolean value) {
        bigramTokens = value;
    }

    void kind(EventKind value) {
        kind = value;
    }

    /**
     * Drops the reference to the last payload and shrinks arrays a huge event grew, so one oversized batch does not
     * stay on the heap until the stream's next message.
     */
    void release(int retainedHashes, int retainedTokens) {
        raw = EMPTY_RAW;
        objectKey = null;
        if (hashes.length > retainedHashes) {
            hashes = new long[retainedHashes];
        }
        if (tokens.length > retainedTokens) {
            tokens = new int[retainedTokens];
        }
        hashCount = 0;
        tokenCount = 0;
    }

    /** Makes room for {@code count} hashes (grows, never shrinks until {@link #release}) and sets the count. */
    long[] hashesFor(int count) {
        if (hashes.length < count) {
            hashes = new long[Math.max(count, hashes.length * 2)];
        }
        hashCount = count;
        return hashes;
    }

    int[] tokensFor(int count) {
        if (tokens.length < count) {
            tokens = new int[Math.max(count, tokens.length * 2)];
        }
        tokenCount = count;
        return tokens;
    }

    void parentHash(long value) {
        hasParentHash = true;
        parentHash = value;
    }

    void blockSize(int value) {
        blockSize = value;
    }

    void loraId(long value) {
        loraId = value;
    }

    void loraName(@Nullable String value) {
        loraName = value;
    }

    void medium(Medium value, @Nullable String name) {
        medium = value;
        mediumName = name;
    }

    void groupIdx(int value) {
        groupIdx = value;
    }

    void specKind(SpecKind value) {
        specKind = value;
    }

    void slidingWindow(int value) {
        slidingWindow = value;
    }

    void locality(Locality value) {
        locality = value;
    }

    void extraKeys(int offset, int length) {
        extraKeysOffset = offset;
        extraKeysLength = length;
    }

    void eventId(long value) {
        eventId = value;
    }

    void tenantId(@Nullable String value) {
        tenantId = value;
    }

    void backendId(@Nullable String value) {
        backendId = value;
    }

    void modelName(@Nullable String value) {
        modelName = value;
    }

    void groupId(@Nullable String value) {
        groupId = value;
    }

    void objectKey(int offset, int length) {
        objectKeyOffset = offset;
        objectKeyLength = length;
        objectKey = null;
    }

    int objectKeyOffset() {
        return objectKeyOffset;
    }

    int objectKeyLength() {
        return objectKeyLength;
    }

    byte[] raw() {
        return raw;
    }

    @Override
    public String toString() {
        final StringBuilder sb = new StringBuilder("KvEvent[").append(kind);
        sb.append(" hashes=[");
        for (int i = 0; i < hashCount; i++) {
            sb.append(i == 0 ? "" : ",").append(Long.toUnsignedString(hashes[i], 16));
        }
        sb.append(']');
        if (hasParentHash) {
            sb.append(" parent=").append(Long.toUnsignedString(parentHash, 16));
        }
        sb.append(" tokens=").append(tokenCount).append(" blockSize=").append(blockSize);
        if (loraId != NO_LORA_ID) {
            sb.append(" loraId=").append(loraId);
        }
        if (loraName != null) {
            sb.append(" lora=").append(loraName);
        }
        sb.append(" medium=").append(medium).append(" group=").append(groupIdx).append(" spec=").append(specKind);
        if (backendId != null) {
            sb.append(" backend=").append(backendId).append(" tenant=").append(tenantId)
                    .append(" key=").append(objectKey());
        }
        return sb.append(']').toString();
    }
}
