package io.conductor.daemon.store;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.events.KvEventSink;
import io.conductor.index.BlockHashSequence;
import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.prefix.PrefixMatch;
import io.conductor.nativestore.StoreKeyLayout;
import io.conductor.nativestore.StoreResidencyProbe;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Mooncake Store as a query tier: after the event-based walk, extends each instance's answer with the blocks
 * the store holds from where that instance's GPU/CPU/disk walk stopped, and passes Mooncake store events to the
 * probe's cache. Without an attached probe (the default: {@code native_store} off) every method is a cheap no-op.
 *
 * <p>What a query may probe: only token queries of contexts with a registered hash profile of {@code sha256} or
 * {@code sha256_cbor} and whose model is the probe's {@code model} (equal, or equal to the last path segment).
 * The store keys objects by the engine's full 32-byte block digest; token-rehash contexts hash with the
 * conductor's own seed and {@code /query_by_hash} carries only 64-bit projections, so neither can name a key.
 *
 * <p>Thread-safe: the probe is published through a volatile field; each query thread keeps its own digest and
 * result scratch (no allocation per block, none at all once the scratch fits).
 */
public final class StoreTier {
    /*
     * Batching. The store is one pool shared by every instance of the model, so the continuation from block k is
     * the same for every instance that stopped at k, and the run from the earliest stop m covers every later stop
     * k <= m + run when that run ended at a block the store lacks (or at the prompt end). So one residentRun from
     * m answers them all: one batch_is_exist per query in the common case. An instance whose own blocks reach past
     * that first store miss, or past a run cut by the batch window (max_batch_keys / rank namespaces), needs its
     * own continuation: a second residentRun, which the probe answers from its block cache when the first batch
     * already asked those blocks (it caches every block it asked, not just the run).
     */
    private static final int DIGEST_BYTES = 32;

    private record Attached(StoreResidencyProbe probe, StoreKeyLayout layout, String model, int window) {
    }

    /** Per-thread scratch: packed digests (block b at b * 32) and the per-instance answer. */
    private static final class Scratch {
        byte[] digests = new byte[256 * DIGEST_BYTES];
        long[] ends = new long[16];
    }

    private static final Logger LOG = LoggerFactory.getLogger(StoreTier.class);

    private volatile @Nullable Attached attached;
    private final AtomicBoolean failureLogged = new AtomicBoolean();
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    /** Creates a tier with no probe attached. */
    public StoreTier() {
    }

    /**
     * Starts consulting {@code probe} (the probe keeps its own life cycle; see {@link #detach()}).
     *
     * @param probe the started probe
     * @throws io.conductor.nativestore.NativeStoreConfigException if the configured model's layout is invalid
     */
    public void attach(StoreResidencyProbe probe) {
        StoreKeyLayout layout = probe.layoutFor(probe.config().model());
        attached = new Attached(probe, layout, probe.config().model(),
                Math.max(1, probe.config().maxBatchKeys() / layout.rankCount()));
    }

    /** Stops consulting the probe; later queries get no {@code store} answer. */
    public void detach() {
        attached = null;
    }

    /**
     * Returns the attached probe.
     *
     * @return the probe, or {@code null} when none is attached
     */
    public @Nullable StoreResidencyProbe probe() {
        Attached a = attached;
        return a == null ? null : a.probe();
    }

    /**
     * Extends a query's matches with store hits. Returns, per instance of {@code match} (same order), the cursor
     * after the store phase in tokens: the instance's {@code longest_matched} plus the consecutive blocks the store
     * holds (for every rank namespace) from there. The array is the calling thread's scratch: read it before the
     * thread's next call; entries beyond {@code match.instanceCount()} are garbage.
     *
     * @param context the queried context (its profile and model decide whether the store can be asked)
     * @param chain the query's block hashes as walked by the index
     * @param match the index's answer for the query
     * @return the store cursors, or {@code null} when the store was not consulted: no probe, probe not up, a
     *     context or query that cannot name store keys, or a failed probe
     */
    public long @Nullable [] storeEnds(RegistrySnapshot.Context context, BlockHashSequence chain, PrefixMatch match) {
        final Attached a = attached;
        if (a == null || !(chain instanceof BlockHashChain hashes) || hashes.digestLength() != DIGEST_BYTES
                || !probeable(context.profile()) || !modelMatches(context.key().modelName(), a.model())
                || !a.probe().status().up()) {
            return null;
        }
        try {
            return extend(a, hashes, match);
        } catch (RuntimeException e) {
            // The store never fails a query: answer from events. Programming errors only; log the first one.
            if (!failureLogged.getAndSet(true)) {
                LOG.error("event=store_tier_failed detail=\"queries are answered without the store\"", e);
            }
            return null;
        }
    }

    private long @Nullable [] extend(Attached a, BlockHashChain hashes, PrefixMatch match) {
        final int n = match.blockCount();
        final long blockSize = match.blockSize();
        final int count = match.instanceCount();
        final Scratch s = scratch.get();
        if (s.ends.length < count) {
            s.ends = new long[Math.max(count, 2 * s.ends.length)];
        }
        final long[] ends = s.ends;
        int first = n;
        for (int i = 0; i < count; i++) {
            int from = (int) Math.min(n, match.longestMatchedTokens(i) / blockSize);
            ends[i] = from;
            first = Math.min(first, from);
        }
        if (first < n) {
            final int to = (int) Math.min(n, (long) first + a.window());
            final int run = residentRun(a, hashes, s, first, to);
            if (run == StoreResidencyProbe.UNAVAILABLE) {
                return null;
            }
            final int end = first + run;
            final boolean settled = end < to || to == n; // block `end` is known absent, or the prompt ended
            int ownFrom = -1;
            int ownEnd = 0;
            for (int i = 0; i < count; i++) {
                int from = (int) ends[i];
                if (from >= n) {
                    continue;
                }
                if (from == first || (from <= end && settled)) {
                    ends[i] = Math.max(from, end);
                } else if (from == ownFrom) {
                    ends[i] = ownEnd;
                } else {
                    int own = residentRun(a, hashes, s, from, (int) Math.min(n, (long) from + a.window()));
                    if (own == StoreResidencyProbe.UNAVAILABLE) {
                        return null;
                    }
                    ownFrom = from;
                    ownEnd = from + own;
                    ends[i] = ownEnd;
                }
            }
        }
        for (int i = 0; i < count; i++) {
            ends[i] *= blockSize; // <= prompt tokens: cannot overflow
        }
        return ends;
    }

    /** Copies the digests of blocks [from, to) into the scratch (hashing them if the walk did not) and probes. */
    private static int residentRun(Attached a, BlockHashChain hashes, Scratch s, int from, int to) {
        if (s.digests.length < to * DIGEST_BYTES) {
            s.digests = new byte[Math.max(to, 2 * (s.digests.length / DIGEST_BYTES)) * DIGEST_BYTES];
        }
        final byte[] digests = s.digests;
        for (int b = from; b < to; b++) {
            hashes.copyDigest(b, digests, b * DIGEST_BYTES);
        }
        return a.probe().residentRun(a.layout(), digests, DIGEST_BYTES, from, to);
    }

    /** Only the engines' own SHA-256 chains name store keys; token-rehash contexts (no profile) do not. */
    private static boolean probeable(@Nullable HashProfileSpec profile) {
        return profile != null && (profile.algorithm().equals("sha256") || profile.algorithm().equals("sha256_cbor"));
    }

    /**
     * Tells whether a context's model is the probe's: vLLM keys objects by the last path segment of
     * {@code --model}, while registrations usually carry the whole name.
     *
     * @param contextModel the context's model name, e.g. {@code Qwen/Qwen2.5-7B-Instruct}
     * @param storeModel the probe's {@code model}, e.g. {@code Qwen2.5-7B-Instruct}
     * @return whether they name the same model
     */
    static boolean modelMatches(String contextModel, String storeModel) {
        if (contextModel.equals(storeModel)) {
            return true;
        }
        int start = contextModel.lastIndexOf('/') + 1;
        return start > 0 && contextModel.length() - start == storeModel.length()
                && contextModel.regionMatches(start, storeModel, 0, storeModel.length());
    }

    /**
     * Wraps a Mooncake stream's sink so that its store events also reach the probe's cache ({@code stored} drops a
     * block's cached answer, {@code removed} marks it absent, {@code cleared} and stream resets forget all).
     *
     * @param indexing the sink that updates the index
     * @return a sink that calls {@code indexing} first, then the probe
     */
    public KvEventSink tapPoolEvents(KvEventSink indexing) {
        return new StoreEventTee(Objects.requireNonNull(indexing, "indexing"), this);
    }
}
