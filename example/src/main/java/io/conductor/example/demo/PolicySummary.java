package io.conductor.example.demo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Aggregates of one policy's run: request count, prompt, predicted and cached tokens, hit rate overall and per
 * prefill instance, and time-to-first-token percentiles. Immutable.
 *
 * @param policy the routing policy
 * @param requests requests sent
 * @param failures requests that failed
 * @param promptTokens total prompt tokens
 * @param predictedTokens total tokens the conductor predicted cached
 * @param cachedTokens total tokens the engines reported cached
 * @param ttftP50Millis median time to first token
 * @param ttftP99Millis 99th percentile time to first token
 * @param perInstance per prefill instance: {requests, prompt tokens, cached tokens}
 */
public record PolicySummary(String policy, int requests, int failures, long promptTokens, long predictedTokens,
                            long cachedTokens, double ttftP50Millis, double ttftP99Millis,
                            Map<String, long[]> perInstance) {

    /**
     * Summarises records.
     *
     * @param policy the policy name
     * @param records the run's records
     * @return the summary
     */
    public static PolicySummary of(String policy, List<RequestRecord> records) {
        long prompt = 0;
        long predicted = 0;
        long cached = 0;
        int failures = 0;
        List<Double> ttft = new ArrayList<>();
        Map<String, long[]> per = new TreeMap<>();
        for (RequestRecord r : records) {
            if (!r.ok()) {
                failures++;
                continue;
            }
            prompt += r.promptTokens();
            predicted += r.predictedTokens();
            cached += r.cachedTokens();
            ttft.add(r.ttftMillis());
            long[] a = per.computeIfAbsent(r.instance(), k -> new long[3]);
            a[0]++;
            a[1] += r.promptTokens();
            a[2] += r.cachedTokens();
        }
        double[] sorted = ttft.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return new PolicySummary(policy, records.size(), failures, prompt, predicted, cached,
            percentile(sorted, 0.50), percentile(sorted, 0.99), per);
    }

    /**
     * Returns the overall hit rate.
     *
     * @return cached / prompt tokens, in {@code [0, 1]}
     */
    public double hitRate() {
        return promptTokens == 0 ? 0 : (double) cachedTokens / promptTokens;
    }

    /**
     * Returns the nearest-rank percentile of sorted values.
     *
     * @param sorted ascending values
     * @param q quantile in {@code (0, 1]}
     * @return the percentile, or {@code NaN} without values
     */
    public static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
    }

    /**
     * Renders the comparison table of several runs.
     *
     * @param runs summaries in display order
     * @return the table text
     */
    public static String table(List<PolicySummary> runs) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-12s %8s %11s %11s %11s %9s %10s %10s%n", "policy", "requests",
            "prompt tok", "predicted", "cached", "hit rate", "TTFT p50", "TTFT p99"));
        for (PolicySummary s : runs) {
            sb.append(String.format(Locale.ROOT, "%-12s %8s %11d %11d %11d %8.1f%% %7.0f ms %7.0f ms%n", s.policy,
                s.failures == 0 ? Integer.toString(s.requests) : s.requests + "(" + s.failures + "!)",
                s.promptTokens, s.predictedTokens, s.cachedTokens, 100 * s.hitRate(), s.ttftP50Millis,
                s.ttftP99Millis));
        }
        sb.append(System.lineSeparator()).append("hit rate per prefill instance (requests)").append(
            System.lineSeparator());
        TreeMap<String, Boolean> instances = new TreeMap<>();
        for (PolicySummary s : runs) {
            s.perInstance.keySet().forEach(k -> instances.put(k, true));
        }
        sb.append(String.format(Locale.ROOT, "%-12s", "instance"));
        for (PolicySummary s : runs) {
            sb.append(String.format(Locale.ROOT, " %18s", s.policy));
        }
        sb.append(System.lineSeparator());
        for (String i : instances.keySet()) {
            sb.append(String.format(Locale.ROOT, "%-12s", i));
            for (PolicySummary s : runs) {
                long[] a = s.perInstance.getOrDefault(i, new long[3]);
                double rate = a[1] == 0 ? 0 : 100.0 * a[2] / a[1];
                sb.append(String.format(Locale.ROOT, " %11.1f%% (%3d)", rate, a[0]));
            }
            sb.append(System.lineSeparator());
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return "PolicySummary[" + policy + ", requests=" + requests + ", hit=" + hitRate() + ", p50="
            + ttftP50Millis + ", p99=" + ttftP99Millis + ", perInstance=" + perInstanceText() + "]";
    }

    private String perInstanceText() {
        StringBuilder sb = new StringBuilder();
        perInstance.forEach((k, v) -> sb.append(k).append('=').append(Arrays.toString(v)).append(' '));
        return sb.toString().trim();
    }
}
