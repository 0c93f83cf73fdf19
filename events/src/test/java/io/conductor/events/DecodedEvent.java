package io.conductor.events;

import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/** An immutable copy of a {@link KvEvent}, for assertions. */
record DecodedEvent(EventKind kind, long[] hashes, @Nullable Long parent, int[] tokens, int blockSize, long loraId,
                    @Nullable String loraName, Medium medium, @Nullable String mediumName, int groupIdx,
                    SpecKind specKind, int slidingWindow, Locality locality, byte @Nullable [] extraKeys,
                    long eventId, @Nullable String tenantId, @Nullable String backendId, @Nullable String modelName,
                    @Nullable String objectKey, boolean primary, @Nullable String cacheSalt,
                    @Nullable String sessionId, @Nullable String ownership, boolean bigramTokens,
                    boolean cacheRoleKv, @Nullable String lmcacheChunkKey, int lmcacheWorkerId) {

    static DecodedEvent of(KvEvent e) {
        return new DecodedEvent(e.kind(), Arrays.copyOf(e.blockHashes(), e.blockCount()),
                e.hasParentHash() ? e.parentHash() : null, Arrays.copyOf(e.tokenIds(), e.tokenCount()),
                e.blockSize(), e.loraId(), e.loraName(), e.medium(), e.mediumName(), e.groupIdx(), e.specKind(),
                e.slidingWindow(), e.locality(), e.hasExtraKeys() ? e.extraKeysMsgpack() : null, e.eventId(),
                e.tenantId(), e.backendId(), e.modelName(), e.objectKey(), e.isPrimaryGroup(),
                e.cacheSalt(), e.sessionId(), e.ownership(), e.bigramTokens(), e.cacheRoleKv(), e.lmcacheChunkKey(),
                e.lmcacheWorkerId());
    }
}
