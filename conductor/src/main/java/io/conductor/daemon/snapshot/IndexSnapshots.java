package io.conductor.daemon.snapshot;

import io.conductor.daemon.DaemonContext;
import io.conductor.daemon.ReadinessCheck;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.service.ZmqEventStreams;
import io.javalin.http.Context;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshot side of a daemon. At start ({@link #prepare}), before any registration: fetch a snapshot from a
 * ready peer, else load the local snapshot file, else start empty; a corrupt or truncated file is logged with the
 * reason and ignored whole (the index starts empty and streams bootstrap from replay). Registrations then claim
 * their saved streams ({@link #restores()}). Once running ({@link #start}): the {@code GET /snapshot} route (admin
 * key when set), the {@code snapshot-restore} readiness check (not ready until every restored stream has resumed,
 * or the resume timeout passed), periodic writes of the local file and a last write on shutdown, and metrics.
 *
 * <p>Thread-safety: {@link #prepare} and {@link #start} run on the starting thread; the writer thread, HTTP
 * threads and shutdown use thread-safe parts ({@link SnapshotFile} serializes writes).
 */
public final class IndexSnapshots {
    private static final Logger LOG = LoggerFactory.getLogger(IndexSnapshots.class);

    private final SnapshotSettings settings;
    private final @Nullable String adminKey;
    private final PendingRestores restores;
    private final @Nullable SnapshotFile file;
    private final String source;
    private final AtomicLong lastWriteBytes = new AtomicLong(-1);
    private final AtomicLong lastWriteMillis = new AtomicLong();
    private volatile long resumeDeadlineNanos;
    private volatile boolean resumed;
    private volatile BooleanSupplier registrationsLoaded = () -> true;
    private @Nullable Counter writes;

    private IndexSnapshots(SnapshotSettings settings, @Nullable String adminKey, PendingRestores restores,
            @Nullable SnapshotFile file, String source) {
        this.settings = settings;
        this.adminKey = adminKey;
        this.restores = restores;
        this.file = file;
        this.source = source;
    }

    /**
     * Loads the starting snapshot: from the first ready peer, else from the local file, else none.
     *
     * @param settings the settings
     * @param adminKey the admin key (sent to peers, required by the route), or {@code null}
     * @return the snapshot side, holding the streams to restore
     */
    public static IndexSnapshots prepare(SnapshotSettings settings, @Nullable String adminKey) {
        Objects.requireNonNull(settings, "settings");
        SnapshotFile file = settings.path() == null ? null : new SnapshotFile(settings.path(), settings.maxBytes());
        long start = System.nanoTime();
        PeerBootstrap.Fetched fetched = new PeerBootstrap(settings.peers(), settings.maxBytes(), adminKey).fetch();
        if (fetched != null) {
            LOG.info("event=snapshot_loaded source=peer peer={} streams={} pairs={} bytes={} elapsed_ms={}",
                    fetched.peer(), fetched.snapshot().streams().size(), fetched.snapshot().pairs(), fetched.bytes(),
                    (System.nanoTime() - start) / 1_000_000);
            return new IndexSnapshots(settings, adminKey, new PendingRestores(fetched.snapshot()), file,
                    "peer");
        }
        if (file != null) {
            try {
                IndexSnapshot s = file.load();
                if (s != null) {
                    LOG.info("event=snapshot_loaded source=file path={} streams={} pairs={} age_s={} elapsed_ms={}",
                            file.path(), s.streams().size(), s.pairs(),
                            (System.currentTimeMillis() - s.createdMillis()) / 1000,
                            (System.nanoTime() - start) / 1_000_000);
                    return new IndexSnapshots(settings, adminKey, new PendingRestores(s), file, "file");
                }
                LOG.info("event=snapshot_absent path={}", file.path());
            } catch (SnapshotFormatException e) {
                LOG.error("event=snapshot_rejected path={} error=\"{}\" action=\"starting empty; streams bootstrap "
                        + "from replay\"", file.path(), e.getMessage());
                return new IndexSnapshots(settings, adminKey, new PendingRestores(null), file, "rejected");
            }
        }
        return new IndexSnapshots(settings, adminKey, new PendingRestores(null), file, "none");
    }

    /**
     * Returns the streams waiting for their registrations.
     *
     * @return the restore source
     */
    public PendingRestores restores() {
        return restores;
    }

    /**
     * Returns where the starting snapshot came from.
     *
     * @return {@code peer}, {@code file}, {@code rejected} (a bad file) or {@code none}
     */
    public String source() {
        return source;
    }

    /**
     * Installs the route, readiness check, metrics, periodic writer and shutdown write. Call after the static
     * registrations, so that the shutdown write runs before they are unregistered.
     *
     * @param context the daemon
     * @param taker   takes snapshots of the running index
     * @param events  the subscriptions (for resume states)
     * @param registrationsLoaded whether every registration that may claim a saved stream has been made (the
     *                            shared registrations loaded from etcd); unclaimed streams are kept until then
     */
    public void start(DaemonContext context, SnapshotTaker taker, ZmqEventStreams events,
            BooleanSupplier registrationsLoaded) {
        this.registrationsLoaded = registrationsLoaded;
        resumeDeadlineNanos = System.nanoTime() + settings.resumeTimeout().toNanos();
        context.addReadinessCheck("snapshot-restore", () -> resumeCheck(events));
        context.http().get("/snapshot", ctx -> serve(ctx, taker, events));
        writes = Counter.builder().name("conductor_snapshot_writes_total")
                .help("Local snapshot file writes, by result").labelNames("result").register(context.metrics());
        writes.labelValues("ok");
        writes.labelValues("failed");
        GaugeWithCallback.builder().name("conductor_snapshot_last_write_bytes")
                .help("Size of the last local snapshot file written (-1: none yet)")
                .callback(cb -> cb.call(lastWriteBytes.get())).register(context.metrics());
        GaugeWithCallback.builder().name("conductor_snapshot_last_write_timestamp_seconds")
                .help("When the last local snapshot file was written (0: never)")
                .callback(cb -> cb.call(lastWriteMillis.get() / 1000.0)).register(context.metrics());
        GaugeWithCallback.builder().name("conductor_snapshot_restored_pairs")
                .help("(block, owner) pairs restored from the starting snapshot")
                .callback(cb -> cb.call(restores.restoredPairs())).register(context.metrics());
        SnapshotFile f = file;
        if (f == null) {
            return;
        }
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "conductor-snapshot");
            t.setDaemon(true);
            return t;
        });
        long every = settings.interval().toSeconds();
        if (every > 0) {
            timer.scheduleWithFixedDelay(() -> writeFile(f, taker, events, "periodic"), every, every,
                    TimeUnit.SECONDS);
        }
        // Steps run last-registered first: the timer stops, then the final write, then the subscriptions go.
        context.addShutdownStep("snapshot-write", () -> writeFile(f, taker, events, "shutdown"));
        context.addShutdownStep("snapshot-timer", () -> {
            timer.shutdownNow();
            timer.awaitTermination(10, TimeUnit.SECONDS);
        });
    }

    private void writeFile(SnapshotFile f, SnapshotTaker taker, ZmqEventStreams events, String why) {
        if (!resumed && !resumeDone(events)) {
            // Writing now would replace a good file with a partial index (restored streams still resuming).
            LOG.info("event=snapshot_write_skipped reason=\"restored streams still resuming\" trigger={}", why);
            return;
        }
        long start = System.nanoTime();
        try {
            IndexSnapshot s = taker.take();
            long bytes = f.write(s);
            lastWriteBytes.set(bytes);
            lastWriteMillis.set(System.currentTimeMillis());
            count("ok");
            LOG.info("event=snapshot_written trigger={} path={} streams={} pairs={} bytes={} elapsed_ms={}", why,
                    f.path(), s.streams().size(), s.pairs(), bytes, (System.nanoTime() - start) / 1_000_000);
        } catch (IOException | RuntimeException e) {
            count("failed");
            LOG.error("event=snapshot_write_failed trigger={} path={} error=\"{}\"", why, f.path(), e.toString());
        }
    }

    private void count(String result) {
        Counter c = writes;
        if (c != null) {
            c.labelValues(result).inc();
        }
    }

    private ReadinessCheck.Result resumeCheck(ZmqEventStreams events) {
        if (resumed || resumeDone(events)) {
            return ReadinessCheck.Result.ready("restored from " + source + ": " + restores.claimed().size()
                    + " streams, " + restores.restoredPairs() + " pairs");
        }
        return ReadinessCheck.Result.notReady("restored streams still resuming by replay (source " + source + ")");
    }

    /** Every restored stream left connecting/syncing, or the timeout passed; then unclaimed streams are dropped. */
    private boolean resumeDone(@Nullable ZmqEventStreams events) {
        if (!registrationsLoaded.getAsBoolean()) {
            return false;
        }
        boolean done = System.nanoTime() - resumeDeadlineNanos >= 0;
        if (!done && events != null) {
            done = true;
            for (ServiceKey k : restores.claimed()) {
                String state = events.streamState(k);
                if ("connecting".equals(state) || "syncing".equals(state)) {
                    done = false;
                    break;
                }
            }
        }
        if (done && !resumed) {
            resumed = true;
            restores.discardUnclaimed();
        }
        return done;
    }

    private void serve(Context ctx, SnapshotTaker taker, ZmqEventStreams events) throws IOException {
        String expected = adminKey;
        if (expected != null) {
            String given = ctx.header("X-API-Key");
            if (given == null || !MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                    given.getBytes(StandardCharsets.UTF_8))) {
                error(ctx, 401, "unauthorized", "missing or invalid X-API-Key");
                return;
            }
        }
        if (!resumed && !resumeDone(events)) {
            error(ctx, 503, "not_ready", "this replica is still resuming its own restored streams");
            return;
        }
        IndexSnapshot s = taker.take();
        ctx.status(200);
        ctx.contentType("application/octet-stream");
        OutputStream out = ctx.res().getOutputStream();
        SnapshotCodec.write(s, out);
        out.flush();
    }

    private static void error(Context ctx, int status, String reason, String message) {
        ctx.status(status);
        ctx.contentType("application/json");
        ctx.result("{\"error\":\"" + message + "\",\"reason\":\"" + reason + "\"}");
    }
}
