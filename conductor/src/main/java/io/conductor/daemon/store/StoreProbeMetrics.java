package io.conductor.daemon.store;

import io.conductor.nativestore.ProbeStatsSnapshot;
import io.conductor.nativestore.ProbeStatus;
import io.conductor.nativestore.StoreResidencyProbe;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Exports the store probe's counters, state and latency histogram ({@code conductor_store_probe_*}, see
 * {@code docs/metrics.md}) by reading {@link StoreResidencyProbe#stats()} and {@link StoreResidencyProbe#status()}
 * at scrape time, so the query path pays nothing for them. The probe's latency buckets are per-bucket counts;
 * Prometheus's classic buckets model takes them as they are and the exposition writes them cumulatively
 * ({@code le} buckets, {@code _count}, {@code _sum}). Labels are fixed sets (state names, hit/miss); the down
 * reason is never a label (it is free text: see {@code /ready}).
 *
 * <p>Thread-safe: stateless apart from the probe, whose snapshot methods are thread-safe.
 */
final class StoreProbeMetrics implements MultiCollector {
    private static final String PREFIX = "conductor_store_probe_";

    private final StoreResidencyProbe probe;

    StoreProbeMetrics(StoreResidencyProbe probe) {
        this.probe = probe;
    }

    @Override
    public MetricSnapshots collect() {
        ProbeStatus status = probe.status();
        ProbeStatsSnapshot s = probe.stats();
        List<MetricSnapshot> out = new ArrayList<>(16);
        out.add(gauge("up", "1 when the store probe is connected and healthy, 0 otherwise (see /ready for why)",
                status.up() ? 1 : 0));
        GaugeSnapshot.Builder state = GaugeSnapshot.builder().name(PREFIX + "state")
                .help("1 for the probe's current state, 0 for the others");
        for (ProbeStatus.State each : ProbeStatus.State.values()) {
            state.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                    .labels(Labels.of("state", each.name().toLowerCase(Locale.ROOT)))
                    .value(each == status.state() ? 1 : 0).build());
        }
        out.add(state.build());
        out.add(counter("setup_attempts", "setup attempts (successful or not) since start", status.setupAttempts()));
        out.add(counter("queries", "probe calls made while the probe was up", s.queries()));
        out.add(counter("unavailable", "probe calls answered 'unavailable' because the probe was down",
                s.unavailable()));
        out.add(counter("batch_calls", "batch_is_exist calls to the store", s.nativeCalls()));
        out.add(counter("keys", "keys asked in batch_is_exist calls", s.keysAsked()));
        out.add(counter("blocks", "blocks asked of the store", s.blocksAsked()));
        out.add(counter("resident_blocks", "asked blocks the store holds for every rank namespace (hits)",
                s.residentBlocks()));
        out.add(counter("errors", "failed batch_is_exist calls plus keys answered with an error code", s.errors()));
        out.add(CounterSnapshot.builder().name(PREFIX + "cache_lookups")
                .help("blocks answered from the probe cache (hit) or asked of the store (miss)")
                .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder()
                        .labels(Labels.of("result", "hit")).value(s.cacheHits()).build())
                .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder()
                        .labels(Labels.of("result", "miss")).value(s.cacheMisses()).build())
                .build());
        out.add(gauge("cache_hit_ratio", "share of blocks answered from the probe cache since start",
                s.cacheHitRate()));
        out.add(HistogramSnapshot.builder().name(PREFIX + "batch_duration_seconds")
                .help("latency of batch_is_exist calls")
                .dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                        .classicHistogramBuckets(ClassicHistogramBuckets.of(s.latencyBucketUpperBoundsSeconds(),
                                s.latencyBucketCounts()))
                        .sum(s.latencySumSeconds())
                        .build())
                .build());
        return new MetricSnapshots(out);
    }

    private static GaugeSnapshot gauge(String name, String help, double value) {
        return GaugeSnapshot.builder().name(PREFIX + name).help(help)
                .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).build()).build();
    }

    private static CounterSnapshot counter(String name, String help, long value) {
        return CounterSnapshot.builder().name(PREFIX + name).help(help)
                .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(value).build()).build();
    }
}
