package io.conductor.example.demo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The demo's built-in workload, identical on every run: multi-turn chats that share a few long system prompts (the
 * case where cache-aware routing pays: every turn extends the previous turn's prompt) interleaved with unique
 * one-shot prompts (which no routing can help). Immutable and thread-safe.
 *
 * @param sessions sessions in the order the runner starts them
 */
public record DemoWorkload(List<Session> sessions) {

    /** A sequence of requests one user sends one after another. */
    public sealed interface Session {
        /** Returns number of requests in the session. */
        int requests();
    }

    /**
     * A chat: a system prompt and user turns; the assistant's answers are appended to the history as they come.
     *
     * @param systemPrompt the shared system prompt
     * @param userTurns the user's messages in order
     */
    public record Chat(String systemPrompt, List<String> userTurns) implements Session {
        @Override
        public int requests() {
            return userTurns.size();
        }
    }

    /**
     * A one-shot completion with a prompt nobody else sends.
     *
     * @param prompt the prompt text
     */
    public record UniquePrompt(String prompt) implements Session {
        @Override
        public int requests() {
            return 1;
        }
    }

    private static final String[] WORDS = ("cache block prefix token engine decode prefill request latency memory"
        + " transfer network model layer attention batch schedule queue worker cluster node instance replica shard"
        + " index hash chain event stream publish subscribe replay sequence gap restart policy route proxy client"
        + " server answer question user assistant system prompt context window budget limit throughput capacity"
        + " warm cold hit miss evict store remove clear tier gpu cpu disk pool tenant adapter salt seed profile"
        + " metric counter gauge histogram percentile deploy rollout monitor alert dashboard incident review plan"
        + " customer order invoice payment refund shipping address account password login session report summary"
        + " weather travel flight hotel booking museum river mountain city garden recipe kitchen bread coffee tea")
        .split(" ");

    /** System prompts of the demo workload. */
    public static final int DEMO_SYSTEM_PROMPTS = 6;
    /** Chats of the demo workload. */
    public static final int DEMO_CHATS = 12;
    /** User turns per chat of the demo workload. */
    public static final int DEMO_TURNS = 4;
    /** One-shot prompts of the demo workload. */
    public static final int DEMO_UNIQUE_PROMPTS = 12;

    /**
     * Builds the demo's workload: 12 chats of 4 turns over 6 system prompts (two chats each, so cache-aware routing
     * does not pile every chat onto one instance), plus 12 unique prompts.
     *
     * @return the workload
     */
    public static DemoWorkload demo() {
        return standard(DEMO_SYSTEM_PROMPTS, DEMO_CHATS, DEMO_TURNS, DEMO_UNIQUE_PROMPTS);
    }

    /**
     * Builds a small workload that warms every JVM's JIT on both routing paths before a measured run.
     *
     * @return the warm-up workload
     */
    public static DemoWorkload warmUp() {
        return standard(1, 2, 2, 6);
    }

    /**
     * Builds the standard workload.
     *
     * @param systemPrompts number of distinct system prompts
     * @param chats number of chats (spread over the system prompts)
     * @param turns user turns per chat
     * @param uniquePrompts number of one-shot prompts
     * @return the workload
     */
    public static DemoWorkload standard(int systemPrompts, int chats, int turns, int uniquePrompts) {
        SplittableRandom rnd = new SplittableRandom(20261122L);
        List<String> systems = new ArrayList<>();
        String[] roles = {"a travel agency", "an online shop", "a cloud platform", "a city library",
            "a bank", "a hospital"};
        for (int s = 0; s < systemPrompts; s++) {
            systems.add("You are the support assistant of " + roles[s % roles.length] + " number " + s
                + ". Follow these rules carefully. " + text(rnd, 120));
        }
        List<Session> sessions = new ArrayList<>();
        for (int c = 0; c < chats; c++) {
            List<String> userTurns = new ArrayList<>();
            for (int t = 0; t < turns; t++) {
                // Users paste material into their questions: each turn adds about a hundred tokens of history,
                // which only the instance that served the previous turn holds.
                userTurns.add("Question " + (t + 1) + " from user " + c + ": " + text(rnd, 60 + rnd.nextInt(60)));
            }
            sessions.add(new Chat(systems.get(c % systemPrompts), List.copyOf(userTurns)));
        }
        for (int u = 0; u < uniquePrompts; u++) {
            sessions.add(new UniquePrompt("Summarise document " + u + ": " + text(rnd, 150 + rnd.nextInt(150))));
        }
        Collections.shuffle(sessions, new java.util.Random(7));
        return new DemoWorkload(List.copyOf(sessions));
    }

    /**
     * Returns the total number of requests.
     *
     * @return requests over all sessions
     */
    public int totalRequests() {
        int n = 0;
        for (Session s : sessions) {
            n += s.requests();
        }
        return n;
    }

    private static String text(SplittableRandom rnd, int words) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            if (i > 0) {
                sb.append(i % 12 == 0 ? ". " : " ");
            }
            sb.append(WORDS[rnd.nextInt(WORDS.length)]);
        }
        return sb.append('.').toString();
    }
}
