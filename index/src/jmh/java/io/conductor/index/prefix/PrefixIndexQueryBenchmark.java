package io.conductor.index.prefix;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Query latency with hashes given: a 128-block prompt that every one of 64 instances x 2 DP ranks holds on GPU
 * (all hit, so the walk cannot exit early), in a context with {@code resident} other blocks (one owner each); and
 * a 128-block prompt nobody holds (early exit after one block).
 * Score = microseconds per query, single thread.
 *
 * <p>Run: {@code bin/bench index PrefixIndexQueryBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgs = {"-Xmx3g"})
public class PrefixIndexQueryBenchmark {
    private static final int PROMPT = 128;
    private static final int INSTANCES = 64;
    private static final int RANKS = 2;

    /** Other blocks resident in the context. */
    @Param({"10000000"})
    public int resident;

    private PrefixIndex<String> index;
    private ContextKey ctx;
    private final PrefixMatch match = new PrefixMatch();
    private BlockHashArray prompt;
    private BlockHashArray coldPrompt;

    /**
     * Registers 64 x 2 ranks, stores the resident blocks, then the prompt on every rank.
     *
     * @throws Exception never
     */
    @Setup(Level.Trial)
    public void setUp() throws Exception {
        index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(2L << 30));
        ctx = new ContextKey("default", "bench", 16);
        RankHandle[] ranks = new RankHandle[INSTANCES * RANKS];
        for (int i = 0; i < ranks.length; i++) {
            ranks[i] = index.register(ctx, "p", String.format("inst-%02d", i / RANKS), i % RANKS);
        }
        SplittableRandom rnd = new SplittableRandom(7);
        IndexBatch batch = new IndexBatch();
        long[] chunk = new long[PROMPT];
        for (int done = 0; done < resident; done += PROMPT) {
            for (int k = 0; k < PROMPT; k++) {
                chunk[k] = rnd.nextLong();
            }
            batch.clear();
            batch.store(ranks[(done / PROMPT) % ranks.length], "", Tier.GPU, 0, false, chunk, 0, PROMPT);
            index.apply(batch);
        }
        long[] hashes = new long[PROMPT];
        for (int k = 0; k < PROMPT; k++) {
            hashes[k] = rnd.nextLong();
        }
        for (RankHandle r : ranks) {
            batch.clear();
            batch.store(r, "", Tier.GPU, 0, false, hashes, 0, PROMPT);
            index.apply(batch);
        }
        prompt = new BlockHashArray(hashes);
        long[] cold = new long[PROMPT];
        for (int k = 0; k < PROMPT; k++) {
            cold[k] = rnd.nextLong();
        }
        coldPrompt = new BlockHashArray(cold);
        index.query(ctx, prompt, "", null, match);
        if (match.instanceCount() != INSTANCES || match.longestMatchedBlocks(INSTANCES - 1) != PROMPT) {
            throw new IllegalStateException("setup did not produce an all-hit prompt");
        }
    }

    /**
     * One query over the whole prompt.
     *
     * @return the last instance's longest match, so the work cannot be dropped
     */
    @Benchmark
    public long query128Blocks64x2AllHit() {
        index.query(ctx, prompt, "", null, match);
        return match.longestMatchedTokens(INSTANCES - 1);
    }

    /**
     * A prompt nobody holds: the walk stops after one block lookup; the rest is listing 64 x 2 zero-hit ranks.
     *
     * @return blocks hashed (1)
     */
    @Benchmark
    public int query128BlocksColdMiss() {
        index.query(ctx, coldPrompt, "", null, match);
        return match.hashedBlocks();
    }
}
