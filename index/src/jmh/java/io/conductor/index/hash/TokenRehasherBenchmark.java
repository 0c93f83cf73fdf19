package io.conductor.index.hash;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Token-rehash cost per stored block, as the event thread pays it: one {@code BlockStored} of 16 blocks of 16
 * tokens chained under the previous event's last block, then a {@code BlockRemoved} of the previous event's 16
 * blocks, so the map stays at a steady size. Reported per block; {@code -prof gc} shows the allocation (expected ~0 B/op).
 *
 * <p>Run: {@code bin/bench index TokenRehasherBenchmark -prof gc}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class TokenRehasherBenchmark {
    private static final int BLOCK_SIZE = 16;
    private static final int BLOCKS_PER_EVENT = 16;

    @Param({"SHA256", "XXH3"})
    public HashAlgorithm algorithm;

    private TokenRehasher rehasher;
    private long[] engineHashes = new long[BLOCKS_PER_EVENT];
    private long[] spareHashes = new long[BLOCKS_PER_EVENT];
    private final long[] own = new long[BLOCKS_PER_EVENT];
    private int[] tokens;
    private long nextEngineHash = 1;

    @Setup
    public void setUp() {
        rehasher = new TokenRehasher(HashProfile.of(algorithm, "0"), 1 << 16);
        final SplittableRandom random = new SplittableRandom(7);
        tokens = new int[BLOCK_SIZE * BLOCKS_PER_EVENT];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = random.nextInt(152_000);
        }
        for (int i = 0; i < BLOCKS_PER_EVENT; i++) {
            engineHashes[i] = nextEngineHash++;
        }
        rehasher.onBlockStored(false, 0, engineHashes, 0, BLOCKS_PER_EVENT, tokens, 0, tokens.length, BLOCK_SIZE,
                HashExtras.NONE, own, 0);
    }

    @Benchmark
    @OperationsPerInvocation(BLOCKS_PER_EVENT)
    public int storeAndRemoveEvent() {
        final long[] previous = engineHashes;
        final long[] next = spareHashes;
        for (int i = 0; i < BLOCKS_PER_EVENT; i++) {
            next[i] = nextEngineHash++;
        }
        final int stored = rehasher.onBlockStored(true, previous[BLOCKS_PER_EVENT - 1], next, 0, BLOCKS_PER_EVENT,
                tokens, 0, tokens.length, BLOCK_SIZE, HashExtras.NONE, own, 0);
        final int removed = rehasher.onBlockRemoved(previous, 0, BLOCKS_PER_EVENT, own, 0);
        engineHashes = next;
        spareHashes = previous;
        return stored + removed;
    }
}
