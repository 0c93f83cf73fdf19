package io.conductor.daemon.store;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.service.QueryHashing;
import io.conductor.index.BlockHashSequence;
import io.conductor.index.hash.HashProfile;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.IndexBatch;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.PrefixIndexConfig;
import io.conductor.index.prefix.PrefixMatch;
import io.conductor.index.prefix.RankHandle;
import io.conductor.index.prefix.Tier;
import io.conductor.nativestore.NativeStoreConfig;
import io.conductor.nativestore.StoreDouble;
import io.conductor.nativestore.StoreKeyLayout;
import io.conductor.nativestore.StoreResidencyProbe;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the store tier adds to a query, with the probe cache warm (the C double of {@code store_c.h} behind the real
 * FFM probe; gcc is needed): {@code eventWalk} is the query's hash chain plus the index walk over 4 instances;
 * {@code eventWalkAndStore} adds {@link StoreTier#storeEnds}. When the GPU holds only the first 2 blocks
 * ({@code gpuBlocks=2}), the store continuation needs the full digests of the rest of the prompt, which the walk
 * did not hash: that hashing is most of the difference. When the GPU holds the whole prompt ({@code gpuBlocks=all})
 * nothing is probed. Run: {@code bin/bench conductor StoreTierBenchmark -prof gc}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class StoreTierBenchmark {
    private static final int BLOCK = 16;
    private static final int INSTANCES = 4;

    /** Prompt length in blocks. */
    @Param({"16", "128"})
    public int blocks;

    /** Blocks each instance holds on GPU: {@code 2}, or {@code all}. */
    @Param({"2", "all"})
    public String gpuBlocks;

    private final QueryHashing hashing = new QueryHashing();
    private final PrefixMatch match = new PrefixMatch();
    private final StoreTier tier = new StoreTier();
    private PrefixIndex<HashProfileSpec> index;
    private StoreResidencyProbe probe;
    private RegistrySnapshot.Context context;
    private HashProfileSpec spec;
    private int[] tokens;

    @Setup
    public void setUp() throws Exception {
        Path library = StoreDouble.load();
        NativeStoreConfig config = NativeStoreConfig.fromTree(Map.of("enabled", true, "library_path",
                library.toString(), "metadata_server", "P2PHANDSHAKE", "master_server_address", "127.0.0.1:50051",
                "model", "Qwen2.5-7B-Instruct", "cache_ttl_ms", 3_600_000), name -> null);
        probe = StoreResidencyProbe.start(config);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!probe.status().up()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("probe not up: " + probe.status());
            }
            Thread.sleep(10);
        }
        tier.attach(probe);

        ContextKey key = new ContextKey("default", "Qwen/Qwen2.5-7B-Instruct", BLOCK);
        HashProfile profile = HashProfile.parse("vllm_v1", "sha256_cbor", "0", "low64_be");
        spec = new HashProfileSpec("vllm_v1", "sha256_cbor", "0", profile.rootDigestHex(), "low64_be");
        context = new RegistrySnapshot.Context(key, spec, new TreeMap<>(), Map.of(), List.of());
        index = new PrefixIndex<>(PrefixIndexConfig.withMaxBytes(64L << 20));
        tokens = new int[blocks * BLOCK];
        Random random = new Random(42);
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = random.nextInt(150_000);
        }
        BlockHashSequence chain = hashing.chain(spec, BLOCK, tokens, "", null);
        long[] hashes = new long[blocks];
        for (int b = 0; b < blocks; b++) {
            hashes[b] = chain.blockHash(b);
        }
        int onGpu = gpuBlocks.equals("all") ? blocks : Integer.parseInt(gpuBlocks);
        for (int i = 0; i < INSTANCES; i++) {
            RankHandle rank = index.register(key, spec, "prefill-" + i, 0);
            index.apply(new IndexBatch().store(rank, "", Tier.GPU, 0, false, hashes, 0, onGpu));
        }
        StoreKeyLayout layout = config.keyLayout();
        io.conductor.index.hash.BlockHashChain digests = (io.conductor.index.hash.BlockHashChain) chain;
        List<String> keys = new ArrayList<>();
        for (int b = 0; b < blocks; b++) {
            byte[] d = new byte[32];
            digests.copyDigest(b, d, 0);
            keys.add(layout.key(0, d));
        }
        StoreDouble.setKeys(keys);
        if (eventWalkAndStore() != (long) blocks * BLOCK) {
            throw new IllegalStateException("the store should hold the whole prompt");
        }
    }

    @TearDown
    public void tearDown() {
        tier.detach();
        probe.close();
    }

    @Benchmark
    public long eventWalk() {
        BlockHashSequence chain = hashing.chain(spec, BLOCK, tokens, "", null);
        index.query(context.key(), chain, "", null, match);
        return match.longestMatchedTokens(0);
    }

    @Benchmark
    public long eventWalkAndStore() {
        BlockHashSequence chain = hashing.chain(spec, BLOCK, tokens, "", null);
        index.query(context.key(), chain, "", null, match);
        long[] ends = tier.storeEnds(context, chain, match);
        return ends == null ? -1 : ends[0];
    }
}
