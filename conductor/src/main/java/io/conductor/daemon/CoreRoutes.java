package io.conductor.daemon;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpStatus;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * The daemon's own routes: {@code GET /health} (liveness), {@code GET /ready} (readiness) and {@code GET /metrics}
 * (Prometheus exposition, format chosen by the {@code Accept} header). Thread-safe: handlers only read thread-safe
 * components.
 */
final class CoreRoutes {
    private static final JsonMapper JSON = new JsonMapper();
    private static final String JSON_TYPE = "application/json";

    private final String version;
    private final long startNanos;
    private final ReadinessChecks readiness;
    private final PrometheusRegistry registry;
    private final ExpositionFormats formats = ExpositionFormats.init();

    CoreRoutes(String version, long startNanos, ReadinessChecks readiness, PrometheusRegistry registry) {
        this.version = version;
        this.startNanos = startNanos;
        this.readiness = readiness;
        this.registry = registry;
    }

    void install(Javalin app) {
        app.get("/health", this::health);
        app.get("/ready", this::ready);
        app.get("/metrics", this::metrics);
    }

    /** Liveness: 200 whenever the HTTP server answers at all. */
    private void health(Context ctx) throws JsonProcessingException {
        ObjectNode body = JSON.createObjectNode()
            .put("status", "up")
            .put("version", version)
            .put("uptime_seconds", (System.nanoTime() - startNanos) / 1_000_000_000L);
        ctx.contentType(JSON_TYPE).result(JSON.writeValueAsBytes(body));
    }

    /** Readiness: 200 when every registered check passes (none registered = ready), else 503; lists each check. */
    private void ready(Context ctx) throws JsonProcessingException {
        List<ReadinessChecks.Evaluated> results = readiness.evaluate();
        boolean ready = true;
        ObjectNode body = JSON.createObjectNode();
        ArrayNode checks = JSON.createArrayNode();
        for (ReadinessChecks.Evaluated evaluated : results) {
            ready &= evaluated.result().ready();
            checks.addObject()
                .put("name", evaluated.name())
                .put("ready", evaluated.result().ready())
                .put("detail", evaluated.result().detail());
        }
        body.put("status", ready ? "ready" : "not_ready");
        body.set("checks", checks);
        ctx.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
            .contentType(JSON_TYPE)
            .result(JSON.writeValueAsBytes(body));
    }

    /** Prometheus text format by default; OpenMetrics or protobuf when the scraper's Accept header asks for it. */
    private void metrics(Context ctx) throws IOException {
        ExpositionFormatWriter writer = formats.findWriter(ctx.header("Accept"));
        ByteArrayOutputStream out = new ByteArrayOutputStream(32 * 1024);
        writer.write(out, registry.scrape());
        ctx.contentType(writer.getContentType()).result(out.toByteArray());
    }
}
