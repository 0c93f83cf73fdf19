package io.conductor.index.prefix;

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
 * Single-thread ingestion: each invocation records and applies one batch of 16 block stores and 16 block removes
 * (a sliding window, so {@code resident} blocks stay in the index), the shape of a vLLM step that fills new blocks
 * while evicting old ones. Score = block operations per second.
 *
 * <p>Run: {@code bin/bench index PrefixIndexApplyBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgs = {"-Xmx2g"})
public class PrefixIndexApplyBenchmark {
    private static final int BATCH = 16;

    /** Blocks kept resident by the sliding window. */
    @Param({"1000000"})
    public int resident;

    /** Ranks taking turns as the writer's owner (1 = one stream; 8 = blocks spread over several owners). */
    @Param({"1", "8"})
    public int owners;

    private PrefixIndex<String> index;
    private RankHandle[] ranks;
    private final IndexBatch batch = new IndexBatch();
    private long[] hashes;
    private int windowBatches;
    private long next;

    /**
     * Fills the index with the resident window.
     *
     * @throws Exception never (profile conflicts are impossible here)
     */
    @Setup(Level.Trial)
    public void setUp() throws Exception {
        index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(1L << 30));
        ContextKey ctx = new ContextKey("default", "bench", 16);
        ranks = new RankHandle[owners];
        for (int r = 0; r < owners; r++) {
            ranks[r] = index.register(ctx, "p", "inst-" + r, 0);
        }
        windowBatches = resident / BATCH;
        SplittableRandom rnd = new SplittableRandom(1);
        hashes = new long[2 * windowBatches * BATCH];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = rnd.nextLong();
        }
        for (next = 0; next < windowBatches; next++) {
            batch.clear();
            addStore(next);
            index.apply(batch);
        }
    }

    private void addStore(long k) {
        int at = (int) (k % (hashes.length / BATCH)) * BATCH;
        batch.store(ranks[(int) (k % owners)], "", Tier.GPU, 0, false, hashes, at, BATCH);
    }

    /**
     * Stores the next 16 blocks and removes the oldest 16.
     *
     * @return the batch size, so the work cannot be dropped
     */
    @Benchmark
    @OperationsPerInvocation(2 * BATCH)
    public int storeAndRemove16() {
        batch.clear();
        addStore(next);
        long old = next - windowBatches;
        int at = (int) (old % (hashes.length / BATCH)) * BATCH;
        batch.remove(ranks[(int) (old % owners)], Tier.GPU, hashes, at, BATCH);
        index.apply(batch);
        next++;
        return batch.size();
    }
}
