package io.conductor.daemon.config;

import java.util.Collection;
import org.jspecify.annotations.Nullable;

/**
 * "Did you mean" for misspelled names: the known name closest to a given one by edit distance, when it is close
 * enough to be a plausible typo. Stateless; thread-safe.
 */
public final class Spelling {
    private Spelling() {
    }

    /**
     * Returns the known name closest to {@code name} (Levenshtein distance, case-insensitive), or {@code null} when
     * none is within a third of the longer name's length (at least 2 edits are always allowed) or made of the same
     * words with one left out.
     *
     * @param name the name as written
     * @param known the valid names
     * @return the suggestion, or {@code null}
     */
    public static @Nullable String closest(String name, Collection<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            int d = distance(name.toLowerCase(java.util.Locale.ROOT), candidate.toLowerCase(java.util.Locale.ROOT));
            int allowed = Math.max(2, Math.max(name.length(), candidate.length()) / 3);
            if ((d <= allowed || sameWords(name, candidate)) && (d < bestDistance || (d == bestDistance && best != null
                    && candidate.compareTo(best) < 0))) {
                best = candidate;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Whether every {@code _}-separated word of the shorter name is a word of the longer ("http_port"). */
    private static boolean sameWords(String a, String b) {
        java.util.List<String> shorter = java.util.List.of((a.length() <= b.length() ? a : b).split("_"));
        java.util.List<String> longer = java.util.List.of((a.length() <= b.length() ? b : a).split("_"));
        return shorter.size() > 1 && longer.containsAll(shorter);
    }

    private static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j] + 1, current[j - 1] + 1));
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
