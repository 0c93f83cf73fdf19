package io.conductor.index.prefix;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import org.openjdk.jol.info.GraphLayout;

/**
 * Bytes per (block, owner) pair, measured three ways after filling the index: the index's own accounting
 * ({@link IndexStats#bytes()}), JOL's walk of the object graph, and the used heap after GC; the top of the JVM's
 * class histogram ({@code jcmd GC.class_histogram}) is printed too. Two shapes: every block held by one owner (the
 * worst case per pair), and blocks shared by 8 ranks.
 *
 * <p>Run (after {@code bin/bench index -l} has built the classpath):
 * {@code java -Xmx6g -cp index/target/test-classes:index/target/classes:$(cat index/target/jmh.classpath)
 * io.conductor.index.prefix.PrefixIndexFootprint 1000000 10000000}
 */
public final class PrefixIndexFootprint {
    private PrefixIndexFootprint() {
    }

    /**
     * Entry point.
     *
     * @param args pair counts to measure
     * @throws Exception on a failed registration or histogram
     */
    public static void main(String[] args) throws Exception {
        for (String a : args) {
            long pairs = Long.parseLong(a);
            measure(pairs, 1);
            measure(pairs, 8);
        }
    }

    private static long usedHeapAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static void measure(long pairs, int ownersPerBlock) throws Exception {
        long before = usedHeapAfterGc();
        PrefixIndex<String> index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(8L << 30));
        ContextKey ctx = new ContextKey("default", "footprint", 16);
        RankHandle[] ranks = new RankHandle[64];
        for (int i = 0; i < ranks.length; i++) {
            ranks[i] = index.register(ctx, "p", "inst-" + i / 2, i % 2);
        }
        SplittableRandom rnd = new SplittableRandom(3);
        IndexBatch batch = new IndexBatch();
        long[] chunk = new long[16];
        long blocks = pairs / ownersPerBlock;
        for (long done = 0; done < blocks; done += chunk.length) {
            for (int k = 0; k < chunk.length; k++) {
                chunk[k] = rnd.nextLong();
            }
            int first = rnd.nextInt(ranks.length);
            for (int o = 0; o < ownersPerBlock; o++) {
                batch.clear();
                batch.store(ranks[(first + o * 7) % ranks.length], "", Tier.GPU, 0, false, chunk, 0, chunk.length);
                index.apply(batch);
            }
        }
        long heap = usedHeapAfterGc() - before;
        IndexStats s = index.stats();
        long jol = GraphLayout.parseInstance(index).totalSize();
        System.out.printf("pairs=%d owners/block=%d blocks=%d accounted=%d B (%.1f B/pair) jol=%d B (%.1f B/pair) "
                        + "heap-delta=%d B (%.1f B/pair)%n",
                s.pairs(), ownersPerBlock, s.blocks(), s.bytes(), (double) s.bytes() / s.pairs(), jol,
                (double) jol / s.pairs(), heap, (double) heap / s.pairs());
        histogram();
        if (index.stats().pairs() < 0) {
            throw new IllegalStateException("keep the index reachable until here");
        }
    }

    private static void histogram() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("jcmd", Long.toString(ProcessHandle.current().pid()), "GC.class_histogram")
                .redirectErrorStream(true).start();
        try (InputStream in = p.getInputStream()) {
            String[] lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n");
            for (int i = 0; i < Math.min(lines.length, 8); i++) {
                System.out.println("  " + lines[i]);
            }
        }
        p.waitFor();
    }
}
