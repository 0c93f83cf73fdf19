package io.conductor.daemon.api;

import io.conductor.index.BlockHashSequence;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The cost policy of {@code /route}: picks the candidate with the least estimated time to first token,
 * {@code queue + overhead + uncached tokens × seconds per token + Σ lower-tier hits × transfer seconds per token}.
 *
 * <p>Tiers: GPU hits cost nothing; CPU, disk and Mooncake Store hits cost their transfer (never more than
 * recomputing them); the rest is computed at the instance's prefill speed ({@link PrefillCosts}). Queue: the largest
 * of the conductor's own reservations ({@link LoadLedger}), what the proxy reports in {@code loads} (in-flight
 * tokens at the instance's speed, else in-flight requests × the cost of a 2,048-token prefill) and, when scraping
 * is on, the engine's waiting requests × that same cost ({@link EngineMetricsScraper}). Estimates within
 * {@link #TIE_NANOS} of the best tie; ties go to the least-loaded candidate, and equal loads take turns.
 *
 * <p>Thread-safe: a decision reads the queues and reserves its own work while holding the ledger's monitor, so
 * concurrent requests for the same hot prefix see each other and spread once the holder's queue outweighs what
 * its cache saves.
 */
final class CostRoutePolicy {
    /** {@code reason}: the chosen candidate holds the longest prefix and has the least estimate. */
    static final String LONGEST_PREFIX = RoutePolicy.LONGEST_PREFIX;
    /** {@code reason}: it holds the longest prefix and others tie on the estimate; the least loaded won. */
    static final String TIE = RoutePolicy.TIE_ROTATED;
    /** {@code reason}: no candidate has a hit; the least estimate (the least loaded among equals) won. */
    static final String LEAST_LOADED = "least_loaded";
    /** {@code reason}: another candidate holds a longer prefix, but its queue costs more than the recompute here. */
    static final String LOAD_SPREAD = "load_spread";
    /** Estimates closer than this (1 µs) tie. */
    static final long TIE_NANOS = 1_000;
    /** Mean reserved prefill an instance starts from, in tokens, for turning a request count into time. */
    static final double DEFAULT_MEAN_TOKENS = 2048;

    /**
     * One candidate's estimate; times in nanoseconds.
     *
     * @param queueNanos queued prefill work ahead of this request
     * @param computeTokens tokens to compute (the prompt minus every hit)
     * @param transferTokens hits on a lower tier (CPU, disk, store) that must be loaded
     * @param computeNanos overhead plus compute time
     * @param transferNanos load time of the lower-tier hits
     */
    record Estimate(long queueNanos, long computeTokens, long transferTokens, long computeNanos,
            long transferNanos) {
        long prefillNanos() {
            return computeNanos + transferNanos;
        }

        long ttftNanos() {
            return queueNanos + computeNanos + transferNanos;
        }
    }

    /**
     * A cost decision.
     *
     * @param chosen the chosen candidate's matches
     * @param reason why it was chosen
     * @param candidates every candidate's matches, sorted by instance id
     * @param estimates the estimates, aligned with {@code candidates}
     * @param chosenIndex index of {@code chosen} in {@code candidates}
     * @param routeId the reservation's id for {@code /feedback}, or {@code 0} when nothing was reserved
     */
    record Decision(QueryResult.InstanceMatch chosen, String reason, List<QueryResult.InstanceMatch> candidates,
            List<Estimate> estimates, int chosenIndex, long routeId) {
        Estimate estimate() {
            return estimates.get(chosenIndex);
        }
    }

    private final RoutingSettings settings;
    private final LoadLedger ledger;
    private final PrefillCosts costs;
    private final AtomicLong turn = new AtomicLong();
    private final @Nullable EngineMetricsScraper scraper;

    CostRoutePolicy(RoutingSettings settings, LoadLedger ledger, PrefillCosts costs) {
        this(settings, ledger, costs, null);
    }

    CostRoutePolicy(RoutingSettings settings, LoadLedger ledger, PrefillCosts costs,
            @Nullable EngineMetricsScraper scraper) {
        this.settings = settings;
        this.ledger = ledger;
        this.costs = costs;
        this.scraper = scraper;
    }

    /**
     * Decides among the candidates and reserves the chosen one's prefill.
     *
     * @param result the query answer over the context's instances
     * @param requested the candidates named by the request, or {@code null} for every instance in {@code result}
     * @param loadRequests in-flight requests per instance from the proxy, or {@code null}
     * @param loadTokens in-flight (not yet prefilled) tokens per instance from the proxy, or {@code null}
     * @param promptTokens the prompt's length in tokens
     * @param blockSize the context's block size
     * @param chain the prompt's block hashes (for the release hash), or {@code null}
     * @return the decision, or {@code null} when there is no candidate
     */
    @Nullable Decision choose(QueryResult result, @Nullable List<String> requested,
            @Nullable Map<String, Long> loadRequests, @Nullable Map<String, Long> loadTokens, long promptTokens,
            long blockSize, @Nullable BlockHashSequence chain) {
        List<QueryResult.InstanceMatch> candidates = RoutePolicy.candidates(result, requested);
        int n = candidates.size();
        if (n == 0) {
            return null;
        }
        long best = 0;
        for (QueryResult.InstanceMatch c : candidates) {
            best = Math.max(best, c.longestMatched());
        }
        PrefillCosts.Line[] lines = new PrefillCosts.Line[n];
        for (int i = 0; i < n; i++) {
            lines[i] = costs.line(candidates.get(i).instanceId());
        }
        synchronized (ledger) {
            long now = ledger.now();
            List<Estimate> estimates = new ArrayList<>(n);
            long least = Long.MAX_VALUE;
            for (int i = 0; i < n; i++) {
                QueryResult.InstanceMatch c = candidates.get(i);
                Estimate e = estimate(c, lines[i], promptTokens,
                        queue(c.instanceId(), lines[i], loadRequests, loadTokens, now));
                estimates.add(e);
                least = Math.min(least, e.ttftNanos());
            }
            // Ties on the estimate go to the least queued, then the fewest open reservations, then take turns.
            long leastQueue = Long.MAX_VALUE;
            int tied = 0;
            for (Estimate e : estimates) {
                if (e.ttftNanos() - least <= TIE_NANOS) {
                    tied++;
                    leastQueue = Math.min(leastQueue, e.queueNanos());
                }
            }
            int fewest = Integer.MAX_VALUE;
            int[] pending = new int[n];
            for (int i = 0; i < n; i++) {
                Estimate e = estimates.get(i);
                pending[i] = Integer.MAX_VALUE;
                if (e.ttftNanos() - least <= TIE_NANOS && e.queueNanos() - leastQueue <= TIE_NANOS) {
                    pending[i] = ledger.pending(candidates.get(i).instanceId());
                    fewest = Math.min(fewest, pending[i]);
                }
            }
            List<Integer> equal = new ArrayList<>(4);
            for (int i = 0; i < n; i++) {
                if (pending[i] == fewest) {
                    equal.add(i);
                }
            }
            int chosen = equal.size() == 1 ? equal.getFirst()
                    : equal.get((int) Math.floorMod(turn.getAndIncrement(), (long) equal.size()));
            QueryResult.InstanceMatch pick = candidates.get(chosen);
            String reason = reason(candidates, chosen, best, tied > 1);
            Estimate e = estimates.get(chosen);
            long releaseHash = 0;
            boolean hasRelease = false;
            if (chain != null && chain.blockCount() > 0 && pick.longestMatched() < promptTokens) {
                int k = (int) Math.min(best / blockSize, chain.blockCount() - 1);
                releaseHash = chain.blockHash(k);
                hasRelease = true;
            }
            LoadLedger.Reservation r = ledger.reserve(pick.instanceId(), e.prefillNanos(), releaseHash, hasRelease,
                    promptTokens, e.computeTokens(), now);
            return new Decision(pick, reason, candidates, estimates, chosen, r == null ? 0 : r.routeId);
        }
    }

    private static String reason(List<QueryResult.InstanceMatch> candidates, int chosen, long best, boolean tied) {
        QueryResult.InstanceMatch pick = candidates.get(chosen);
        if (best == 0) {
            return LEAST_LOADED;
        }
        if (pick.longestMatched() < best) {
            return LOAD_SPREAD;
        }
        return tied ? TIE : LONGEST_PREFIX;
    }

    private long queue(String instanceId, PrefillCosts.Line line, @Nullable Map<String, Long> loadRequests,
            @Nullable Map<String, Long> loadTokens, long now) {
        long own = ledger.queueNanos(instanceId, now);
        long reported = 0;
        Long tokens = loadTokens == null ? null : loadTokens.get(instanceId);
        Long requests = loadRequests == null ? null : loadRequests.get(instanceId);
        if (tokens != null) {
            long count = requests == null ? 0 : requests;
            reported = (long) ((count * line.overheadSeconds() + tokens * line.secondsPerToken()) * 1e9);
        } else if (requests != null) {
            reported = (long) (requests * line.seconds(DEFAULT_MEAN_TOKENS) * 1e9);
        }
        EngineMetricsScraper s = scraper;
        EngineMetricsScraper.Reading reading = s == null ? null : s.fresh(instanceId, System.nanoTime());
        long scraped = reading == null ? 0 : (long) (reading.waiting() * line.seconds(DEFAULT_MEAN_TOKENS) * 1e9);
        return Math.max(own, Math.max(reported, scraped));
    }

    private Estimate estimate(QueryResult.InstanceMatch c, PrefillCosts.Line line, long promptTokens, long queue) {
        long gpu = Math.min(c.gpu(), promptTokens);
        long cpu = Math.clamp(c.cpu(), gpu, promptTokens);
        long disk = Math.clamp(c.disk(), cpu, promptTokens);
        long store = c.hasStore() ? Math.clamp(c.store(), disk, promptTokens) : disk;
        long hit = Math.max(store, Math.min(c.longestMatched(), promptTokens));
        double perToken = line.secondsPerToken();
        double transfer = (cpu - gpu) * Math.min(1 / settings.cpuTokensPerSecond(), perToken)
                + (disk - cpu) * Math.min(1 / settings.diskTokensPerSecond(), perToken)
                + (store - disk) * Math.min(1 / settings.storeTokensPerSecond(), perToken);
        long compute = promptTokens - hit;
        return new Estimate(queue, compute, hit - gpu, (long) (line.seconds(compute) * 1e9), (long) (transfer * 1e9));
    }
}
