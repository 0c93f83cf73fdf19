package io.conductor.daemon.api;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Optionally reads each engine's vLLM Prometheus endpoint on a short interval ({@code routing.scrape}): the
 * requests waiting ({@code vllm:num_requests_waiting}), running ({@code vllm:num_requests_running}) and the KV
 * cache usage ({@code vllm:kv_cache_usage_perc}, or the older {@code vllm:gpu_cache_usage_perc}), summed over
 * label sets. The cost policy counts the waiting requests as queued prefill work; a reading older than three
 * intervals is ignored.
 *
 * <p>Bounded: only the instances the configuration lists, at most 1 MiB read per scrape. Thread-safety: one daemon
 * thread scrapes, the latest reading of each instance is published through a concurrent map and read by request
 * threads.
 */
final class EngineMetricsScraper implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EngineMetricsScraper.class);
    private static final int MAX_BYTES = 1 << 20;

    /**
     * One reading.
     *
     * @param waiting requests waiting
     * @param running requests running
     * @param kvUsage KV cache usage, 0..1, or NaN when not exported
     * @param atNanos when it was read ({@link System#nanoTime()})
     */
    record Reading(double waiting, double running, double kvUsage, long atNanos) {
    }

    private final Map<String, URI> endpoints;
    private final long intervalNanos;
    private final HttpClient http;
    private final ConcurrentHashMap<String, Reading> readings = new ConcurrentHashMap<>();
    private final AtomicLong failures = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    EngineMetricsScraper(Map<String, URI> endpoints, long intervalMillis) {
        this.endpoints = Map.copyOf(endpoints);
        this.intervalNanos = intervalMillis * 1_000_000;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(Math.max(100, intervalMillis))).build();
        this.thread = Thread.ofPlatform().daemon(true).name("engine-metrics-scraper").unstarted(this::loop);
        thread.start();
    }

    /**
     * Returns an instance's latest reading if it is fresh.
     *
     * @param instanceId the instance
     * @param now {@link System#nanoTime()}
     * @return the reading, or {@code null} when none is fresh
     */
    @Nullable Reading fresh(String instanceId, long now) {
        Reading r = readings.get(instanceId);
        return r != null && now - r.atNanos() <= 3 * intervalNanos ? r : null;
    }

    long failures() {
        return failures.get();
    }

    private void loop() {
        while (running) {
            long start = System.nanoTime();
            for (Map.Entry<String, URI> e : endpoints.entrySet()) {
                if (!running) {
                    return;
                }
                scrape(e.getKey(), e.getValue());
            }
            long sleep = intervalNanos - (System.nanoTime() - start);
            if (sleep > 0) {
                try {
                    Thread.sleep(Duration.ofNanos(sleep));
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private void scrape(String instanceId, URI uri) {
        try {
            HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(uri)
                    .timeout(Duration.ofNanos(Math.max(100_000_000L, intervalNanos))).GET().build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream body = r.body()) {
                if (r.statusCode() != 200) {
                    throw new IOException("status " + r.statusCode());
                }
                readings.put(instanceId, parse(new String(body.readNBytes(MAX_BYTES), StandardCharsets.UTF_8),
                        System.nanoTime()));
            }
        } catch (IOException | RuntimeException e) {
            if (failures.getAndIncrement() % 100 == 0) {
                LOG.warn("event=engine_metrics_scrape_failed instance_id={} uri={} error=\"{}\"", instanceId, uri,
                        e.getMessage());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    /** Sums the three families over their label sets; other lines are skipped. */
    static Reading parse(String text, long atNanos) throws IOException {
        double waiting = 0;
        double runningRequests = 0;
        double kv = Double.NaN;
        try (BufferedReader in = new BufferedReader(new java.io.StringReader(text))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty() || line.charAt(0) == '#') {
                    continue;
                }
                if (family(line, "vllm:num_requests_waiting")) {
                    waiting += value(line);
                } else if (family(line, "vllm:num_requests_running")) {
                    runningRequests += value(line);
                } else if (family(line, "vllm:kv_cache_usage_perc") || family(line, "vllm:gpu_cache_usage_perc")) {
                    double v = value(line);
                    kv = Double.isNaN(kv) ? v : Math.max(kv, v);
                }
            }
        }
        return new Reading(waiting, runningRequests, kv, atNanos);
    }

    private static boolean family(String line, String name) {
        return line.startsWith(name) && line.length() > name.length()
                && (line.charAt(name.length()) == '{' || line.charAt(name.length()) == ' ');
    }

    /** The sample value: the first field after the labels (a timestamp may follow). */
    private static double value(String line) {
        int close = line.lastIndexOf('}');
        String rest = (close >= 0 ? line.substring(close + 1) : line.substring(line.indexOf(' '))).trim();
        int space = rest.indexOf(' ');
        double v = Double.parseDouble(space < 0 ? rest : rest.substring(0, space));
        return Double.isFinite(v) && v >= 0 ? v : 0;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
