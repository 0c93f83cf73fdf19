package io.conductor.daemon.api;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Picks one instance for a prompt: the longest usable prefix ({@code longest_matched}: GPU, then CPU, then disk
 * along one rank) wins; equal best prefixes rotate; when nothing matches anywhere, candidates are taken round
 * robin. One guard keeps cache affinity from turning into a hot spot: when the winner is clearly overloaded
 * compared with the least-loaded candidate, the least-loaded one is chosen instead (reason {@code load_balance}).
 *
 * <p>Load is what the proxy reports in the request ({@code loads}: in-flight requests per instance) or, when it
 * reports nothing, the conductor's own recent decisions per instance (an exponentially decayed count, kept for at
 * most {@link #MAX_TRACKED_IDS} ids and forgotten once it has decayed away). Thread-safe:
 * the rotation counters are atomic and each instance's decayed count is updated under its own monitor.
 */
final class RoutePolicy {
    /*
     * Why a load guard: with a shared system prompt, the first instance that served it wins every new chat (it
     * alone holds the prompt), so pure longest-prefix routing concentrates traffic there; queueing then costs
     * more time-to-first-token than the cache saves. The guard only acts on a clear imbalance (winner's load at
     * least LOAD_RATIO times the minimum and LOAD_MARGIN above it), so in balanced traffic the longest prefix
     * still wins as documented.
     */

    /** {@code reason}: a single candidate had the longest prefix. */
    static final String LONGEST_PREFIX = "longest_prefix";
    /** {@code reason}: several candidates shared the longest prefix; they take turns. */
    static final String TIE_ROTATED = "longest_prefix_tie";
    /** {@code reason}: no candidate had any cached prefix; they take turns. */
    static final String ROUND_ROBIN = "round_robin";
    /** {@code reason}: the best candidate was overloaded; the least-loaded one was chosen. */
    static final String LOAD_BALANCE = "load_balance";

    /** The winner must carry more than this many (decayed) requests above the least-loaded candidate. */
    static final double LOAD_MARGIN = 4.0;
    /** ... and at least this many times its load. */
    static final double LOAD_RATIO = 2.0;
    /** Time constant of the decayed decision count, in nanoseconds (10 s). */
    static final double DECAY_NANOS = 10e9;

    /**
     * A routing decision.
     *
     * @param chosen the chosen candidate's matches
     * @param reason why it was chosen
     * @param candidates every candidate's matches, sorted by instance id
     */
    record Decision(QueryResult.InstanceMatch chosen, String reason, List<QueryResult.InstanceMatch> candidates) {
    }

    /** An exponentially decayed count of recent decisions for one instance; guarded by its own monitor. */
    private static final class DecayedCount {
        private double value;
        private long lastNanos;

        synchronized double valueAt(long now) {
            return value * Math.exp(-(now - lastNanos) / DECAY_NANOS);
        }

        synchronized void add(long now) {
            value = value * Math.exp(-(now - lastNanos) / DECAY_NANOS) + 1;
            lastNanos = now;
        }
    }

    private final AtomicLong tieTurn = new AtomicLong();
    private final AtomicLong roundRobinTurn = new AtomicLong();
    /** Most instance ids whose recent decisions are remembered: candidates are client-supplied ids. */
    static final int MAX_TRACKED_IDS = 1024;
    /** An id's count is forgotten after 10 time constants untouched (it has decayed below 5e-5 by then). */
    static final long TRACKED_TTL_NANOS = (long) (10 * DECAY_NANOS);

    private final BoundedExpiringMap<DecayedCount> recent = new BoundedExpiringMap<>(MAX_TRACKED_IDS,
            TRACKED_TTL_NANOS);

    /**
     * Decides among candidates and records the decision.
     *
     * @param result the query answer over the context's instances
     * @param requested the candidates named by the request, or {@code null} for every instance in {@code result}
     * @param loads in-flight requests per instance as the proxy reports them, or {@code null} to use the
     *     conductor's recent decisions
     * @return the decision, or {@code null} when there is no candidate at all
     */
    @Nullable Decision choose(QueryResult result, @Nullable List<String> requested,
            @Nullable Map<String, Long> loads) {
        List<QueryResult.InstanceMatch> candidates = candidates(result, requested);
        if (candidates.isEmpty()) {
            return null;
        }
        long now = System.nanoTime();
        Decision d = byPrefix(candidates);
        if (!d.reason().equals(ROUND_ROBIN)) {
            d = balance(d, candidates, loads, now);
        }
        recent.computeIfAbsent(d.chosen().instanceId(), k -> new DecayedCount()).add(now);
        return d;
    }

    /** How many ids' recent decisions are held now (bounded by {@link #MAX_TRACKED_IDS}). */
    int trackedIds() {
        return recent.size();
    }

    private Decision byPrefix(List<QueryResult.InstanceMatch> candidates) {
        long best = 0;
        for (QueryResult.InstanceMatch c : candidates) {
            best = Math.max(best, c.longestMatched());
        }
        if (best == 0) {
            int turn = (int) Math.floorMod(roundRobinTurn.getAndIncrement(), (long) candidates.size());
            return new Decision(candidates.get(turn), ROUND_ROBIN, candidates);
        }
        List<QueryResult.InstanceMatch> leaders = new ArrayList<>(2);
        for (QueryResult.InstanceMatch c : candidates) {
            if (c.longestMatched() == best) {
                leaders.add(c);
            }
        }
        if (leaders.size() == 1) {
            return new Decision(leaders.getFirst(), LONGEST_PREFIX, candidates);
        }
        int turn = (int) Math.floorMod(tieTurn.getAndIncrement(), (long) leaders.size());
        return new Decision(leaders.get(turn), TIE_ROTATED, candidates);
    }

    /** Replaces a clearly overloaded winner by the least-loaded candidate (longest prefix among equals). */
    private Decision balance(Decision d, List<QueryResult.InstanceMatch> candidates,
            @Nullable Map<String, Long> loads, long now) {
        double chosenLoad = load(d.chosen().instanceId(), loads, now);
        QueryResult.InstanceMatch least = d.chosen();
        double leastLoad = chosenLoad;
        for (QueryResult.InstanceMatch c : candidates) {
            double l = load(c.instanceId(), loads, now);
            if (l < leastLoad || (l == leastLoad && c.longestMatched() > least.longestMatched())) {
                least = c;
                leastLoad = l;
            }
        }
        if (chosenLoad - leastLoad > LOAD_MARGIN && chosenLoad >= LOAD_RATIO * leastLoad) {
            return new Decision(least, LOAD_BALANCE, candidates);
        }
        return d;
    }

    private double load(String instanceId, @Nullable Map<String, Long> loads, long now) {
        if (loads != null) {
            Long l = loads.get(instanceId);
            return l == null ? 0 : l;
        }
        DecayedCount c = recent.get(instanceId);
        return c == null ? 0 : c.valueAt(now);
    }

    static List<QueryResult.InstanceMatch> candidates(QueryResult result, @Nullable List<String> requested) {
        if (requested == null) {
            return result.instances();
        }
        Map<String, QueryResult.InstanceMatch> byId = new HashMap<>();
        for (QueryResult.InstanceMatch m : result.instances()) {
            byId.put(m.instanceId(), m);
        }
        List<String> ids = new ArrayList<>(new LinkedHashSet<>(requested));
        ids.sort(null);
        List<QueryResult.InstanceMatch> out = new ArrayList<>(ids.size());
        for (String id : ids) {
            QueryResult.InstanceMatch m = byId.get(id);
            out.add(m != null ? m : new QueryResult.InstanceMatch(id, 0, 0, 0, 0, List.of()));
        }
        return out;
    }
}
