package io.conductor.index.prefix;

import io.conductor.index.BlockHashSequence;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The query walk: for a prompt's block hashes, how far each candidate (instance, DP rank) gets through its GPU,
 * then CPU, then disk phase, written into a reusable {@link PrefixMatch}. Stateless; runs on any query thread
 * without a lock (the blocks are read through the table's seqlock, the owners through the context's immutable
 * directory) and allocates nothing per block.
 */
final class QueryWalk {
    /*
     * Phases as bitmaps: every candidate rank owner has one bit in each of three "still running" bitmaps (inGpu,
     * inCpu, inDisk). For each block the walk reads the block's GPU/CPU/disk owner bitmaps once and moves all
     * ranks together, word by word: a GPU runner that misses the block falls into the CPU phase at this same block,
     * a CPU runner that misses falls into the disk phase, a disk runner that misses stops. The block index where a
     * rank leaves each phase is its cursor for that phase (ownerGpuEnd / CpuEnd / DiskEnd).
     *
     * Pools: a pool backend's CPU/disk presence is OR-ed into the bitmaps of the ranks of every instance that reads
     * that pool (expandPools) before the step; only blocks that exist are expanded.
     *
     * Early exit: the walk stops at the first block no candidate can use, so a lazy chain hashes at most
     * max cursor + 1 blocks and a cold query hashes one. A LoRA name the context has never seen matches nothing
     * and hashes nothing.
     *
     * Consistency: per block, not across blocks; a block stored or removed during the walk may or may not be seen.
     */

    private QueryWalk() {
    }

    /**
     * Matches a prompt against one context; see {@link PrefixIndex#query}.
     *
     * @return {@link PrefixMatch#contextFound()}
     */
    static boolean run(ConcurrentHashMap<ContextKey, ContextState> contexts, ContextKey context,
            BlockHashSequence hashes, String loraName, @Nullable String instanceId, PrefixMatch out) {
        int n = hashes.blockCount();
        out.reset(context.blockSize(), n);
        ContextState cs = contexts.get(context);
        if (cs == null) {
            return false;
        }
        ContextState.Directory dir = cs.directory;
        int first = 0;
        int last = dir.instances.length;
        if (instanceId != null) {
            int idx = dir.instanceIndex(instanceId);
            if (idx < 0) {
                return false;
            }
            first = idx;
            last = idx + 1;
        }
        int words = dir.words;
        out.prepareScratch(words);
        if (cs.layout != null) {
            Integer base = loraName.isEmpty() ? Integer.valueOf(0) : cs.loraIds.get(loraName);
            return HybridQueryWalk.run(cs, dir, hashes, base == null ? -1 : base, first, last, out);
        }
        long[] inG = out.inGpu;
        long[] inC = out.inCpu;
        long[] inD = out.inDisk;
        for (int i = first; i < last; i++) {
            for (int o : dir.rankOwners[i]) {
                inG[o >>> 6] |= 1L << o;
            }
        }
        Integer loraId = loraName.isEmpty() ? Integer.valueOf(0) : cs.loraIds.get(loraName);
        int lora = loraId == null ? -1 : loraId;
        ReadBuffer buf = out.buffer;
        int[] gEnd = out.ownerGpuEnd;
        int[] cEnd = out.ownerCpuEnd;
        int[] dEnd = out.ownerDiskEnd;
        int block = 0;
        int hashed = 0;
        boolean active = lora >= 0 && first < last;
        BlockTable table = cs.table;
        while (active && block < n) {
            long h = hashes.blockHash(block);
            hashed++;
            if (table.read(h, lora, buf)) {
                expandPools(dir, buf, words);
            }
            long g;
            long c;
            long d;
            long any = 0;
            for (int w = 0; w < words; w++) {
                long ig = inG[w];
                long ic = inC[w];
                long id = inD[w];
                if ((ig | ic | id) == 0) {
                    continue;
                }
                g = buf.gpu[w];
                c = buf.cpu[w];
                d = buf.disk[w];
                long dropG = ig & ~g;
                long toC = ic | dropG;
                long dropC = toC & ~c;
                long toD = id | dropC;
                long dropD = toD & ~d;
                inG[w] = ig & g;
                inC[w] = toC & c;
                inD[w] = toD & d;
                record(gEnd, w, dropG, block);
                record(cEnd, w, dropC, block);
                record(dEnd, w, dropD, block);
                any |= inG[w] | inC[w] | inD[w];
            }
            active = any != 0;
            if (active) {
                block++;
            }
        }
        // Cursors still running stopped at `block` (the end of the prompt, or 0 when no block could match).
        for (int w = 0; w < words; w++) {
            long ig = inG[w];
            long ic = inC[w] | ig;
            long id = inD[w] | ic;
            record(gEnd, w, ig, block);
            record(cEnd, w, ic, block);
            record(dEnd, w, id, block);
        }
        for (int i = first; i < last; i++) {
            out.addInstance(dir.instances[i], dir.ranks[i], dir.rankOwners[i]);
        }
        out.setFound(hashed);
        return true;
    }

    private static void record(int[] ends, int w, long bits, int value) {
        while (bits != 0) {
            ends[(w << 6) + Long.numberOfTrailingZeros(bits)] = value;
            bits &= bits - 1;
        }
    }

    /** A pool's CPU/disk presence counts for the ranks of every instance that reads that pool. */
    static void expandPools(ContextState.Directory dir, ReadBuffer buf, int words) {
        int[] owners = dir.backendOwners;
        for (int k = 0; k < owners.length; k++) {
            int o = owners[k];
            int w = o >>> 6;
            if (w >= words) {
                continue;
            }
            long bit = 1L << o;
            boolean cpu = (buf.cpu[w] & bit) != 0;
            boolean disk = (buf.disk[w] & bit) != 0;
            if (cpu || disk) {
                long[] readers = dir.backendReaders[k];
                for (int x = 0; x < words; x++) {
                    if (cpu) {
                        buf.cpu[x] |= readers[x];
                    }
                    if (disk) {
                        buf.disk[x] |= readers[x];
                    }
                }
            }
        }
    }
}
