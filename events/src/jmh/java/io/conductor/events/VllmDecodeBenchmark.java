package io.conductor.events;

import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * Decoding throughput in block events per second on one thread, from real vLLM-encoded bytes: each batch holds one
 * {@code BlockStored} of 16 blocks (block size 16, so 256 token ids, 16 nil extra keys, group 0, full attention),
 * exactly as msgspec writes it. {@code decode} runs the decoder alone; {@code ingest} runs the whole per-stream
 * path behind the socket (sequence tracking, decode, counters, sink calls into a no-op sink).
 *
 * <p>Scores are per block ({@code @OperationsPerInvocation(16)}); with {@code -prof gc},
 * {@code gc.alloc.rate.norm} is bytes per block.
 *
 * <p>Run: {@code bin/bench events VllmDecodeBenchmark -prof gc}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class VllmDecodeBenchmark {

    private static final int BLOCKS = 16;
    private static final int BATCHES = 64;

    /** {@code map}: current vLLM (tagged maps); {@code array}: every release up to v0.22 (tagged arrays). */
    @Param({"map", "array"})
    public String encoding;

    private byte[][] payloads;
    private BatchDecoder decoder;
    private KvBatch batch;
    private KvEvent event;
    private StreamSession session;
    private int next;
    private long seq;

    @Setup
    public void setUp() {
        payloads = new byte[BATCHES][];
        for (int i = 0; i < BATCHES; i++) {
            final long[] hashes = new long[BLOCKS];
            for (int b = 0; b < BLOCKS; b++) {
                hashes[b] = 0x9e3779b97f4a7c15L * (i * BLOCKS + b + 1); // spread over all 64 bits, like digests
            }
            final Payloads.Stored stored = Payloads.Stored.gpu(hashes, 16).withParent(hashes[0] - 1);
            payloads[i] = Payloads.batch(1_700_000_000.5 + i, 0,
                    encoding.equals("map") ? stored.map() : stored.array(12));
        }
        decoder = BatchDecoder.forPublisher(PublisherType.VLLM);
        final StreamKey key = new StreamKey("bench", "default", 0);
        batch = new KvBatch(key, PublisherType.VLLM);
        event = new KvEvent(64, 1024);
        session = new StreamSession(SubscriptionSpec.of(key, PublisherType.VLLM, "tcp://127.0.0.1:1", null),
                new NoopSink(), new StreamCounters(), null, SubscriberConfig.defaults());
    }

    @Benchmark
    @OperationsPerInvocation(BLOCKS)
    public long decode() {
        final byte[] payload = payloads[next++ & (BATCHES - 1)];
        decoder.begin(payload, 0, payload.length, batch, 0);
        long sum = 0;
        while (decoder.hasNextEvent()) {
            decoder.nextEvent(event);
            final long[] hashes = event.blockHashes();
            for (int i = 0, n = event.blockCount(); i < n; i++) {
                sum += hashes[i];
            }
        }
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(BLOCKS)
    public void ingest(Blackhole bh) {
        final byte[] payload = payloads[next++ & (BATCHES - 1)];
        session.onLive(seq++, payload, 0, payload.length, 0L);
        bh.consume(seq);
    }

    /** Touches every hash, as an index writer would. */
    static final class NoopSink implements KvEventSink {
        long sum;

        @Override
        public void onBatchBegin(KvBatch b) {
        }

        @Override
        public void onEvent(KvBatch b, KvEvent e) {
            final long[] hashes = e.blockHashes();
            for (int i = 0, n = e.blockCount(); i < n; i++) {
                sum += hashes[i];
            }
        }

        @Override
        public void onBatchEnd(KvBatch b) {
        }

        @Override
        public void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        }
    }
}
