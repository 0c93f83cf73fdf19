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
 * robin. Thread-safe: the two rotation counters are atomic, so concurrent callers still spread.
 */
final class RoutePolicy {
    /** {@code reason}: a single candidate had the longest prefix. */
    static final String LONGEST_PREFIX = "longest_prefix";
    /** {@code reason}: several candidates shared the longest prefix; they take turns. */
    static final String TIE_ROTATED = "longest_prefix_tie";
    /** {@code reason}: no candidate had any cached prefix; they take turns. */
    static final String ROUND_ROBIN = "round_robin";

    /**
     * A routing decision.
     *
     * @param chosen the chosen candidate's matches
     * @param reason why it was chosen
     * @param candidates every candidate's matches, sorted by instance id
     */
    record Decision(QueryResult.InstanceMatch chosen, String reason, List<QueryResult.InstanceMatch> candidates) {
    }

    private final AtomicLong tieTurn = new AtomicLong();
    private final AtomicLong roundRobinTurn = new AtomicLong();

    /**
     * Decides among candidates.
     *
     * @param result the query answer over the context's instances
     * @param requested the candidates named by the request, or {@code null} for every instance in {@code result}
     * @return the decision, or {@code null} when there is no candidate at all
     */
    @Nullable Decision choose(QueryResult result, @Nullable List<String> requested) {
        List<QueryResult.InstanceMatch> candidates = candidates(result, requested);
        if (candidates.isEmpty()) {
            return null;
        }
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

    private static List<QueryResult.InstanceMatch> candidates(QueryResult result, @Nullable List<String> requested) {
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
