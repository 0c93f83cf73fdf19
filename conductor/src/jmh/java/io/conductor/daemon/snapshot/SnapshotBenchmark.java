package io.conductor.daemon.snapshot;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.IndexBatch;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixIndexConfig;
import io.conductor.index.prefix.ProfileConflictException;
import io.conductor.index.prefix.RankHandle;
import io.conductor.index.prefix.Tier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Snapshot of 10M (block, owner) pairs: 8 ranks of one context holding 1.25M blocks each, half of every rank's
 * blocks shared with the next rank (so owner sets are inline pairs and arena lists, as in a real fleet).
 * {@code write} exports every rank ({@link PrefixIndex#exportRanks}, one table scan, as the daemon's snapshot
 * taker does) and writes the file (atomic rename, fsync); {@code load} reads and checks the
 * file, decodes it and restores every rank into a fresh index. The file size and the index's accounted bytes are
 * printed at setup. Run: {@code bin/bench conductor SnapshotBenchmark -jvmArgs -Xmx6g}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(1)
public class SnapshotBenchmark {
    private static final int RANKS = 8;
    private static final int BLOCKS_PER_RANK = 1_250_000;
    private static final int CHAIN = 64;
    private static final ContextKey CTX = new ContextKey("default", "bench", 16);

    private PrefixIndex<String> index;
    private final List<RankHandle> ranks = new ArrayList<>();
    private Path dir;
    private SnapshotFile file;

    /** Fills the index and writes the file once so {@code load} has something to read. */
    @Setup(Level.Trial)
    public void setup() throws IOException, ProfileConflictException {
        index = fill();
        dir = Files.createTempDirectory("snapshot-bench");
        file = new SnapshotFile(dir.resolve("index.snap"), Integer.MAX_VALUE);
        long size = file.write(take());
        System.out.printf("%n%d pairs, index accounted bytes %d, snapshot file %d bytes (%.2f x)%n",
                index.stats().pairs(), index.stats().bytes(), size, (double) size / index.stats().bytes());
    }

    private PrefixIndex<String> fill() throws ProfileConflictException {
        PrefixIndex<String> idx = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(4L << 30));
        ranks.clear();
        IndexBatch batch = new IndexBatch();
        long[] chain = new long[CHAIN];
        for (int r = 0; r < RANKS; r++) {
            RankHandle h = idx.register(CTX, "p", "inst-" + r, 0);
            ranks.add(h);
            // blocks [r * B/2, r * B/2 + B): the upper half is shared with rank r + 1
            long first = (long) r * BLOCKS_PER_RANK / 2;
            for (long b = 0; b < BLOCKS_PER_RANK; b += CHAIN) {
                for (int k = 0; k < CHAIN; k++) {
                    chain[k] = mix(first + b + k);
                }
                batch.clear();
                batch.store(h, "", Tier.GPU, 0, false, chain, 0, CHAIN);
                idx.apply(batch);
            }
        }
        return idx;
    }

    private static long mix(long x) {
        long z = x * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        return z ^ (z >>> 31);
    }

    private IndexSnapshot take() {
        List<StreamSnapshot> streams = new ArrayList<>();
        List<io.conductor.index.prefix.RankBlocks> blocks = index.exportRanks(ranks);
        for (int i = 0; i < ranks.size(); i++) {
            RankHandle h = ranks.get(i);
            streams.add(new StreamSnapshot(new ServiceKey(h.instanceId(), "default", 0), CTX, "p", "",
                    "tcp://127.0.0.1:1", 1000, 0, false, blocks.get(i)));
        }
        return new IndexSnapshot(System.currentTimeMillis(), streams);
    }

    /** Removes the file. */
    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        Files.deleteIfExists(file.path());
        Files.deleteIfExists(dir);
    }

    /**
     * Exports every rank and writes the file.
     *
     * @return the file size
     */
    @Benchmark
    public long write() throws IOException {
        return file.write(take());
    }

    /**
     * One write and one load outside JMH, printing wall and thread CPU time: on a machine shared with other
     * builds the CPU time is the figure that does not depend on how many other processes want the cores. Run:
     * {@code java -Xmx5g -cp "conductor/target/test-classes:conductor/target/classes:$(cat conductor/target/jmh.classpath)"
     * io.conductor.daemon.snapshot.SnapshotBenchmark} (after {@code bin/bench conductor -l}).
     *
     * @param args ignored
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        SnapshotBenchmark b = new SnapshotBenchmark();
        b.setup();
        for (int round = 0; round < 3; round++) {
            long w0 = System.nanoTime();
            long c0 = cpu.getCurrentThreadCpuTime();
            long size = b.write();
            long w1 = System.nanoTime();
            long c1 = cpu.getCurrentThreadCpuTime();
            IndexSnapshot s = b.file.load();
            long wd = System.nanoTime();
            long cd = cpu.getCurrentThreadCpuTime();
            long pairs = restore(s);
            long w2 = System.nanoTime();
            long c2 = cpu.getCurrentThreadCpuTime();
            System.out.printf("round %d: write %d bytes wall %d ms cpu %d ms; load %d pairs wall %d ms cpu %d ms"
                    + " (read+check+decode cpu %d ms, restore cpu %d ms)%n", round, size, (w1 - w0) / 1_000_000,
                    (c1 - c0) / 1_000_000, pairs, (w2 - w1) / 1_000_000, (c2 - c1) / 1_000_000,
                    (cd - c1) / 1_000_000, (c2 - cd) / 1_000_000);
        }
        b.tearDown();
    }

    /**
     * Reads, checks and decodes the file, then restores every rank into a fresh index.
     *
     * @return pairs restored
     */
    @Benchmark
    public long load() throws SnapshotFormatException, ProfileConflictException {
        return restore(file.load());
    }

    private static long restore(IndexSnapshot s) throws ProfileConflictException {
        PrefixIndex<String> fresh = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(4L << 30));
        long n = 0;
        for (StreamSnapshot t : s.streams()) {
            RankHandle h = fresh.register(t.context(), t.profile(), t.key().instanceId(), t.key().dpRank());
            n += fresh.restoreRank(h, t.blocks());
        }
        return n;
    }
}
