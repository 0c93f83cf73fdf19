package io.conductor.daemon.store;

import io.conductor.events.KvBatch;
import io.conductor.events.KvEvent;
import io.conductor.events.KvEventSink;
import io.conductor.events.ResetCause;
import io.conductor.events.StreamKey;
import io.conductor.nativestore.StoreResidencyProbe;

/**
 * A Mooncake stream's sink that also keeps the store probe's cache in step with the master's KV events: the
 * index sink sees every call first, then {@code object_stored} / {@code object_removed} / {@code objects_cleared}
 * reach {@link StoreResidencyProbe#onObjectStored}, {@link StoreResidencyProbe#onObjectRemoved} and
 * {@link StoreResidencyProbe#onStoreCleared}. A stream reset (gap, restart) forgets the cache as well: events were
 * lost, so cached answers may be stale. Keys that are not vLLM store-connector keys are ignored by the probe.
 *
 * <p>Thread-safety: as the wrapped sink, one poller thread calls it; the probe's hooks are thread-safe.
 */
final class StoreEventTee implements KvEventSink {
    private final KvEventSink indexing;
    private final StoreTier tier;

    StoreEventTee(KvEventSink indexing, StoreTier tier) {
        this.indexing = indexing;
        this.tier = tier;
    }

    @Override
    public void onBatchBegin(KvBatch batch) {
        indexing.onBatchBegin(batch);
    }

    @Override
    public void onEvent(KvBatch batch, KvEvent event) {
        indexing.onEvent(batch, event);
        StoreResidencyProbe probe = tier.probe();
        if (probe == null) {
            return;
        }
        String key = event.objectKey();
        switch (event.kind()) {
            case OBJECT_STORED -> {
                if (key != null) {
                    probe.onObjectStored(key);
                }
            }
            case OBJECT_REMOVED -> {
                if (key != null) {
                    probe.onObjectRemoved(key);
                }
            }
            case OBJECTS_CLEARED -> probe.onStoreCleared();
            default -> {
                // engine kinds never arrive on a Mooncake stream
            }
        }
    }

    @Override
    public void onBatchEnd(KvBatch batch) {
        indexing.onBatchEnd(batch);
    }

    @Override
    public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        indexing.onStreamReset(stream, cause, epoch);
        StoreResidencyProbe probe = tier.probe();
        if (probe != null) {
            probe.onStoreCleared();
        }
    }
}
