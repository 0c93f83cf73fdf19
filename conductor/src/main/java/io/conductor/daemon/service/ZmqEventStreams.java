package io.conductor.daemon.service;

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
    /** Engine hashes remembered per token-rehash stream (about 7 MB each). */
    public static final int DEFAULT_REHASH_CAPACITY = 1 << 15;
    private static final long TIMEOUT_SECONDS = 10;

    private final KvEventSubscriber subscriber;
    private final int rehashCapacity;
    private final ConcurrentHashMap<ServiceKey, IndexingSink> sinks = new ConcurrentHashMap<>();
    private volatile UnaryOperator<KvEventSink> poolSinkDecorator = UnaryOperator.identity();
    private volatile Consumer<Throwable> fatalListener = t -> { };

    /**
     * Starts the subscriber's poller threads.
     *
     * @param config the subscriber configuration
     * @param rehashCapacity engine hashes remembered per token-rehash stream
     */
    public ZmqEventStreams(SubscriberConfig config, int rehashCapacity) {
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
        String problem = EndpointSyntax.problem(registration.endpoint());
        if (problem != null) {
            throw new StreamException(problem);
        }
        SubscriptionSpec spec;
        try {
            spec = SubscriptionSpec.of(streamKey(registration), publisher(registration), registration.endpoint(),
                    registration.replayEndpoint().isEmpty() ? null : registration.replayEndpoint());
        } catch (IllegalArgumentException e) {
            throw new StreamException("initial connection failed: " + e.getMessage(), e);
        }
        IndexingSink sink = new IndexingSink(registration, index, rank, pool, rehashCapacity);
        try {
            subscriber.add(spec, pool != null ? poolSinkDecorator.apply(sink) : sink)
                    .get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new StreamException("initial connection failed: failed to connect to " + registration.endpoint()
                    + ": " + cause.getMessage(), cause);
        } catch (TimeoutException e) {
            subscriber.remove(spec.key());
            throw new StreamException("initial connection failed: timed out opening " + registration.endpoint(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            subscriber.remove(spec.key());
            throw new StreamException("interrupted while subscribing", e);
        }
        sinks.put(registration.key(), sink);
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
        sinks.remove(registration.key());
    }

    @Override
    public @Nullable String streamState(ServiceKey key) {
        StreamStats s = subscriber.stats(new StreamKey(key.instanceId(), key.tenantId(), key.dpRank()));
        return s == null ? null : s.state().name().toLowerCase(java.util.Locale.ROOT);
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
