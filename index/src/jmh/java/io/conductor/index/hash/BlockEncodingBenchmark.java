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

import java.security.DigestException;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Where a block's time goes: the byte writer alone ({@code encodePerBlock}, 2048 blocks of 16 tokens per call) and
 * {@link MessageDigest} SHA-256 alone over one encoded block ({@code sha256OneBlock}), the floor the chain cannot
 * go below. Same token distribution as {@link BlockHashChainBenchmark}.
 *
 * <p>Run: {@code bin/bench index BlockEncodingBenchmark -prof gc}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class BlockEncodingBenchmark {
    private static final int BLOCK_SIZE = 16;
    private static final int BLOCKS = 2048;
    private static final byte[] NO_TEXT = new byte[0];

    /** {@code true}: CPython pickle 5 ({@code sha256}); {@code false}: canonical CBOR ({@code sha256_cbor}). */
    @Param({"true", "false"})
    public boolean pickle;

    /** Token ids are drawn below this: 32,000 (3-byte pickle ints) or 152,000 (mostly 5-byte). */
    @Param({"32000", "152000"})
    public int vocabulary;

    private final PickleBlockEncoder pickleEncoder = new PickleBlockEncoder();
    private final CborBlockEncoder cborEncoder = new CborBlockEncoder();
    private final MessageDigest digest = RootDigests.newSha256();
    private final byte[] parent = new byte[32];
    private int[] tokens;
    private byte[] encodedBlock;

    @Setup
    public void setUp() {
        final SplittableRandom random = new SplittableRandom(42);
        tokens = new int[BLOCK_SIZE * BLOCKS];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = random.nextInt(vocabulary);
        }
        final int length = encode(0);
        encodedBlock = Arrays.copyOf(pickle ? pickleEncoder.buffer() : cborEncoder.buffer(), length);
    }

    private int encode(int block) {
        return pickle
                ? pickleEncoder.encode(parent, 0, 32, tokens, block * BLOCK_SIZE, BLOCK_SIZE, NO_TEXT, NO_TEXT, false)
                : cborEncoder.encode(parent, 0, 32, tokens, block * BLOCK_SIZE, BLOCK_SIZE, NO_TEXT, NO_TEXT);
    }

    @Benchmark
    @OperationsPerInvocation(BLOCKS)
    public int encodePerBlock() {
        int total = 0;
        for (int i = 0; i < BLOCKS; i++) {
            total += encode(i);
        }
        return total;
    }

    @Benchmark
    public int sha256OneBlock() throws DigestException {
        digest.update(encodedBlock, 0, encodedBlock.length);
        return digest.digest(parent, 0, 32);
    }
}
