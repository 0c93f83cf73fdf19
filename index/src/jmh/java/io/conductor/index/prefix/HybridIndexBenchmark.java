package io.conductor.index.prefix;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of hybrid contexts ({@link GroupLayout}), in the shapes of {@link PrefixIndexApplyBenchmark} and
 * {@link PrefixIndexQueryBenchmark}: a Gemma-3-like layout (group 0 full attention, group 1 a 1024-token sliding
 * window, 16-token blocks), or with {@code layout=qwen3next} full attention plus three Mamba groups.
 * Apply: one batch stores 16 blocks in every group and removes the 16 oldest from every group; the score counts
 * 32 operations per batch (as the plain benchmark does), so (block, group) operations per second are the score
 * times the group count (2 or 4). Query: a 128-block prompt every one of 64 instances x 2 ranks holds in every group
 * (nothing exits early); score = microseconds per query.
 *
 * <p>Run: {@code bin/bench index HybridIndexBenchmark}
 */
@State(Scope.Thread)
@Fork(value = 1, jvmArgs = {"-Xmx3g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class HybridIndexBenchmark {
    private static final int BATCH = 16;
    private static final int PROMPT = 128;
    private static final int INSTANCES = 64;
    private static final int RANKS = 2;

    /** {@code gemma3}: full + sliding window; {@code qwen3next}: full + 3 Mamba. */
    @Param({"gemma3", "qwen3next"})
    public String layout;

    /** Blocks (per group) kept resident by the apply benchmark's sliding window. */
    @Param({"1000000"})
    public int resident;

    private PrefixIndex<String> applyIndex;
    private RankHandle writer;
    private final IndexBatch batch = new IndexBatch();
    private long[] hashes;
    private int windowBatches;
    private long next;
    private int groups;

    private PrefixIndex<String> queryIndex;
    private final ContextKey ctx = new ContextKey("default", "bench", 16);
    private final PrefixMatch match = new PrefixMatch();
    private BlockHashArray prompt;

    private GroupLayout layout() {
        return layout.equals("gemma3")
                ? new GroupLayout(16, List.of(new CacheGroup.FullAttention(16),
                        new CacheGroup.SlidingWindow(16, 1024)))
                : new GroupLayout(16, List.of(new CacheGroup.FullAttention(16), new CacheGroup.Mamba(16),
                        new CacheGroup.Mamba(16), new CacheGroup.Mamba(16)));
    }

    /**
     * Fills the apply index with the resident window and the query index with the all-hit prompt.
     *
     * @throws Exception never
     */
    @Setup(Level.Trial)
    public void setUp() throws Exception {
        GroupLayout l = layout();
        groups = l.groupCount();
        applyIndex = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(2L << 30));
        writer = applyIndex.register(ctx, "p", l, "inst", 0);
        windowBatches = resident / BATCH;
        SplittableRandom rnd = new SplittableRandom(1);
        hashes = new long[2 * windowBatches * BATCH];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = rnd.nextLong();
        }
        for (next = 0; next < windowBatches; next++) {
            batch.clear();
            addStores(next);
            applyIndex.apply(batch);
        }

        queryIndex = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(2L << 30));
        RankHandle[] ranks = new RankHandle[INSTANCES * RANKS];
        for (int i = 0; i < ranks.length; i++) {
            ranks[i] = queryIndex.register(ctx, "p", l, String.format("inst-%02d", i / RANKS), i % RANKS);
        }
        long[] p = new long[PROMPT];
        for (int k = 0; k < PROMPT; k++) {
            p[k] = rnd.nextLong();
        }
        for (RankHandle r : ranks) {
            batch.clear();
            for (int g = 0; g < groups; g++) {
                batch.storeGroup(r, "", Tier.GPU, g, 0, false, p, 0, PROMPT);
            }
            queryIndex.apply(batch);
        }
        prompt = new BlockHashArray(p);
        queryIndex.query(ctx, prompt, "", null, match);
        if (match.instanceCount() != INSTANCES || match.longestMatchedBlocks(INSTANCES - 1) != PROMPT) {
            throw new IllegalStateException("setup did not produce an all-hit prompt");
        }
    }

    private void addStores(long k) {
        int at = (int) (k % (hashes.length / BATCH)) * BATCH;
        for (int g = 0; g < groups; g++) {
            batch.storeGroup(writer, "", Tier.GPU, g, 0, false, hashes, at, BATCH);
        }
    }

    /**
     * Stores the next 16 blocks in every group and removes the oldest 16 from every group.
     *
     * @return the batch size, so the work cannot be dropped
     */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @OperationsPerInvocation(2 * BATCH)
    public int storeAndRemove16PerGroup() {
        batch.clear();
        addStores(next);
        long old = next - windowBatches;
        int at = (int) (old % (hashes.length / BATCH)) * BATCH;
        for (int g = 0; g < groups; g++) {
            batch.removeGroup(writer, Tier.GPU, g, hashes, at, BATCH);
        }
        applyIndex.apply(batch);
        next++;
        return batch.size();
    }

    /**
     * One query over the whole prompt in every group.
     *
     * @return the last instance's longest match, so the work cannot be dropped
     */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public long query128Blocks64x2AllHit() {
        queryIndex.query(ctx, prompt, "", null, match);
        return match.longestMatchedTokens(INSTANCES - 1);
    }
}
