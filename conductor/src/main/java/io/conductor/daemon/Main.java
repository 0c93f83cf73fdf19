package io.conductor.daemon;

import io.javalin.Javalin;

/**
 * Entry point of the {@code mooncake_conductor} daemon. Skeleton: serves {@code GET /health} on the
 * reference's default port; configuration, subscriptions and the API are added by the foundation work.
 */
public final class Main {
    private Main() {
    }

    /**
     * Starts the daemon.
     *
     * @param args command-line arguments
     */
    public static void main(String[] args) {
        Javalin app = Javalin.create().get("/health", ctx -> ctx.result("ok"));
        app.start("0.0.0.0", 13333);
    }
}
