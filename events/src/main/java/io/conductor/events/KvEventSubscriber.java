package io.conductor.events;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
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
 */
public final class KvEventSubscriber implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KvEventSubscriber.class);
    private static final long STOP_TIMEOUT_MILLIS = 5_000;
    /** Socket cap of the ZMQ context: room for 8,000 subscriptions (a SUB and a DEALER each). */
    static final int MAX_SOCKETS = 16_384;

    private final SubscriberConfig config;
    private final ZMQ.Context context;
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
     *     {@link OutOfMemoryError}) a poller catches, after it is logged and recorded in {@link #fatalError()}. The
     *     poller goes on afterwards; a daemon typically stops the process here (the index may have lost updates and
     *     the heap is no longer trustworthy). Must not block for long; exceptions it throws are logged and ignored
     */
    public KvEventSubscriber(SubscriberConfig config, Consumer<Throwable> fatalHandler) {
        this.config = Objects.requireNonNull(config, "config");
        this.fatalHandler = Objects.requireNonNull(fatalHandler, "fatalHandler");
        this.context = ZMQ.context(config.ioThreads());
        // Two sockets per subscription: ZMQ's default cap of 1,023 sockets per context would stop near 500.
        context.setMaxSockets(MAX_SOCKETS);
        this.pollers = new PollerThread[config.pollerThreads()];
        for (int i = 0; i < pollers.length; i++) {
            pollers[i] = new PollerThread("conductor-events-poller-" + i, this::onFatal);
            pollers[i].start();
        }
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
                subscription.open();
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
        subscriptions.clear();
        for (final PollerThread poller : pollers) {
            poller.stop(STOP_TIMEOUT_MILLIS);
        }
        context.close();
    }

    /**
     * The first {@link VirtualMachineError} a poller caught, or {@code null}. Once set, the process should be
     * considered unhealthy (readiness false): some stream lost updates.
     */
    public @Nullable Throwable fatalError() {
        return fatalError.get();
    }

    /** Poll-loop iterations that failed outside any one stream (each logged; the loop went on). */
    public long loopFailures() {
        long n = 0;
        for (final PollerThread p : pollers) {
            n += p.loopFailures();
        }
        return n;
    }

    private void onFatal(Throwable t) {
        fatalError.compareAndSet(null, t);
        try {
            LOG.error("FATAL: an event poller caught {}; streams may have lost updates", t.toString());
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
