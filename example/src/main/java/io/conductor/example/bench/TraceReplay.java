package io.conductor.example.bench;

import io.conductor.example.engine.EventEncoding;
import io.conductor.example.engine.KvEvent;
import io.conductor.example.engine.KvEventEncoder;
import io.conductor.example.engine.KvEventPublisher;
import io.conductor.example.engine.PrefixCache;
import io.conductor.example.engine.VllmBlockHasher;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One replay of a trace under one policy, on a simulated clock. Each engine has a vLLM-like prefix cache
 * ({@link PrefixCache}, LRU over freed blocks) and runs one prefill at a time in arrival order; a prefill of a
 * prompt with {@code h} cached tokens takes {@code a + b × (length - h)} simulated seconds, and the time to first
 * token is its end minus the arrival (decode is not simulated). When a conductor is attached, the engines publish
 * the cache's real vLLM events over ZeroMQ when a prefill starts (as vLLM does when it schedules a chunk), and the
 * replay waits until the conductor has applied them before the simulated clock moves on, so the conductor sees the
 * state a real deployment's would at each decision. The conductor runs on the same simulated clock
 * ({@code routing.clock = request}: every {@code /route} and {@code /feedback} carries it). Not thread-safe;
 * deterministic for a seed.
 */
final class TraceReplay {
    /** The policies. */
    enum Policy {
        /** The conductor's cost policy ({@code /route}, {@code policy: cost}) plus {@code /feedback} at the end. */
        OURS("ours", true),
        /** The conductor's {@code longest_prefix} policy. */
        LONGEST_PREFIX("longest_prefix", true),
        /** Engines in turn. */
        ROUND_ROBIN("round_robin", false),
        /** Perfect information: the engine whose cache holds the longest prefix now; ties to the least backlog. */
        ORACLE_PREFIX("oracle_prefix", false),
        /** Perfect information: least backlog plus prefill of the uncached part, from the engines' real state. */
        ORACLE_TTFT("oracle_ttft", false);

        final String label;
        final boolean usesConductor;

        Policy(String label, boolean usesConductor) {
            this.label = label;
            this.usesConductor = usesConductor;
        }

        static Policy of(String label) {
            for (Policy p : values()) {
                if (p.label.equals(label)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("unknown policy " + label + " (known: ours, longest_prefix, "
                    + "round_robin, oracle_prefix, oracle_ttft)");
        }
    }

    /**
     * The simulated fleet.
     *
     * @param engines number of engines
     * @param capacityTokens each engine's prefix cache, tokens
     * @param overheadSeconds prefill fixed cost {@code a}
     * @param secondsPerToken prefill cost per uncached token {@code b}
     * @param timeScale arrival times are multiplied by this
     * @param seed token seed
     */
    record Fleet(int engines, long capacityTokens, double overheadSeconds, double secondsPerToken, double timeScale,
            long seed) {
    }

    /**
     * What one replay measured.
     *
     * @param policy the policy
     * @param hitRate cached prompt tokens at prefill start over all prompt tokens
     * @param meanTtft mean TTFT, seconds
     * @param p90Ttft 90th percentile TTFT, seconds
     * @param utilisation busy time over engines × (last end - first arrival)
     * @param busySeconds total prefill time of the fleet
     * @param prefixAccuracy share of decisions whose predicted prefix equals the chosen engine's real one at
     *     decision time (NaN without a conductor)
     * @param ttftError mean |predicted - actual| / actual TTFT (NaN when the policy predicts none)
     */
    record Result(String policy, double hitRate, double meanTtft, double p90Ttft, double utilisation,
            double busySeconds, double prefixAccuracy, double ttftError) {
    }

    /** One request in flight. */
    private static final class Job {
        final int[] tokens;
        final long[] hashes;
        final double arrival;
        ConductorHttp.@Nullable Routed routed;
        PrefixCache.@Nullable Allocation allocation;
        int hit;
        double prefill;

        Job(int[] tokens, long[] hashes, double arrival) {
            this.tokens = tokens;
            this.hashes = hashes;
            this.arrival = arrival;
        }
    }

    /** One simulated engine. */
    private static final class Engine {
        final String id;
        final PrefixCache cache;
        final @Nullable KvEventPublisher publisher;
        final ArrayDeque<Job> queue = new ArrayDeque<>();
        @Nullable Job running;
        double runningEnd;
        double busy;

        Engine(String id, PrefixCache cache, @Nullable KvEventPublisher publisher) {
            this.id = id;
            this.cache = cache;
            this.publisher = publisher;
        }
    }

    private final Fleet fleet;
    private final Policy policy;
    private final @Nullable ConductorHttp conductor;
    private final Engine[] engines;
    private final VllmBlockHasher hasher = new VllmBlockHasher("sha256_cbor", "0", TraceRequest.TRACE_BLOCK);
    private final List<Double> ttfts = new ArrayList<>();
    private long promptTokens;
    private long hitTokens;
    private int predictions;
    private int correctPredictions;
    private double ttftErrorSum;
    private int ttftPredictions;
    private int turn;

    /**
     * Sets up the engines; with a conductor, binds each engine's publisher and registers it.
     *
     * @param fleet the fleet
     * @param policy the policy
     * @param conductor the conductor, or {@code null} for policies that do not use it
     * @throws IOException if a registration fails
     * @throws InterruptedException if interrupted
     */
    TraceReplay(Fleet fleet, Policy policy, @Nullable ConductorHttp conductor) throws IOException,
            InterruptedException {
        this.fleet = fleet;
        this.policy = policy;
        this.conductor = conductor;
        engines = new Engine[fleet.engines()];
        int blocks = (int) Math.max(1, fleet.capacityTokens() / TraceRequest.TRACE_BLOCK);
        for (int i = 0; i < engines.length; i++) {
            KvEventPublisher pub = null;
            if (conductor != null) {
                pub = new KvEventPublisher("tcp://127.0.0.1:*", null, "", 0, 16, new KvEventEncoder(EventEncoding.MAP));
            }
            engines[i] = new Engine("engine-" + i, new PrefixCache(blocks, TraceRequest.TRACE_BLOCK), pub);
            if (conductor != null && pub != null) {
                conductor.register(engines[i].id, pub.endpoint());
                handshake(conductor, engines[i]);
            }
        }
    }

    /** Publishes a probe block until the conductor shows it (the subscription is live), then removes it. */
    private static void handshake(ConductorHttp conductor, Engine e) throws IOException, InterruptedException {
        KvEventPublisher pub = e.publisher;
        if (pub == null) {
            return;
        }
        long probe = 0x5eed_0000_0000_0000L + e.id.hashCode();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            pub.publish(List.of(new KvEvent.BlockStored(new long[] {probe}, null, new int[TraceRequest.TRACE_BLOCK],
                    TraceRequest.TRACE_BLOCK, null, PrefixCache.GPU, null, null)));
            try {
                conductor.awaitBlockBriefly(e.id, probe);
                break;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
            }
        }
        pub.publish(List.of(new KvEvent.BlockRemoved(new long[] {probe}, PrefixCache.GPU)));
        conductor.awaitBlock(e.id, probe, false);
    }

    /**
     * Replays the trace.
     *
     * @param trace the requests in arrival order
     * @return the measurements
     * @throws IOException if a conductor call fails
     * @throws InterruptedException if interrupted
     */
    Result run(List<TraceRequest> trace) throws IOException, InterruptedException {
        int next = 0;
        double now = 0;
        double first = trace.isEmpty() ? 0 : trace.getFirst().timestampMillis() / 1000.0 * fleet.timeScale();
        while (true) {
            Engine ending = null;
            for (Engine e : engines) {
                if (e.running != null && (ending == null || e.runningEnd < ending.runningEnd)) {
                    ending = e;
                }
            }
            double arrival = next < trace.size()
                    ? trace.get(next).timestampMillis() / 1000.0 * fleet.timeScale() : Double.POSITIVE_INFINITY;
            if (ending == null && next >= trace.size()) {
                break;
            }
            if (ending != null && ending.runningEnd <= arrival) {
                now = ending.runningEnd;
                finish(ending, now);
                startNext(ending, now);
            } else {
                now = arrival;
                TraceRequest r = trace.get(next);
                int[] tokens = r.tokens(fleet.seed(), next);
                next++;
                Job job = new Job(tokens, hasher.hashBlocks(tokens, tokens.length, null, null), now);
                Engine e = choose(job, now);
                e.queue.addLast(job);
                if (e.running == null) {
                    startNext(e, now);
                }
            }
        }
        double busy = 0;
        for (Engine e : engines) {
            busy += e.busy;
        }
        double[] sorted = ttfts.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double mean = Arrays.stream(sorted).average().orElse(0);
        double p90 = sorted.length == 0 ? 0 : sorted[(int) Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)];
        double span = Math.max(1e-9, now - first);
        return new Result(policy.label, promptTokens == 0 ? 0 : (double) hitTokens / promptTokens, mean, p90,
                busy / (engines.length * span), busy, predictions == 0 ? Double.NaN
                        : (double) correctPredictions / predictions,
                ttftPredictions == 0 ? Double.NaN : ttftErrorSum / ttftPredictions);
    }

    private Engine choose(Job job, double now) throws IOException, InterruptedException {
        return switch (policy) {
            case ROUND_ROBIN -> engines[turn++ % engines.length];
            case ORACLE_PREFIX -> {
                Engine best = engines[0];
                for (Engine e : engines) {
                    int h = cachedTokens(e, job);
                    int hb = cachedTokens(best, job);
                    if (h > hb || (h == hb && backlog(e, now) < backlog(best, now))) {
                        best = e;
                    }
                }
                yield best;
            }
            case ORACLE_TTFT -> {
                Engine best = engines[0];
                double bestCost = Double.POSITIVE_INFINITY;
                for (Engine e : engines) {
                    double cost = backlog(e, now) + prefill(job.tokens.length, cachedTokens(e, job));
                    if (cost < bestCost - 1e-12) {
                        best = e;
                        bestCost = cost;
                    }
                }
                yield best;
            }
            case OURS, LONGEST_PREFIX -> {
                ConductorHttp c = conductor;
                if (c == null) {
                    throw new IllegalStateException(policy.label + " needs a conductor");
                }
                ConductorHttp.Routed r = c.route(job.tokens, policy == Policy.OURS ? "cost" : "longest_prefix",
                        clockMillis(now));
                job.routed = r;
                Engine chosen = null;
                for (Engine e : engines) {
                    if (e.id.equals(r.instanceId())) {
                        chosen = e;
                    }
                }
                if (chosen == null) {
                    throw new IOException("the conductor chose an unknown instance " + r.instanceId());
                }
                predictions++;
                long predicted = Math.min(r.longestMatched(), capped(job.tokens.length));
                if (predicted == cachedTokens(chosen, job)) {
                    correctPredictions++;
                }
                yield chosen;
            }
        };
    }

    /** The simulated time as the conductor's request clock (milliseconds, from 1 s so that it is never 0). */
    private static long clockMillis(double now) {
        return 1000 + Math.round(now * 1000);
    }

    /** Most tokens a prompt can hit: complete blocks, never the last token (as vLLM). */
    private static long capped(int length) {
        return (long) ((length - 1) / TraceRequest.TRACE_BLOCK) * TraceRequest.TRACE_BLOCK;
    }

    /** The engine's real cached prefix of the job's prompt right now, in tokens. */
    private static int cachedTokens(Engine e, Job job) {
        int max = (job.tokens.length - 1) / TraceRequest.TRACE_BLOCK;
        int hits = 0;
        while (hits < max && hits < job.hashes.length && e.cache.contains(job.hashes[hits])) {
            hits++;
        }
        return hits * TraceRequest.TRACE_BLOCK;
    }

    private double prefill(int length, int cached) {
        return fleet.overheadSeconds() + (length - cached) * fleet.secondsPerToken();
    }

    /** What is left of the running prefill plus the queued ones, each at its current cache hit. */
    private double backlog(Engine e, double now) {
        double b = e.running == null ? 0 : e.runningEnd - now;
        for (Job q : e.queue) {
            b += prefill(q.tokens.length, cachedTokens(e, q));
        }
        return b;
    }

    private void startNext(Engine e, double now) throws IOException, InterruptedException {
        Job job = e.queue.pollFirst();
        if (job == null) {
            return;
        }
        List<KvEvent> events = new ArrayList<>();
        PrefixCache.Allocation a = e.cache.allocate(job.hashes, job.tokens, job.tokens.length, null, null, null,
                events);
        if (a == null) {
            throw new IllegalStateException("a prompt of " + job.tokens.length + " tokens does not fit in "
                    + e.id + "'s free blocks; raise --capacity");
        }
        job.allocation = a;
        job.hit = a.cachedTokens();
        job.prefill = prefill(job.tokens.length, job.hit);
        e.running = job;
        e.runningEnd = now + job.prefill;
        e.busy += job.prefill;
        promptTokens += job.tokens.length;
        hitTokens += job.hit;
        KvEventPublisher pub = e.publisher;
        ConductorHttp c = conductor;
        if (pub != null && c != null && !events.isEmpty()) {
            pub.publish(events);
            KvEvent last = events.getLast();
            if (last instanceof KvEvent.BlockStored s) {
                c.awaitBlock(e.id, s.blockHashes()[s.blockHashes().length - 1], true);
            } else if (last instanceof KvEvent.BlockRemoved r) {
                c.awaitBlock(e.id, r.blockHashes()[r.blockHashes().length - 1], false);
            }
        }
    }

    private void finish(Engine e, double now) throws IOException, InterruptedException {
        Job job = e.running;
        if (job == null) {
            return;
        }
        e.running = null;
        PrefixCache.Allocation a = job.allocation;
        if (a != null) {
            e.cache.release(a);
        }
        double ttft = now - job.arrival;
        ttfts.add(ttft);
        ConductorHttp.Routed r = job.routed;
        if (r != null && !Double.isNaN(r.ttftSeconds()) && ttft > 0) {
            ttftErrorSum += Math.abs(r.ttftSeconds() - ttft) / ttft;
            ttftPredictions++;
        }
        ConductorHttp c = conductor;
        if (policy == Policy.OURS && c != null && r != null) {
            c.feedback(e.id, r.longestMatched(), job.hit, r.routeId(), job.tokens.length, ttft, job.prefill,
                    clockMillis(now));
        }
    }

    /** Unbinds the publishers. */
    void close() {
        for (Engine e : engines) {
            if (e.publisher != null) {
                e.publisher.close();
            }
        }
    }
}
