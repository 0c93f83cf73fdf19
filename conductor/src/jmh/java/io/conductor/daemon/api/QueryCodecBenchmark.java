package io.conductor.daemon.api;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The HTTP layer's own cost on the {@code /query} path, without the index: decode a 2048-token body (msgpack bin,
 * msgpack array, JSON array), validate it (declared sizes and memory charged as the server does), and encode a
 * 4-instance answer, as before issue 16 ({@link #decodeValidateEncode}) and with the hot routes' reused buffers
 * ({@link #hotPath}). Run:
 * {@code bin/bench conductor QueryCodecBenchmark -prof gc}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class QueryCodecBenchmark {
    /** Body encoding of token_ids. */
    @Param({"msgpack_bin", "msgpack_array", "json"})
    public String encoding;

    private final MemoryBudget budget = MemoryBudget.forHeap();
    private final ApiLimits limits = ApiLimits.defaults();
    private byte[] body;
    private WireFormat format;
    private QueryResult result;

    /** Builds the body and a typical result. */
    @Setup
    public void setup() throws IOException {
        int[] tokens = new int[2048];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 7919) % 128256;
        }
        format = encoding.equals("json") ? WireFormat.JSON : WireFormat.MSGPACK;
        if (format == WireFormat.JSON) {
            StringBuilder sb = new StringBuilder("{\"model\":\"bench-model\",\"block_size\":16,\"token_ids\":[");
            for (int i = 0; i < tokens.length; i++) {
                sb.append(i == 0 ? "" : ",").append(tokens[i]);
            }
            body = sb.append("]}").toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        } else {
            MessageBufferPacker p = MessagePack.newDefaultBufferPacker();
            p.packMapHeader(3).packString("model").packString("bench-model").packString("block_size").packInt(16);
            p.packString("token_ids");
            if (encoding.equals("msgpack_bin")) {
                ByteBuffer b = ByteBuffer.allocate(tokens.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                for (int t : tokens) {
                    b.putInt(t);
                }
                p.packBinaryHeader(b.capacity()).writePayload(b.array());
            } else {
                p.packArrayHeader(tokens.length);
                for (int t : tokens) {
                    p.packInt(t);
                }
            }
            body = p.toByteArray();
        }
        List<QueryResult.InstanceMatch> instances = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            instances.add(new QueryResult.InstanceMatch("kvb-e" + i, 1024, 1024, 1024, 1024,
                    List.of(new QueryResult.RankMatch(0, 1024, 1024, 1024))));
        }
        result = new QueryResult(instances);
    }

    /**
     * Decode, validate, encode, with the request's memory charged as the server does.
     *
     * @return the response bytes
     */
    @Benchmark
    public byte[] decodeValidateEncode() {
        try (MemoryBudget.Charge charge = budget.open()) {
            charge.charge(body.length);
            PromptQuery query = QueryRequestReader.readQuery(RequestDecoder.decodeRootMap(format, body, limits,
                    charge), QueryRequestReader.Kind.QUERY, limits, charge);
            if (query.blockCount() != 128) {
                throw new IllegalStateException("unexpected block count " + query.blockCount());
            }
            return ResponseBodies.query(format, result);
        }
    }

    /**
     * The same work as the server's hot routes do it now: the body in the thread's reused buffer (the copy stands
     * for the socket read), token ids into the reused token buffer, the answer into the thread's reused writer.
     *
     * @return the response length
     */
    @Benchmark
    public int hotPath() {
        RequestScratch scratch = RequestScratch.forThread();
        try (MemoryBudget.Charge charge = budget.open()) {
            charge.charge(body.length);
            byte[] buffer = scratch.body(body.length, null, 0);
            System.arraycopy(body, 0, buffer, 0, body.length);
            PromptQuery query = QueryRequestReader.readQuery(RequestDecoder.decodeRootMap(format, buffer,
                    body.length, limits, charge), QueryRequestReader.Kind.QUERY, limits, charge, scratch);
            if (query.blockCount() != 128) {
                throw new IllegalStateException("unexpected block count " + query.blockCount());
            }
            return ResponseBodies.query(ResponseWriter.reusable(format), result).length();
        }
    }
}
