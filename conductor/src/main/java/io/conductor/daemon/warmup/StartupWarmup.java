package io.conductor.daemon.warmup;

import io.conductor.daemon.ReadinessCheck;
import io.conductor.daemon.api.ApiLimits;
import io.conductor.index.hash.BlockHashChain;
import io.conductor.index.hash.HashAlgorithm;
import io.conductor.index.hash.HashExtras;
import io.conductor.index.hash.HashProfile;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * Drives the daemon's hot paths once at start, through its real sockets, so the first requests a router sends after
 * {@code /ready} turns 200 do not pay for class loading, interpretation and JIT compilation: it registers a private
 * stream ({@code instance_id} {@value #INSTANCE_ID}, tenant {@value #TENANT}) backed by a loopback ZeroMQ publisher,
 * publishes vLLM {@code BlockStored} batches with real SHA-256 chain hashes, queries them over HTTP in msgpack and
 * JSON at full, partial and no hit, asks {@code /route}, and unregisters the stream. The same run, made with
 * {@code -XX:AOTCacheOutput}, is the training run whose class and profile cache the distribution ships.
 *
 * <p>Threads: {@link #start} runs the whole drive on one daemon thread, {@code conductor-warmup}; the readiness check
 * it hands out reads a latch and may be called from any thread. A failure or a timeout of the drive is logged and
 * ends the warm-up: it never keeps the daemon from becoming ready, it only costs the first requests their speed.
 */
public final class StartupWarmup {
    /** The private stream's instance id; a name no deployment uses. */
    public static final String INSTANCE_ID = "__conductor_warmup__";
    /** The private stream's tenant, so its context is separate from every real one. */
    public static final String TENANT = "__conductor_warmup__";
    /** Environment variable: how long the drive runs, in seconds; {@code 0} turns the warm-up off. */
    public static final String ENV_SECONDS = "CONDUCTOR_WARMUP_SECONDS";
    /** Default drive duration: long enough for C2 to compile the query path on a loaded 2-core host. */
    public static final double DEFAULT_SECONDS = 3.0;

    private static final Logger LOG = LoggerFactory.getLogger(StartupWarmup.class);
    private static final String MODEL = "__conductor_warmup__";
    private static final int BLOCK_SIZE = 16;
    private static final int BLOCKS_PER_BATCH = 16;
    private static final int SEQUENCES = 4;
    private static final int BATCHES = 64;
    private static final int PROMPT_BLOCKS = 128;
    private static final int VOCAB = 128_256;
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);
    private static final BigInteger UNSIGNED_64 = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    private final double seconds;
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile String outcome = "warming up the query and ingest paths";

    private StartupWarmup(double seconds) {
        this.seconds = seconds;
    }

    /**
     * Reads the duration from {@value #ENV_SECONDS} (default {@value #DEFAULT_SECONDS}).
     *
     * @param envValue the variable's value, or null when unset
     * @return the warm-up
     * @throws IllegalArgumentException when the value is not a number in 0..600
     */
    public static StartupWarmup fromEnvironment(@Nullable String envValue) {
        if (envValue == null || envValue.isBlank()) {
            return new StartupWarmup(DEFAULT_SECONDS);
        }
        double value;
        try {
            value = Double.parseDouble(envValue.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(ENV_SECONDS + " must be a number of seconds (0 = off), not '"
                + envValue + "'", e);
        }
        if (!(value >= 0 && value <= 600)) {
            throw new IllegalArgumentException(ENV_SECONDS + " must be within 0..600, not " + envValue);
        }
        return new StartupWarmup(value);
    }

    /**
     * Whether the warm-up runs at all.
     *
     * @return false when configured to 0 seconds
     */
    public boolean enabled() {
        return seconds > 0;
    }

    /**
     * The readiness condition: not ready while the drive runs.
     *
     * @return a check that is ready once the drive has ended (or when the warm-up is off)
     */
    public ReadinessCheck readinessCheck() {
        return () -> done.getCount() == 0 || !enabled()
            ? ReadinessCheck.Result.ready(outcome)
            : ReadinessCheck.Result.notReady(outcome);
    }

    /**
     * Starts the drive against the daemon's HTTP port on a new thread; returns at once.
     *
     * @param httpHost the host the daemon's HTTP server is reachable at from this process (loopback for a
     *                 wildcard bind)
     * @param httpPort the daemon's bound HTTP port
     */
    public void start(String httpHost, int httpPort) {
        if (!enabled()) {
            outcome = "warm-up off";
            done.countDown();
            return;
        }
        Thread thread = new Thread(() -> runGuarded(httpHost, httpPort), "conductor-warmup");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Waits for the drive to end.
     *
     * @param timeout how long to wait
     * @return true when it ended within the timeout
     * @throws InterruptedException when interrupted
     */
    public boolean await(Duration timeout) throws InterruptedException {
        return done.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void runGuarded(String httpHost, int httpPort) {
        long start = System.nanoTime();
        try {
            long[] counts = drive(httpHost, httpPort);
            outcome = String.format("warmed up in %.1f s (%d queries, %d full hits)", (System.nanoTime() - start) / 1e9,
                counts[0], counts[1]);
            LOG.info("event=warmup_done seconds={} queries={} full_hits={}",
                String.format("%.2f", (System.nanoTime() - start) / 1e9), counts[0], counts[1]);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            outcome = "warm-up interrupted";
        } catch (Exception | AssertionError e) {
            outcome = "warm-up skipped: " + e.getMessage();
            LOG.warn("event=warmup_failed detail=\"{}\" (the daemon serves anyway; first requests may be slower)",
                String.valueOf(e.getMessage()).replace('"', '\''));
        } finally {
            done.countDown();
        }
    }

    /** The drive itself; returns the number of queries answered and of full-hit queries that did hit. */
    private long[] drive(String httpHost, int httpPort) throws IOException, InterruptedException {
        String base = "http://" + (httpHost.contains(":") ? "[" + httpHost + "]" : httpHost) + ":" + httpPort;
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(REQUEST_TIMEOUT).build();
        HashProfile profile = HashProfile.of(HashAlgorithm.SHA256, "0");
        SplittableRandom random = new SplittableRandom(0x5EED);
        int sequenceTokens = BATCHES / SEQUENCES * BLOCKS_PER_BATCH * BLOCK_SIZE;
        int[][] sequences = new int[SEQUENCES][sequenceTokens];
        long[][] hashes = new long[SEQUENCES][];
        BlockHashChain chain = new BlockHashChain();
        for (int s = 0; s < SEQUENCES; s++) {
            for (int i = 0; i < sequenceTokens; i++) {
                sequences[s][i] = random.nextInt(VOCAB);
            }
            chain.reset(profile, BLOCK_SIZE, sequences[s], HashExtras.NONE);
            hashes[s] = new long[chain.blockCount()];
            for (int b = 0; b < hashes[s].length; b++) {
                hashes[s][b] = chain.blockHash(b);
            }
        }
        try (ZContext zmq = new ZContext(1)) {
            ZMQ.Socket publisher = zmq.createSocket(SocketType.PUB);
            publisher.setLinger(0);
            int zmqPort = publisher.bindToRandomPort("tcp://127.0.0.1");
            post(http, base + "/register", "application/msgpack", registerBody("tcp://127.0.0.1:" + zmqPort));
            try {
                long deadline = System.nanoTime() + (long) (seconds * 1e9);
                publishUntilVisible(http, base, publisher, sequences, hashes, deadline);
                return queryLoop(http, base, sequences, random, deadline);
            } finally {
                post(http, base + "/unregister", "application/msgpack", unregisterBody());
            }
        }
    }

    /** Publishes every batch, then re-publishes the last until a query sees it (the subscription may be late). */
    private static void publishUntilVisible(HttpClient http, String base, ZMQ.Socket publisher, int[][] sequences,
                                            long[][] hashes, long deadline) throws IOException, InterruptedException {
        int perSequence = BATCHES / SEQUENCES;
        long seq = 0;
        for (int round = 0; ; round++) {
            for (int b = 0; b < perSequence; b++) {
                for (int s = 0; s < SEQUENCES; s++) {
                    publish(publisher, seq++, batch(sequences[s], hashes[s], b));
                }
            }
            byte[] probe = queryMsgpack(sequences[SEQUENCES - 1], sequences[SEQUENCES - 1].length / BLOCK_SIZE);
            HttpResponse<byte[]> answer = http.send(request(base + "/query", "application/msgpack", probe),
                HttpResponse.BodyHandlers.ofByteArray());
            if (answer.statusCode() == 200 && longestMatchedPositive(answer.body())) {
                return;
            }
            if (System.nanoTime() > deadline + 10_000_000_000L || round > 200) {
                throw new IOException("the warm-up stream never became visible (status " + answer.statusCode() + ")");
            }
            Thread.sleep(20);
        }
    }

    private static long[] queryLoop(HttpClient http, String base, int[][] sequences, SplittableRandom random,
                                    long deadline) throws IOException, InterruptedException {
        long queries = 0;
        long hits = 0;
        int[] prompt = new int[PROMPT_BLOCKS * BLOCK_SIZE];
        do {
            for (int kind = 0; kind < 6; kind++) {
                int[] sequence = sequences[random.nextInt(SEQUENCES)];
                int hitTokens = switch (kind % 3) {
                    case 0 -> prompt.length;
                    case 1 -> prompt.length / 2;
                    default -> 0;
                };
                System.arraycopy(sequence, 0, prompt, 0, Math.min(hitTokens, sequence.length));
                for (int i = hitTokens; i < prompt.length; i++) {
                    prompt[i] = random.nextInt(VOCAB);
                }
                String route = kind < 4 ? "/query" : "/route";
                boolean json = kind == 1 || kind == 5;
                byte[] body = json ? queryJson(prompt).getBytes(StandardCharsets.UTF_8)
                    : queryMsgpack(prompt, PROMPT_BLOCKS);
                HttpResponse<byte[]> answer = http.send(
                    request(base + route, json ? "application/json" : "application/msgpack", body),
                    HttpResponse.BodyHandlers.ofByteArray());
                if (answer.statusCode() != 200) {
                    throw new IOException(route + " answered " + answer.statusCode() + ": "
                        + new String(answer.body(), StandardCharsets.UTF_8));
                }
                queries++;
                if (kind == 0 || kind == 3) {
                    hits += longestMatchedPositive(answer.body()) ? 1 : 0;  // msgpack /query of a full hit
                }
            }
        } while (System.nanoTime() < deadline);
        return new long[] {queries, hits};
    }

    private static void publish(ZMQ.Socket publisher, long seq, byte[] payload) {
        byte[] seqBytes = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.BIG_ENDIAN).putLong(seq).array();
        publisher.sendMore(new byte[0]);
        publisher.sendMore(seqBytes);
        publisher.send(payload);
    }

    /** One vLLM batch {@code [ts, [BlockStored], dp_rank]} continuing a sequence at batch index {@code b}. */
    private static byte[] batch(int[] tokens, long[] hashes, int b) throws IOException {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            packer.packArrayHeader(3);
            packer.packDouble(System.currentTimeMillis() / 1000.0);
            packer.packArrayHeader(1);
            packer.packMapHeader(8);
            packer.packString("type").packString("BlockStored");
            packer.packString("block_hashes").packArrayHeader(BLOCKS_PER_BATCH);
            int first = b * BLOCKS_PER_BATCH;
            for (int i = 0; i < BLOCKS_PER_BATCH; i++) {
                packer.packBigInteger(BigInteger.valueOf(hashes[first + i]).and(UNSIGNED_64));
            }
            packer.packString("parent_block_hash");
            if (first == 0) {
                packer.packNil();
            } else {
                packer.packBigInteger(BigInteger.valueOf(hashes[first - 1]).and(UNSIGNED_64));
            }
            packer.packString("token_ids").packArrayHeader(BLOCKS_PER_BATCH * BLOCK_SIZE);
            for (int i = 0; i < BLOCKS_PER_BATCH * BLOCK_SIZE; i++) {
                packer.packInt(tokens[first * BLOCK_SIZE + i]);
            }
            packer.packString("block_size").packInt(BLOCK_SIZE);
            packer.packString("lora_id").packNil();
            packer.packString("medium").packString("GPU");
            packer.packString("lora_name").packNil();
            packer.packInt(0);
            return packer.toByteArray();
        }
    }

    private static byte[] registerBody(String endpoint) throws IOException {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            packer.packMapHeader(8);
            packer.packString("endpoint").packString(endpoint);
            packer.packString("type").packString("vLLM");
            packer.packString("modelname").packString(MODEL);
            packer.packString("instance_id").packString(INSTANCE_ID);
            packer.packString("tenant_id").packString(TENANT);
            packer.packString("block_size").packInt(BLOCK_SIZE);
            packer.packString("dp_rank").packInt(0);
            packer.packString("hash_profile").packMapHeader(4);
            packer.packString("strategy").packString("vllm_v1");
            packer.packString("algorithm").packString("sha256");
            packer.packString("python_hash_seed").packString("0");
            packer.packString("index_projection").packString("low64_be");
            return packer.toByteArray();
        }
    }

    private static byte[] unregisterBody() throws IOException {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            packer.packMapHeader(3);
            packer.packString("instance_id").packString(INSTANCE_ID);
            packer.packString("tenant_id").packString(TENANT);
            packer.packString("dp_rank").packInt(0);
            return packer.toByteArray();
        }
    }

    /** A {@code /query} body as kvbench and msgpack proxies send it: token ids as a bin of little-endian int32. */
    private static byte[] queryMsgpack(int[] tokens, int blocks) throws IOException {
        int count = Math.min(tokens.length, blocks * BLOCK_SIZE);
        ByteBuffer bin = ByteBuffer.allocate(count * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            bin.putInt(tokens[i]);
        }
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            packer.packMapHeader(4);
            packer.packString("model").packString(MODEL);
            packer.packString("tenant_id").packString(TENANT);
            packer.packString("block_size").packInt(BLOCK_SIZE);
            packer.packString("token_ids").packBinaryHeader(bin.capacity());
            packer.writePayload(bin.array());
            return packer.toByteArray();
        }
    }

    private static String queryJson(int[] tokens) {
        StringBuilder json = new StringBuilder(tokens.length * 7 + 96);
        json.append("{\"model\":\"").append(MODEL).append("\",\"tenant_id\":\"").append(TENANT)
            .append("\",\"block_size\":").append(BLOCK_SIZE).append(",\"token_ids\":[");
        for (int i = 0; i < tokens.length; i++) {
            if (i > 0) {
                json.append(',');
            }
            json.append(tokens[i]);
        }
        return json.append("]}").toString();
    }

    /** True when the msgpack answer holds a {@code longest_matched} key with a positive value anywhere. */
    private static boolean longestMatchedPositive(byte[] body) {
        byte[] key = "longest_matched".getBytes(StandardCharsets.US_ASCII);
        outer:
        for (int i = 0; i + key.length + 1 < body.length; i++) {
            for (int k = 0; k < key.length; k++) {
                if (body[i + k] != key[k]) {
                    continue outer;
                }
            }
            int tag = body[i + key.length] & 0xFF;
            // positive fixint, or uint8..uint64 with a nonzero first byte after the tag
            return (tag > 0 && tag <= 0x7F) || (tag >= 0xCC && tag <= 0xCF);
        }
        return false;
    }

    private static HttpRequest request(String url, String contentType, byte[] body) {
        return HttpRequest.newBuilder(URI.create(url)).timeout(REQUEST_TIMEOUT)
            .header("Content-Type", contentType)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
    }

    /** Registration calls: they carry the admin key when the daemon has one (it reads the same variable). */
    private static void post(HttpClient http, String url, String contentType, byte[] body)
        throws IOException, InterruptedException {
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(url)).timeout(REQUEST_TIMEOUT)
            .header("Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        String adminKey = System.getenv(ApiLimits.ADMIN_KEY_ENV);
        if (adminKey != null && !adminKey.isEmpty()) {
            builder.header("X-API-Key", adminKey);
        }
        HttpResponse<byte[]> answer = http.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray());
        if (answer.statusCode() != 200) {
            throw new IOException(url + " answered " + answer.statusCode() + ": "
                + new String(answer.body(), StandardCharsets.UTF_8));
        }
    }
}
