package io.conductor.daemon.service;

import io.conductor.daemon.api.StoredBlocksListener;
import io.conductor.daemon.registry.ServiceKey;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.StreamLifecycle.StreamException;
import io.conductor.events.KvEventSink;
import io.conductor.events.KvEventSubscriber;
import io.conductor.events.PublisherType;
import io.conductor.events.StreamKey;
import io.conductor.events.StreamStats;
import io.conductor.events.SubscriberConfig;
import io.conductor.events.TransportHealth;
import io.conductor.events.SubscriptionSpec;
import io.conductor.index.hash.TokenRehasher;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.RankHandle;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/**
 * The real event side: one {@link KvEventSubscriber} (JeroMQ, a bounded set of poller threads) carrying every
 * subscription, each feeding the index through its own {@link IndexingSink}. {@link #stop} returns only once
 * the subscriber guarantees no further sink call for that stream, so an unregistered stream can never write to
 * the index again.
 *
 * <p>Thread-safe: the subscriber is thread-safe and sinks are kept in a concurrent map.
 */
public final class ZmqEventStreams implements EventStreams, AutoCloseable {
    /** Engine hashes remembered per token-rehash stream (a table that grows on demand up to about 3.4 MB). */
    public static final int DEFAULT_REHASH_CAPACITY = 1 << 15;
    private static final long TIMEOUT_SECONDS = 10;

    /** Digest bytes of {@link QueryHashing#REHASH_PROFILE} (SHA-256). */
    private static final int REHASH_DIGEST_BYTES = 32;

    private final KvEventSubscriber subscriber;
    private final int rehashCapacity;
    private final RehashTableBudget rehashTables;
    private final ConcurrentHashMap<ServiceKey, IndexingSink> sinks = new ConcurrentHashMap<>();
    private volatile UnaryOperator<KvEventSink> poolSinkDecorator = UnaryOperator.identity();
    private volatile Consumer<Throwable> fatalListener = t -> { };
    private volatile StoredBlocksListener storedBlocks = StoredBlocksListener.NONE;

    /**
     * Starts the subscriber's poller threads.
     *
     * @param config the subscriber configuration
     * @param rehashCapacity engine hashes remembered per token-rehash stream
     */
    public ZmqEventStreams(SubscriberConfig config, int rehashCapacity) {
        this(config, rehashCapacity, Runtime.getRuntime().maxMemory() / 8);
    }

    /**
     * Starts the subscriber's poller threads, with an explicit budget for the token-rehash tables.
     *
     * @param config the subscriber configuration
     * @param rehashCapacity engine hashes remembered per token-rehash stream
     * @param rehashBudgetBytes the most bytes all token-rehash tables may hold together (default: an eighth of
     *     the heap)
     */
    public ZmqEventStreams(SubscriberConfig config, int rehashCapacity, long rehashBudgetBytes) {
        this.rehashTables = new RehashTableBudget(rehashBudgetBytes);
        this.subscriber = new KvEventSubscriber(config, t -> fatalListener.accept(t));
        this.rehashCapacity = rehashCapacity;
    }

    /**
     * Creates the daemon's streams: the subscriber's defaults, overridden by the environment variables
     * {@value #ENV_POLLER_THREADS} (poller threads, 1..64) and {@value #ENV_RECEIVE_HWM} (receive high-water mark
     * in messages per socket, 0 = unlimited) and {@value #ENV_MAX_MESSAGE_BYTES} (largest ZMQ frame accepted from a
     * publisher, in bytes, -1 = unlimited).
     *
     * @return the streams
     * @throws IllegalArgumentException if an environment override is not a valid number
     */
    public static ZmqEventStreams withDefaults() {
        return new ZmqEventStreams(configFrom(System.getenv()), DEFAULT_REHASH_CAPACITY);
    }

    /**
     * Sets who is told of the GPU blocks each engine stream started from now on stores (the route reservations).
     * Called on poller threads; see {@link StoredBlocksListener}.
     *
     * @param listener the listener
     */
    public void onStoredBlocks(StoredBlocksListener listener) {
        storedBlocks = java.util.Objects.requireNonNull(listener, "listener");
    }

    /**
     * Sets what happens when a poller catches a {@link VirtualMachineError} (such as {@link OutOfMemoryError}):
     * the subscriber has already logged it and recorded it ({@link #fatalError()}); the daemon asks for an orderly
     * stop here. Called on a poller thread; must not block.
     *
     * @param listener the listener
     */
    public void onFatalError(Consumer<Throwable> listener) {
        fatalListener = java.util.Objects.requireNonNull(listener, "listener");
    }

    /** Environment variable overriding {@link SubscriberConfig#pollerThreads()}. */
    public static final String ENV_POLLER_THREADS = "CONDUCTOR_EVENT_POLLER_THREADS";
    /** Environment variable overriding {@link SubscriberConfig#receiveHighWaterMark()}. */
    public static final String ENV_RECEIVE_HWM = "CONDUCTOR_EVENT_RCVHWM";
    /** Environment variable overriding {@link SubscriberConfig#maxMessageBytes()} (ZMQ {@code MAXMSGSIZE}). */
    public static final String ENV_MAX_MESSAGE_BYTES = "CONDUCTOR_EVENT_MAX_MESSAGE_BYTES";
    /** Exit status the daemon stops with after a fatal poller error (EX_SOFTWARE). */
    public static final int FATAL_EXIT_STATUS = 70;

    static SubscriberConfig configFrom(Map<String, String> env) {
        SubscriberConfig c = SubscriberConfig.defaults();
        String threads = env.get(ENV_POLLER_THREADS);
        if (threads != null && !threads.isBlank()) {
            c = c.withPollerThreads(parse(ENV_POLLER_THREADS, threads));
        }
        String hwm = env.get(ENV_RECEIVE_HWM);
        if (hwm != null && !hwm.isBlank()) {
            c = c.withReceiveHighWaterMark(parse(ENV_RECEIVE_HWM, hwm));
        }
        String maxMessage = env.get(ENV_MAX_MESSAGE_BYTES);
        if (maxMessage != null && !maxMessage.isBlank()) {
            c = c.withMaxMessageBytes(parse(ENV_MAX_MESSAGE_BYTES, maxMessage));
        }
        return c;
    }

    private static int parse(String name, String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be an integer, was \"" + value + "\"", e);
        }
    }

    /**
     * The event transport's health (JeroMQ I/O threads and poller threads, as the subscriber's watchdog last saw
     * them): unhealthy while a poller is stalled or dead, or after an I/O thread death that could not be repaired.
     *
     * @return the health
     */
    public TransportHealth transportHealth() {
        return subscriber.transportHealth();
    }

    /**
     * The first fatal error an event poller caught, or {@code null} (readiness reports it).
     *
     * @return the error or null
     */
    public @Nullable Throwable fatalError() {
        return subscriber.fatalError();
    }

    private static StreamKey streamKey(ServiceRegistration r) {
        return new StreamKey(r.instanceId(), r.tenantId(), r.dpRank());
    }

    private static PublisherType publisher(ServiceRegistration r) {
        return switch (r.type()) {
            case VLLM -> PublisherType.VLLM;
            case SGLANG -> PublisherType.SGLANG;
            case MOONCAKE -> PublisherType.MOONCAKE;
        };
    }

    @Override
    public void start(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool) throws StreamException {
        start(registration, index, rank, pool, null);
    }

    @Override
    public void start(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool, @Nullable ResumePoint resume) throws StreamException {
        String problem = EndpointSyntax.problem(registration.endpoint());
        if (problem != null) {
            throw new StreamException(problem, null, StreamException.Fault.BAD_ENDPOINT);
        }
        SubscriptionSpec spec;
        try {
            spec = SubscriptionSpec.of(streamKey(registration), publisher(registration), registration.endpoint(),
                    registration.replayEndpoint().isEmpty() ? null : registration.replayEndpoint());
        } catch (IllegalArgumentException e) {
            throw new StreamException("initial connection failed: " + e.getMessage(), e,
                    StreamException.Fault.BAD_ENDPOINT);
        }
        boolean rehash = rank != null && registration.profile() == null;
        if (rehash && rehashTables.freeBytes() < TokenRehasher.fullTableBytes(rehashCapacity, REHASH_DIGEST_BYTES)) {
            throw new StreamException("token-rehash tables already hold " + rehashTables.usedBytes() + " of their "
                    + rehashTables.limitBytes() + "-byte budget (an eighth of the heap); register with a "
                    + "hash_profile (no table needed), unregister unused streams, or raise -Xmx", null,
                    StreamException.Fault.MEMORY_BUDGET);
        }
        IndexingSink sink;
        try {
            sink = new IndexingSink(registration, index, rank, pool, rehashCapacity, rehashTables,
                    storedBlocks, resume);
        } catch (IllegalStateException e) {
            throw new StreamException(e.getMessage() == null ? "memory budget" : e.getMessage(), e,
                    StreamException.Fault.MEMORY_BUDGET);
        }
        boolean started = false;
        try {
            subscriber.add(spec, pool != null ? poolSinkDecorator.apply(sink) : sink)
                    .get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            started = true;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new StreamException("initial connection failed: failed to connect to " + registration.endpoint()
                    + ": " + cause.getMessage(), cause,
                    unresolvable(cause) ? StreamException.Fault.BAD_ENDPOINT : StreamException.Fault.INTERNAL);
        } catch (TimeoutException e) {
            subscriber.remove(spec.key());
            throw new StreamException("initial connection failed: timed out opening " + registration.endpoint(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            subscriber.remove(spec.key());
            throw new StreamException("interrupted while subscribing", e);
        } finally {
            if (!started) {
                sink.releaseTables();
            }
        }
        sinks.put(registration.key(), sink);
    }

    /** Whether a failed start was caused by a host name that does not resolve (the client's input). */
    private static boolean unresolvable(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof java.net.UnknownHostException) {
                return true;
            }
        }
        return false;
    }

    /**
     * Wraps the sink of every Mooncake subscription started from now on (the store probe listens to the master's
     * object events this way). Call before the first registration.
     *
     * @param decorator returns a sink that forwards every call to the index sink it is given
     */
    public void decoratePoolSinks(UnaryOperator<KvEventSink> decorator) {
        poolSinkDecorator = java.util.Objects.requireNonNull(decorator, "decorator");
    }

    @Override
    public void stop(ServiceRegistration registration) throws StreamException {
        try {
            subscriber.remove(streamKey(registration)).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new StreamException("failed to stop the ZMQ client: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StreamException("interrupted while unsubscribing", e);
        }
        IndexingSink sink = sinks.remove(registration.key());
        if (sink != null) {
            sink.releaseTables(); // the subscriber delivers nothing to it any more
        }
    }

    @Override
    public @Nullable String streamState(ServiceKey key) {
        StreamStats s = subscriber.stats(new StreamKey(key.instanceId(), key.tenantId(), key.dpRank()));
        return s == null ? null : s.state().name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public Map<String, Long> skippedEvents(ServiceKey key) {
        IndexingSink sink = sinks.get(key);
        if (sink == null) {
            return Map.of();
        }
        Map<String, Long> out = new java.util.TreeMap<>();
        for (SkipReason reason : SkipReason.values()) {
            long n = sink.skipped(reason);
            if (n > 0) {
                out.put(reason.label(), n);
            }
        }
        return out;
    }

    /**
     * Returns one subscription's stats.
     *
     * @param key the service key
     * @return its stats, or {@code null} when it has no stream
     */
    public @Nullable StreamStats stats(ServiceKey key) {
        return subscriber.stats(new StreamKey(key.instanceId(), key.tenantId(), key.dpRank()));
    }

    /**
     * Returns the position (epoch, seq of the last batch applied to the index) of a subscription, for snapshots.
     *
     * @param key the service key
     * @return the position, or {@code null} when not subscribed
     */
    public @Nullable AppliedPosition position(ServiceKey key) {
        IndexingSink sink = sinks.get(key);
        return sink == null ? null : sink.position();
    }

    /**
     * What a snapshot saves of a token-rehash stream: its position, its rank's blocks and a copy of its rehasher's
     * map, all as of one applied batch (the stream's poller waits between two batches while {@code export} runs).
     *
     * @param position the position
     * @param blocks   the rank's blocks
     * @param rehash   the engine-to-own hash map
     */
    public record RehashState(AppliedPosition position, io.conductor.index.prefix.RankBlocks blocks,
            io.conductor.index.hash.RehashEntries rehash) {
    }

    /**
     * Captures a token-rehash stream for a snapshot (see {@link RehashState}).
     *
     * @param key           the service key
     * @param export        exports the stream's rank
     * @param timeoutMillis how long to wait for the batch in progress to end
     * @return the state, or {@code null} when not subscribed, not in token-rehash mode, or the batch did not end
     *         in time
     * @throws InterruptedException when interrupted while waiting
     */
    public @Nullable RehashState captureRehash(ServiceKey key,
            java.util.function.Supplier<io.conductor.index.prefix.RankBlocks> export, long timeoutMillis)
            throws InterruptedException {
        IndexingSink sink = sinks.get(key);
        return sink == null ? null : sink.captureRehash(export, timeoutMillis);
    }

    /**
     * Returns every subscription's stats, sorted by key.
     *
     * @return the stats
     */
    public List<StreamStats> stats() {
        return subscriber.stats();
    }

    /**
     * Returns the live sinks by service key (for event counters).
     *
     * @return an unmodifiable view
     */
    Map<ServiceKey, IndexingSink> sinks() {
        return java.util.Collections.unmodifiableMap(sinks);
    }

    @Override
    public void close() {
        subscriber.close();
    }
}
