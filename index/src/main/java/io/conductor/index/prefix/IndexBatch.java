package io.conductor.index.prefix;

import java.util.Arrays;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A batch of index updates (normally one ZMQ message) recorded by one stream thread and applied whole by
 * {@link PrefixIndex#apply}, which publishes counters once per batch. Ops are applied strictly in the order they
 * were added (a vLLM batch may remove a block before re-storing it).
 *
 * <p>Recording copies block hashes into a reusable primitive buffer; after warm-up a batch allocates nothing.
 * Not thread-safe: one batch belongs to one stream thread. Argument errors throw {@link IllegalArgumentException}
 * at recording time and leave the batch unchanged.
 */
public final class IndexBatch {
    static final byte STORE = 1;
    static final byte REMOVE = 2;
    static final byte CLEAR_OWNER = 3;
    static final byte POOL_STORE = 4;
    static final byte POOL_REMOVE = 5;
    static final byte POOL_CLEAR = 6;
    static final byte STORE_GROUP = 7;
    static final byte REMOVE_GROUP = 8;

    byte[] kinds = new byte[16];
    @Nullable Object[] targets = new Object[16];
    @Nullable ContextKey[] contexts = new ContextKey[16];
    @Nullable String[] texts = new String[16];
    @Nullable String[] backends = new String[16];
    @Nullable String[] objectKeys = new String[16];
    int[] tiers = new int[16];
    /** KV-cache group of a {@link #STORE_GROUP} / {@link #REMOVE_GROUP} op; not written by other ops. */
    int[] groups = new int[16];
    long[] parents = new long[16];
    boolean[] hasParent = new boolean[16];
    int[] hashStart = new int[16];
    int[] hashLength = new int[16];
    long[] hashes = new long[256];
    int ops;
    int hashCount;

    /**
     * Records a {@code BlockStored} of one rank: {@code owner} now holds the blocks on {@code tier}.
     *
     * @param owner      the registered rank whose stream published the event
     * @param loraName   adapter name, {@code ""} for the base model
     * @param tier       GPU, or an instance-local offload tier
     * @param parentHash hash of the block before the first one, if {@code hasParent}
     * @param hasParent  false when the run starts at block 0 ({@code parent_block_hash} nil)
     * @param blockHashes hashes in chain order
     * @param offset     first hash to use
     * @param length     number of hashes
     * @return this batch
     */
    public IndexBatch store(RankHandle owner, String loraName, Tier tier, long parentHash, boolean hasParent,
            long[] blockHashes, int offset, int length) {
        Objects.requireNonNull(owner, "owner");
        Objects.requireNonNull(loraName, "loraName");
        Objects.requireNonNull(tier, "tier");
        Objects.checkFromIndexSize(offset, length, blockHashes.length);
        int op = nextOp(STORE);
        targets[op] = owner;
        texts[op] = loraName;
        tiers[op] = tier.bit();
        parents[op] = parentHash;
        this.hasParent[op] = hasParent;
        copyHashes(op, blockHashes, offset, length);
        return this;
    }

    /**
     * Records a {@code BlockStored} of one KV-cache group of a hybrid context: {@code owner} now holds the blocks
     * (each keyed by the chain hash of its last hash block, as vLLM publishes it) in group {@code group} on
     * {@code tier}. In a plain context only group 0 exists; another group is dropped and counted when applied, as
     * is a group the context's layout does not have.
     *
     * @param owner       the registered rank whose stream published the event
     * @param loraName    adapter name, {@code ""} for the base model
     * @param tier        GPU, or an instance-local offload tier
     * @param group       the event's {@code group_idx}, {@code >= 0}
     * @param parentHash  hash of the chain block before the first one, if {@code hasParent}
     * @param hasParent   false when the run starts at block 0
     * @param blockHashes hashes in chain order
     * @param offset      first hash to use
     * @param length      number of hashes
     * @return this batch
     * @throws IllegalArgumentException for a negative group
     */
    public IndexBatch storeGroup(RankHandle owner, String loraName, Tier tier, int group, long parentHash,
            boolean hasParent, long[] blockHashes, int offset, int length) {
        checkGroup(group);
        store(owner, loraName, tier, parentHash, hasParent, blockHashes, offset, length);
        kinds[ops - 1] = STORE_GROUP;
        groups[ops - 1] = group;
        return this;
    }

    /**
     * Records a {@code BlockRemoved} of one KV-cache group of a hybrid context: {@code owner} no longer holds the
     * blocks in group {@code group} on {@code tier}, under any LoRA. Other groups keep them.
     *
     * @param owner       the registered rank
     * @param tier        the tier
     * @param group       the event's {@code group_idx}, {@code >= 0}
     * @param blockHashes hashes
     * @param offset      first hash to use
     * @param length      number of hashes
     * @return this batch
     * @throws IllegalArgumentException for a negative group
     */
    public IndexBatch removeGroup(RankHandle owner, Tier tier, int group, long[] blockHashes, int offset,
            int length) {
        checkGroup(group);
        remove(owner, tier, blockHashes, offset, length);
        kinds[ops - 1] = REMOVE_GROUP;
        groups[ops - 1] = group;
        return this;
    }

    private static void checkGroup(int group) {
        if (group < 0) {
            throw new IllegalArgumentException("group must be >= 0: " + group);
        }
    }

    /**
     * Records a {@code BlockRemoved} of one rank: {@code owner} no longer holds the blocks on {@code tier}, under
     * any LoRA (the event names none). Unknown hashes are counted, not errors.
     *
     * @param owner       the registered rank
     * @param tier        the tier
     * @param blockHashes hashes
     * @param offset      first hash to use
     * @param length      number of hashes
     * @return this batch
     */
    public IndexBatch remove(RankHandle owner, Tier tier, long[] blockHashes, int offset, int length) {
        Objects.requireNonNull(owner, "owner");
        Objects.requireNonNull(tier, "tier");
        Objects.checkFromIndexSize(offset, length, blockHashes.length);
        int op = nextOp(REMOVE);
        targets[op] = owner;
        tiers[op] = tier.bit();
        copyHashes(op, blockHashes, offset, length);
        return this;
    }

    /**
     * Records that {@code owner} holds nothing on the given tier ({@code AllBlocksCleared}, engine restart).
     *
     * @param owner the registered rank
     * @param tier  the tier to clear
     * @return this batch
     */
    public IndexBatch clearOwner(RankHandle owner, Tier tier) {
        return clearOwnerTiers(owner, tier.bit());
    }

    /**
     * Records that {@code owner} holds nothing on any tier.
     *
     * @param owner the registered rank
     * @return this batch
     */
    public IndexBatch clearOwner(RankHandle owner) {
        return clearOwnerTiers(owner, BlockTable.ALL_TIERS);
    }

    private IndexBatch clearOwnerTiers(RankHandle owner, int tierBits) {
        Objects.requireNonNull(owner, "owner");
        int op = nextOp(CLEAR_OWNER);
        targets[op] = owner;
        tiers[op] = tierBits;
        hashLength[op] = 0;
        return this;
    }

    /**
     * Records a Mooncake {@code stored}: pool {@code backendId} holds the object {@code objectKey}, whose 64-bit
     * block key is {@code blockHash}, on {@code tier}. The binding is remembered for removal.
     *
     * @param stream    the Mooncake subscription
     * @param context   the event's context (must exist; otherwise the event is dropped and counted)
     * @param loraName  adapter name, {@code ""} for the base model
     * @param backendId the pool that stores the object
     * @param objectKey the full Mooncake object key
     * @param tier      {@link Tier#CPU} or {@link Tier#DISK}
     * @param blockHash the derived 64-bit block key
     * @return this batch
     * @throws IllegalArgumentException for {@link Tier#GPU} or an empty backend id
     */
    public IndexBatch poolStore(PoolStream stream, ContextKey context, String loraName, String backendId,
            String objectKey, Tier tier, long blockHash) {
        checkPool(stream, backendId, objectKey, tier);
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(loraName, "loraName");
        int op = nextOp(POOL_STORE);
        targets[op] = stream;
        contexts[op] = context;
        texts[op] = loraName;
        backends[op] = backendId;
        objectKeys[op] = objectKey;
        tiers[op] = tier.bit();
        ensureHashes(1);
        hashStart[op] = hashCount;
        hashLength[op] = 1;
        hashes[hashCount++] = blockHash;
        return this;
    }

    /**
     * Records a Mooncake {@code removed}: follows the binding {@code (backendId, tenantId, objectKey, tier)} this
     * stream saved; an unknown binding is counted as an unknown removal.
     *
     * @param stream    the Mooncake subscription
     * @param tenantId  the event's tenant
     * @param backendId the pool
     * @param objectKey the full object key
     * @param tier      {@link Tier#CPU} or {@link Tier#DISK}
     * @return this batch
     */
    public IndexBatch poolRemove(PoolStream stream, String tenantId, String backendId, String objectKey,
            Tier tier) {
        checkPool(stream, backendId, objectKey, tier);
        Objects.requireNonNull(tenantId, "tenantId");
        int op = nextOp(POOL_REMOVE);
        targets[op] = stream;
        texts[op] = tenantId;
        backends[op] = backendId;
        objectKeys[op] = objectKey;
        tiers[op] = tier.bit();
        hashLength[op] = 0;
        return this;
    }

    /**
     * Records a Mooncake {@code cleared}: every binding of this stream with that backend and tenant is gone.
     *
     * @param stream    the Mooncake subscription
     * @param tenantId  the tenant
     * @param backendId the pool
     * @return this batch
     */
    public IndexBatch poolClear(PoolStream stream, String tenantId, String backendId) {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(tenantId, "tenantId");
        Objects.requireNonNull(backendId, "backendId");
        int op = nextOp(POOL_CLEAR);
        targets[op] = stream;
        texts[op] = tenantId;
        backends[op] = backendId;
        hashLength[op] = 0;
        return this;
    }

    /**
     * Returns the number of recorded ops.
     *
     * @return ops recorded since the last {@link #clear}
     */
    public int size() {
        return ops;
    }

    /** Forgets every recorded op and the references they held; keeps the buffers. */
    public void clear() {
        Arrays.fill(targets, 0, ops, null);
        Arrays.fill(contexts, 0, ops, null);
        Arrays.fill(texts, 0, ops, null);
        Arrays.fill(backends, 0, ops, null);
        Arrays.fill(objectKeys, 0, ops, null);
        ops = 0;
        hashCount = 0;
    }

    private static void checkPool(PoolStream stream, String backendId, String objectKey, Tier tier) {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(objectKey, "objectKey");
        if (tier == Tier.GPU) {
            throw new IllegalArgumentException("a shared pool holds only CPU or DISK blocks");
        }
        if (backendId.isEmpty()) {
            throw new IllegalArgumentException("backendId must not be empty");
        }
    }

    private int nextOp(byte kind) {
        if (ops == kinds.length) {
            int n = ops * 2;
            kinds = Arrays.copyOf(kinds, n);
            targets = Arrays.copyOf(targets, n);
            contexts = Arrays.copyOf(contexts, n);
            texts = Arrays.copyOf(texts, n);
            backends = Arrays.copyOf(backends, n);
            objectKeys = Arrays.copyOf(objectKeys, n);
            tiers = Arrays.copyOf(tiers, n);
            groups = Arrays.copyOf(groups, n);
            parents = Arrays.copyOf(parents, n);
            hasParent = Arrays.copyOf(hasParent, n);
            hashStart = Arrays.copyOf(hashStart, n);
            hashLength = Arrays.copyOf(hashLength, n);
        }
        kinds[ops] = kind;
        hasParent[ops] = false;
        return ops++;
    }

    private void ensureHashes(int more) {
        if (hashCount + more > hashes.length) {
            hashes = Arrays.copyOf(hashes, Math.max(hashes.length * 2, hashCount + more));
        }
    }

    private void copyHashes(int op, long[] src, int offset, int length) {
        ensureHashes(length);
        System.arraycopy(src, offset, hashes, hashCount, length);
        hashStart[op] = hashCount;
        hashLength[op] = length;
        hashCount += length;
    }
}
