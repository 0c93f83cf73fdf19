package io.conductor.events;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.ZMQ;

/**
 * The events module's entry point: subscribes to KV-event publishers at runtime and delivers their normalized
 * events to one {@link KvEventSink} per subscription.
 *
 * <p>Subscriptions are spread over a fixed number of platform poller threads ({@link SubscriberConfig#pollerThreads()}),
 * each polling many sockets, so 1,000 subscriptions need no more threads than that (plus JeroMQ's I/O threads).
 *
 * <p>Usage:
 * <pre>{@code
 *   try (KvEventSubscriber subscriber = new KvEventSubscriber(SubscriberConfig.defaults())) {
 *       subscriber.add(SubscriptionSpec.of(key, PublisherType.VLLM, "tcp://engine:5557", "tcp://engine:5558"),
 *               sink).join();                  // throws CompletionException(IllegalArgumentException / ZMQException)
 *       ...
 *       subscriber.remove(key).join();         // afterwards no sink call for key happens again
 *   }
 * }</pre>
 *
 * <p>Thread-safe: every public method may be called from any thread, except that a sink must not wait for the
 * futures of {@link #add} or {@link #remove} (they complete on the poller thread that calls the sink).
 *
 * <p>Transport watch: a watchdog thread checks twice a second that every poller thread is alive and polling, and
 * learns from the ZMQ context's uncaught-exception handler when a JeroMQ I/O thread dies (a peer announcing a
 * 2 GiB frame did that before {@code MAXMSGSIZE} was set). A dead I/O thread is answered by a rebuilt transport:
 * a new context, every subscription's sockets reopened on it (the old context is abandoned, not terminated: its
 * termination would wait for the dead thread for ever). At most {@value #MAX_REBUILDS} rebuilds are made per
 * {@value #REBUILD_WINDOW_MINUTES} minutes; past that, or when a poller thread dies, the failure goes to the
 * fatal handler and {@link #fatalError()}, and {@link #transportHealth()} turns unhealthy, so a daemon goes
 * not-ready and exits rather than serve a silently frozen index. A poller that has not polled for
 * {@value #STALL_SECONDS} s (a sink blocked) makes the transport unhealthy until it polls again.
 */
public final class KvEventSubscriber implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KvEventSubscriber.class);
    private static final long STOP_TIMEOUT_MILLIS = 5_000;
    /** Socket cap of the ZMQ context: room for 8,000 subscriptions (a SUB and a DEALER each). */
    static final int MAX_SOCKETS = 16_384;
    static final int MAX_REBUILDS = 3;
    static final int REBUILD_WINDOW_MINUTES = 60;
    static final int STALL_SECONDS = 30;
    private static final long WATCH_INTERVAL_MILLIS = 500;
    private static final long REOPEN_TIMEOUT_SECONDS = 30;

    private final SubscriberConfig config;
    private volatile ZMQ.Context context;
    private final Thread watchdog;
    /** The first JeroMQ thread death not yet answered by a rebuild (set on the dying thread). */
    private final AtomicReference<@Nullable String> ioThreadDeath = new AtomicReference<>();
    private final long[] rebuildTimes = new long[MAX_REBUILDS];
    private volatile TransportHealth health = TransportHealth.OK;
    private int rebuilds;
    private final PollerThread[] pollers;
    private final ConcurrentHashMap<StreamKey, Subscription> subscriptions = new ConcurrentHashMap<>();
    private final Consumer<Throwable> fatalHandler;
    private final AtomicReference<@Nullable Throwable> fatalError = new AtomicReference<>();
    private volatile boolean closed;

    /**
     * Starts the poller threads; subscribe with {@link #add}. A {@link VirtualMachineError} caught by a poller is
     * only logged and recorded ({@link #fatalError()}).
     */
    public KvEventSubscriber(SubscriberConfig config) {
        this(config, t -> { });
    }

    /**
     * Starts the poller threads; subscribe with {@link #add}.
     *
     * @param config the settings
     * @param fatalHandler called on a poller thread with every {@link VirtualMachineError} (such as
     *     {@link OutOfMemoryError}) a poller catches, and with an {@link IllegalStateException} when the transport
     *     watchdog gives up (a poller thread died, or a JeroMQ I/O thread died and the transport could not be
     *     rebuilt), after it is logged and recorded in {@link #fatalError()}. The
     *     poller goes on afterwards; a daemon typically stops the process here (the index may have lost updates and
     *     the heap is no longer trustworthy). Must not block for long; exceptions it throws are logged and ignored
     */
    public KvEventSubscriber(SubscriberConfig config, Consumer<Throwable> fatalHandler) {
        this.config = Objects.requireNonNull(config, "config");
        this.fatalHandler = Objects.requireNonNull(fatalHandler, "fatalHandler");
        this.context = newContext();
        this.pollers = new PollerThread[config.pollerThreads()];
        for (int i = 0; i < pollers.length; i++) {
            pollers[i] = new PollerThread("conductor-events-poller-" + i, this::onFatal);
            pollers[i].start();
        }
        this.watchdog = Thread.ofPlatform().name("conductor-events-watchdog").daemon(true).unstarted(this::watch);
        watchdog.start();
    }

    private ZMQ.Context newContext() {
        final ZMQ.Context c = ZMQ.context(config.ioThreads());
        // Two sockets per subscription: ZMQ's default cap of 1,023 sockets per context would stop near 500.
        c.setMaxSockets(MAX_SOCKETS);
        // JeroMQ's I/O and reaper threads catch only RuntimeException: an Error kills them silently, and with them
        // every socket of the context. Record it for the watchdog.
        c.setUncaughtExceptionHandler((thread, error) -> {
            LOG.error("JeroMQ thread {} died; the event transport will be rebuilt", thread.getName(), error);
            ioThreadDeath.compareAndSet(null, thread.getName() + " died of " + error);
        });
        return c;
    }

    /**
     * Subscribes: opens the SUB (and DEALER) sockets on a poller thread, then events flow to {@code sink}.
     *
     * @return a future completed once the sockets are connected or bound; completed exceptionally with
     *     {@link IllegalArgumentException} if {@code spec.key()} is already subscribed, with
     *     {@link org.zeromq.ZMQException} if ZMQ rejects an endpoint (then nothing stays subscribed), or with
     *     {@link IllegalStateException} after {@link #close}
     */
    public CompletableFuture<Void> add(SubscriptionSpec spec, KvEventSink sink) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(sink, "sink");
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("subscriber is closed"));
        }
        final PollerThread poller = leastLoaded();
        final Subscription subscription = new Subscription(spec, sink, config, context, poller);
        final ZMQ.Context openedOn = context;
        if (subscriptions.putIfAbsent(spec.key(), subscription) != null) {
            return CompletableFuture.failedFuture(
                    new IllegalArgumentException("already subscribed: " + spec.key()));
        }
        poller.reserve();
        final CompletableFuture<Void> done = new CompletableFuture<>();
        poller.execute(() -> {
            if (subscriptions.get(spec.key()) != subscription) {
                // removed before it started: remove()'s own command (queued after this one) releases the slot
                done.completeExceptionally(new IllegalStateException("removed before it started: " + spec.key()));
                return;
            }
            try {
                if (context != openedOn) {
                    // The transport was rebuilt between add() and now: open on the new context.
                    subscription.reopen(context);
                } else {
                    subscription.open();
                }
                poller.attach(subscription);
                LOG.info("stream {}: subscribed to {} ({}{}{})", spec.key(), spec.endpoint(), spec.publisher(),
                        spec.bindsLive() ? ", bound" : "",
                        spec.hasReplay() ? ", replay " + spec.replayEndpoint() : ", no replay");
                done.complete(null);
            } catch (RuntimeException e) {
                subscription.close();
                subscriptions.remove(spec.key(), subscription);
                poller.release();
                done.completeExceptionally(e);
            }
        });
        return done;
    }

    /**
     * Unsubscribes and closes the sockets.
     *
     * @return a future completed with {@code true} once the subscription is stopped: from then on no sink call for
     *     {@code key} happens (a call in progress has returned); {@code false} if {@code key} was not subscribed
     */
    public CompletableFuture<Boolean> remove(StreamKey key) {
        final Subscription subscription = subscriptions.remove(key);
        if (subscription == null) {
            return CompletableFuture.completedFuture(false);
        }
        final CompletableFuture<Boolean> done = new CompletableFuture<>();
        final PollerThread poller = subscription.poller;
        poller.execute(() -> {
            poller.detach(subscription);
            subscription.close();
            poller.release();
            LOG.info("stream {}: unsubscribed", key);
            done.complete(true);
        });
        return done;
    }

    /** True if {@code key} is subscribed (added and not removed). */
    public boolean contains(StreamKey key) {
        return subscriptions.containsKey(key);
    }

    /** A snapshot of every subscription's stats, sorted by key text. */
    public List<StreamStats> stats() {
        final long now = System.currentTimeMillis();
        final List<StreamStats> result = new ArrayList<>(subscriptions.size());
        for (final Subscription s : subscriptions.values()) {
            result.add(s.counters.snapshot(s.spec, now));
        }
        result.sort(Comparator.comparing(st -> st.key().toString()));
        return result;
    }

    /** A snapshot of one subscription's stats, or {@code null} if it is not subscribed. */
    public @Nullable StreamStats stats(StreamKey key) {
        final Subscription s = subscriptions.get(key);
        return s == null ? null : s.counters.snapshot(s.spec, System.currentTimeMillis());
    }

    /** The configuration this subscriber runs with. */
    public SubscriberConfig config() {
        return config;
    }

    /** Stops every poller (closing every subscription) and terminates the ZMQ context. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        watchdog.interrupt();
        subscriptions.clear();
        for (final PollerThread poller : pollers) {
            poller.stop(STOP_TIMEOUT_MILLIS);
        }
        terminate(context, STOP_TIMEOUT_MILLIS);
    }

    /**
     * Terminates a ZMQ context, waiting at most {@code timeoutMillis} (0: not at all): a context whose I/O thread died never
     * finishes terminating (it waits for that thread), and close must not hang on it.
     */
    private static void terminate(ZMQ.Context c, long timeoutMillis) {
        final Thread t = Thread.ofPlatform().name("conductor-events-context-close").daemon(true).start(c::close);
        if (timeoutMillis <= 0) {
            return; // abandoned: it terminates if it can, on its own thread
        }
        try {
            t.join(timeoutMillis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (t.isAlive()) {
            LOG.warn("the ZMQ context did not terminate within {} ms (a JeroMQ thread died); abandoning it",
                    timeoutMillis);
        }
    }

    /**
     * The first {@link VirtualMachineError} a poller caught, or {@code null}. Once set, the process should be
     * considered unhealthy (readiness false): some stream lost updates.
     */
    public @Nullable Throwable fatalError() {
        return fatalError.get();
    }

    /**
     * The transport's health as the watchdog last saw it (at most about half a second old): unhealthy while a
     * poller is dead or stalled, or after a JeroMQ I/O thread death that could not be repaired.
     */
    public TransportHealth transportHealth() {
        return health;
    }

    /** Poll-loop iterations that failed outside any one stream (each logged; the loop went on). */
    public long loopFailures() {
        long n = 0;
        for (final PollerThread p : pollers) {
            n += p.loopFailures();
        }
        return n;
    }

    private void watch() {
        String fatal = null;
        while (!closed) {
            try {
                Thread.sleep(WATCH_INTERVAL_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
            final long now = System.nanoTime();
            String stalled = null;
            for (final PollerThread p : pollers) {
                final long quiet = p.sinceLastLoopNanos(now);
                if (!p.isAlive()) {
                    if (fatal == null) {
                        fatal = "event poller thread " + p.name() + " died";
                    }
                } else if (quiet > TimeUnit.SECONDS.toNanos(STALL_SECONDS)) {
                    stalled = "event poller thread " + p.name() + " has not polled for "
                            + TimeUnit.NANOSECONDS.toSeconds(quiet) + " s";
                }
            }
            final String death = ioThreadDeath.get();
            if (fatal == null && death != null && !closed) {
                fatal = rebuildTransport(death, now);
            }
            if (closed) {
                return; // pollers stop during close: not a failure
            }
            final String problem = fatal != null ? fatal : stalled;
            final boolean firstFatal = fatal != null && fatalError.get() == null;
            health = new TransportHealth(problem == null, problem == null ? "" : problem, rebuilds);
            if (firstFatal) {
                onFatal(new IllegalStateException("event transport failed: " + fatal));
            }
        }
    }

    /**
     * Watchdog thread: replaces the ZMQ context after one of its threads died and moves every subscription onto
     * the new one.
     *
     * @return {@code null} if rebuilt, else why the transport could not be repaired
     */
    private @Nullable String rebuildTransport(String death, long now) {
        final long window = TimeUnit.MINUTES.toNanos(REBUILD_WINDOW_MINUTES);
        final long oldest = rebuildTimes[rebuilds % MAX_REBUILDS];
        if (rebuilds >= MAX_REBUILDS && now - oldest < window) {
            return death + "; " + MAX_REBUILDS + " transport rebuilds in " + REBUILD_WINDOW_MINUTES
                    + " minutes already, giving up";
        }
        rebuildTimes[rebuilds % MAX_REBUILDS] = now;
        rebuilds++;
        LOG.error("event transport: {}; rebuilding it (rebuild {}), every stream resubscribes and is rebuilt from "
                + "its replay ring", death, rebuilds);
        final ZMQ.Context old = context;
        final ZMQ.Context fresh = newContext();
        context = fresh;
        ioThreadDeath.set(null);
        final List<CompletableFuture<List<StreamKey>>> reopened = new ArrayList<>();
        for (final PollerThread p : pollers) {
            final CompletableFuture<List<StreamKey>> done = new CompletableFuture<>();
            p.execute(() -> done.complete(p.reopenAll(fresh)));
            reopened.add(done);
        }
        final List<StreamKey> failed = new ArrayList<>();
        try {
            for (final CompletableFuture<List<StreamKey>> f : reopened) {
                failed.addAll(f.get(REOPEN_TIMEOUT_SECONDS, TimeUnit.SECONDS));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return death + "; interrupted while rebuilding the transport";
        } catch (ExecutionException | TimeoutException e) {
            return death + "; rebuilding the transport failed: " + e;
        }
        if (!failed.isEmpty()) {
            return death + "; after the transport rebuild these streams could not resubscribe: " + failed;
        }
        LOG.warn("event transport rebuilt ({} so far); the old ZMQ context is abandoned", rebuilds);
        terminate(old, 0);
        return null;
    }

    private void onFatal(Throwable t) {
        fatalError.compareAndSet(null, t);
        try {
            LOG.error("FATAL: the event transport failed ({}); streams may have lost updates", t.toString());
            fatalHandler.accept(t);
        } catch (Throwable again) {
            LOG.error("the fatal-error handler failed", again);
        }
    }

    private PollerThread leastLoaded() {
        PollerThread best = pollers[0];
        for (final PollerThread p : pollers) {
            if (p.load() < best.load()) {
                best = p;
            }
        }
        return best;
    }
}
