package io.conductor.daemon.service;

import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.events.EventKind;
import io.conductor.events.KvBatch;
import io.conductor.events.KvEvent;
import io.conductor.events.KvEventSink;
import io.conductor.events.Medium;
import io.conductor.events.ResetCause;
import io.conductor.events.StreamKey;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.TokenRehasher;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.IndexBatch;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.RankHandle;
import io.conductor.index.prefix.Tier;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;
import org.jspecify.annotations.Nullable;

/**
 * Turns one subscription's normalized events into index updates: each ZMQ batch becomes one {@link IndexBatch}
 * applied once at the batch end. Engine streams (vLLM, SGLang) update their rank's GPU and instance-local
 * offload tiers; in token-rehash mode (no profile registered) block hashes are recomputed from the events'
 * {@code token_ids} by a {@link TokenRehasher}, so queries hash with the conductor's own chain. Mooncake streams
 * update the shared pool tiers through their {@link PoolStream}.
 *
 * <p>Thread-safety: one writer. Every sink call comes from the subscription's poller thread (the events module's
 * contract); the counters it exposes for metrics are atomics read by the scrape thread.
 */
final class IndexingSink implements KvEventSink {
    /*
     * Allocation: the batch, the rehash scratch and the rehasher are allocated once; an engine event allocates
     * nothing except, in rehash mode, HashExtras when its LoRA name changes. A Mooncake event allocates its
     * context key and object key (the index keeps the key in its binding).
     */
    private static final int MEDIA = Medium.values().length;

    private final ServiceRegistration registration;
    private final PrefixIndex<?> index;
    private final @Nullable RankHandle rank;
    private final @Nullable PoolStream pool;
    private final @Nullable TokenRehasher rehasher;
    private final IndexBatch batch = new IndexBatch();
    private final AtomicLongArray eventCounts = new AtomicLongArray(EventKind.values().length * MEDIA);
    private final Set<String> poolBackends = new HashSet<>();
    private long[] ownHashes = new long[64];
    private String extrasLora = "";
    private HashExtras extras = HashExtras.NONE;

    IndexingSink(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool, int rehashCapacity) {
        this.registration = Objects.requireNonNull(registration, "registration");
        this.index = Objects.requireNonNull(index, "index");
        this.rank = rank;
        this.pool = pool;
        this.rehasher = rank != null && registration.profile() == null
                ? new TokenRehasher(QueryHashing.REHASH_PROFILE, rehashCapacity) : null;
    }

    /**
     * Returns how many events of a kind and medium this stream delivered.
     *
     * @param kind the event kind
     * @param medium the medium
     * @return the count
     */
    long eventCount(EventKind kind, Medium medium) {
        return eventCounts.getOpaque(kind.ordinal() * MEDIA + medium.ordinal());
    }

    @Override
    public void onBatchBegin(KvBatch kvBatch) {
        batch.clear();
    }

    @Override
    public void onEvent(KvBatch kvBatch, KvEvent event) {
        int slot = event.kind().ordinal() * MEDIA + event.medium().ordinal();
        eventCounts.setOpaque(slot, eventCounts.getPlain(slot) + 1);
        RankHandle r = rank;
        if (r != null) {
            onEngineEvent(r, kvBatch, event);
        } else if (pool != null) {
            onPoolEvent(pool, event);
        }
    }

    private void onEngineEvent(RankHandle r, KvBatch kvBatch, KvEvent event) {
        switch (event.kind()) {
            case BLOCKS_STORED -> {
                Tier tier = engineTier(event.medium());
                if (tier == null || !event.isPrimaryGroup()) {
                    return;
                }
                String lora = event.loraName() == null ? "" : event.loraName();
                int n = event.blockCount();
                TokenRehasher rh = rehasher;
                if (rh == null) {
                    batch.store(r, lora, tier, event.parentHash(), event.hasParentHash(), event.blockHashes(), 0, n);
                    return;
                }
                ensureScratch(n);
                long parentOwn = event.hasParentHash()
                        ? rh.ownHashOrDefault(event.parentHash(), 0) : 0;
                int done = rh.onBlockStored(event.hasParentHash(), event.parentHash(), event.blockHashes(), 0, n,
                        event.tokenIds(), 0, event.tokenCount(), (int) registration.blockSize(), extrasFor(lora),
                        ownHashes, 0);
                if (done > 0) {
                    batch.store(r, lora, tier, parentOwn, event.hasParentHash(), ownHashes, 0, done);
                } else if (done < 0) {
                    // Never silently: counted as an unindexed event (conductor_event_decode_errors_total, reason
                    // "unindexed"). A full table means this stream now holds less than the engine announced, so
                    // the stream goes DEGRADED; an unknown parent or a token count that does not match the
                    // blocks was never indexable.
                    kvBatch.reportUnindexed(done == TokenRehasher.TABLE_FULL);
                }
            }
            case BLOCKS_REMOVED -> {
                Tier tier = engineTier(event.medium());
                if (tier == null || !event.isPrimaryGroup()) {
                    return;
                }
                int n = event.blockCount();
                TokenRehasher rh = rehasher;
                if (rh == null) {
                    batch.remove(r, tier, event.blockHashes(), 0, n);
                    return;
                }
                ensureScratch(n);
                int mapped = rh.onBlockRemoved(event.blockHashes(), 0, n, ownHashes, 0);
                batch.remove(r, tier, ownHashes, 0, mapped);
            }
            case ALL_BLOCKS_CLEARED -> {
                batch.clearOwner(r);
                if (rehasher != null) {
                    rehasher.clear();
                }
            }
            default -> {
                // Mooncake kinds on an engine stream cannot happen (the decoder follows the registered type).
            }
        }
    }

    private void onPoolEvent(PoolStream p, KvEvent event) {
        String backend = event.backendId();
        if (backend == null || backend.isEmpty()) {
            return;
        }
        String tenant = event.tenantId() == null || event.tenantId().isEmpty()
                ? registration.tenantId() : event.tenantId();
        switch (event.kind()) {
            case OBJECT_STORED -> {
                Tier tier = poolTier(event.medium());
                String objectKey = event.objectKey();
                if (tier == null || objectKey == null || event.blockCount() == 0) {
                    return;
                }
                String model = event.modelName() == null || event.modelName().isEmpty()
                        ? registration.modelName() : event.modelName();
                long blockSize = event.blockSize() > 0 ? event.blockSize() : registration.blockSize();
                String lora = event.loraName() == null ? registration.loraName() : event.loraName();
                poolBackends.add(backend);
                batch.poolStore(p, new ContextKey(tenant, model, blockSize), lora, backend, objectKey, tier,
                        event.blockHash(0));
            }
            case OBJECT_REMOVED -> {
                Tier tier = poolTier(event.medium());
                String objectKey = event.objectKey();
                if (tier != null && objectKey != null) {
                    batch.poolRemove(p, tenant, backend, objectKey, tier);
                }
            }
            case OBJECTS_CLEARED -> batch.poolClear(p, tenant, backend);
            default -> {
                // Engine kinds on a Mooncake stream cannot happen.
            }
        }
    }

    @Override
    public void onBatchEnd(KvBatch kvBatch) {
        if (batch.size() > 0) {
            index.apply(batch);
        }
        batch.clear();
    }

    @Override
    public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        batch.clear();
        if (rank != null) {
            batch.clearOwner(rank);
            if (rehasher != null) {
                rehasher.clear();
            }
        } else if (pool != null) {
            for (String backend : poolBackends) {
                batch.poolClear(pool, registration.tenantId(), backend);
            }
        }
        index.apply(batch);
        batch.clear();
    }

    private void ensureScratch(int n) {
        if (ownHashes.length < n) {
            ownHashes = new long[Math.max(n, ownHashes.length * 2)];
        }
    }

    private HashExtras extrasFor(String lora) {
        if (!lora.equals(extrasLora)) {
            extras = HashExtras.of(lora, null);
            extrasLora = lora;
        }
        return extras;
    }

    /** vLLM block pool (or no medium) = GPU; the offloading connector's CPU and FS/OBJ tiers are instance-local. */
    private static @Nullable Tier engineTier(Medium medium) {
        return switch (medium) {
            case ABSENT, GPU -> Tier.GPU;
            case CPU, CPU_PINNED -> Tier.CPU;
            case FS, OBJ, DISK -> Tier.DISK;
            default -> null;
        };
    }

    private static @Nullable Tier poolTier(Medium medium) {
        return switch (medium) {
            case CPU -> Tier.CPU;
            case DISK -> Tier.DISK;
            default -> null;
        };
    }
}
