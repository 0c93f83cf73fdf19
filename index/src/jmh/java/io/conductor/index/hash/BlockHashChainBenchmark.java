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
 * Block hashing speed (issue 3 targets: sha256 <= 120 ns per 16-token block; a 32k-token prompt, 2048 blocks, in
 * <= 250 us; ~0 B/op). Tokens are random ids below {@code vocabulary} (152,000: a mix of 3- and 5-byte pickle
 * ints; {@code vocabulary} = 32000 gives 3-byte ints), one thread, one reused chain as in the service.
 *
 * <ul>
 * <li>{@code prompt32k}: reset plus hashing all 2048 blocks of a 32,768-token prompt (time per prompt).</li>
 * <li>{@code prompt32kPerBlock}: the same, reported per block.</li>
 * <li>{@code coldQuery}: reset plus one 16-token block, what a query that misses at block 0 costs.</li>
 * </ul>
 *
 * <p>{@link BlockEncodingBenchmark} splits a block's cost into encoding and SHA-256.
 *
 * <p>Run: {@code bin/bench index BlockHashChainBenchmark -prof gc}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class BlockHashChainBenchmark {
    private static final int BLOCK_SIZE = 16;
    private static final int BLOCKS = 2048;

    @Param({"SHA256", "SHA256_CBOR", "XXH3"})
    public HashAlgorithm algorithm;

    /** Token ids are drawn below this: 32,000 (Llama 2: pickle ints of 3 bytes) or 152,000 (Qwen: mostly 5). */
    @Param({"32000", "152000"})
    public int vocabulary;

    private final BlockHashChain chain = new BlockHashChain();
    private HashProfile profile;
    private int[] tokens;

    @Setup
    public void setUp() {
        profile = HashProfile.of(algorithm, "0");
        final SplittableRandom random = new SplittableRandom(42);
        tokens = new int[BLOCK_SIZE * BLOCKS];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = random.nextInt(vocabulary);
        }
    }

    @Benchmark
    public long prompt32k() {
        return chain.reset(profile, BLOCK_SIZE, tokens, HashExtras.NONE).blockHash(BLOCKS - 1);
    }

    @Benchmark
    @OperationsPerInvocation(BLOCKS)
    public long prompt32kPerBlock() {
        return chain.reset(profile, BLOCK_SIZE, tokens, HashExtras.NONE).blockHash(BLOCKS - 1);
    }

    @Benchmark
    public long coldQuery() {
        return chain.reset(profile, BLOCK_SIZE, tokens, 0, tokens.length, HashExtras.NONE).blockHash(0);
    }
}
