package io.conductor.daemon.registry;

import io.conductor.daemon.registry.RegistrySnapshot.Context;
import io.conductor.daemon.registry.RegistrySnapshot.Service;
import io.conductor.daemon.registry.RegistrySnapshot.State;
import io.conductor.index.prefix.ContextKey;
import io.conductor.index.prefix.GroupLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The service registry: which subscriptions exist, under which key, in which state, and which hash profile each
 * context is bound to.
 *
 * <p>Thread-safe. Mutations run under one lock, so concurrent registrations and unregistrations of the same key
 * are serialized; stopping and purging a stream (slow) runs outside the lock while the key stays reserved in the
 * {@link State#UNREGISTERING} state. Readers take {@link #snapshot()}, an immutable view republished after each
 * change, and never lock.
 */
public final class ServiceRegistry {
    /*
     * Rules (mooncake-api.md §3.2 step order, then our changes):
     * 1. A key being unregistered or quarantined refuses registration.
     * 2. An active key with an exactly equal registration succeeds without creating anything (idempotent);
     *    any difference is a conflict.
     * 3. One endpoint carries one subscription, whatever its type.
     * 4. A context (tenant, model, block size) is bound to the profile of its first registration, vLLM or
     *    Mooncake; a different profile (or token-rehash versus a profile) is refused. The binding is released
     *    when its last registration is gone (the reference never frees contexts: defect 7).
     * 5. The stream starts last; if it fails nothing has been recorded.
     */

    /** What a successful registration did. */
    public enum Outcome {
        /** A new subscription was started. */
        CREATED,
        /** An exactly equal registration was already active; nothing changed. */
        ALREADY_REGISTERED
    }

    private static final class Slot {
        final ServiceRegistration registration;
        State state = State.ACTIVE;

        Slot(ServiceRegistration registration) {
            this.registration = registration;
        }
    }

    private static final class Binding {
        final @Nullable HashProfileSpec profile;
        /** The KV-cache group layout of the context's engine registrations, while {@link #engines} > 0. */
        @Nullable GroupLayout layout;
        int engines;
        int registrations;

        Binding(@Nullable HashProfileSpec profile) {
            this.profile = profile;
        }
    }

    /**
     * Most registered keys at once (any state). Everything that grows per registration (streams, metric series,
     * label values) is bounded by it; one more is refused.
     */
    public static final int MAX_SERVICES = 4096;

    private final ReentrantLock lock = new ReentrantLock();
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final TreeMap<ServiceKey, Slot> slots = new TreeMap<>();
    private final HashMap<String, ServiceKey> endpointOwners = new HashMap<>();
    private final HashMap<ContextKey, Binding> bindings = new HashMap<>();
    private final StreamLifecycle streams;
    private final int maxServices;
    private volatile RegistrySnapshot snapshot = RegistrySnapshot.EMPTY;

    /**
     * Creates an empty registry.
     *
     * @param streams starts and stops the subscriptions
     */
    public ServiceRegistry(StreamLifecycle streams) {
        this(streams, MAX_SERVICES);
    }

    /** A registry with another cap (tests: the default cap takes long to fill). */
    ServiceRegistry(StreamLifecycle streams, int maxServices) {
        this.streams = Objects.requireNonNull(streams, "streams");
        this.maxServices = maxServices;
    }

    /**
     * Registers a subscription and starts its stream, atomically.
     *
     * @param registration the validated registration
     * @return what was done
     * @throws RegistrationException if a rule refuses it ({@code INVALID}) or the stream fails to start
     *     ({@code SUBSCRIBE_FAILED}); nothing is left registered
     */
    public Outcome register(ServiceRegistration registration) throws RegistrationException {
        ServiceKey key = registration.key();
        lock.lock();
        try {
            Slot existing = slots.get(key);
            if (existing != null) {
                switch (existing.state) {
                    case UNREGISTERING -> throw invalid("service is being unregistered: " + key);
                    case QUARANTINED -> throw invalid("service cleanup is quarantined: " + key);
                    case ACTIVE -> {
                        if (existing.registration.equals(registration)) {
                            return Outcome.ALREADY_REGISTERED;
                        }
                        throw invalid("conflicting registration for service key: " + key);
                    }
                }
            }
            if (slots.size() >= maxServices) {
                throw invalid("too many registrations: at most " + maxServices + " keys can be registered");
            }
            if (endpointOwners.containsKey(registration.endpoint())) {
                throw invalid("conflicting active registration for endpoint: " + registration.endpoint());
            }
            Binding binding = bindings.get(registration.context());
            if (binding != null && !Objects.equals(binding.profile, registration.profile())) {
                throw invalid(registration.type().isEngine()
                        ? "failed to register prefix context: registration conflicts with the ContextKey hash profile"
                        : "failed to bind shared-cache profile: hash profile conflicts with the registered "
                                + "ContextKey profile");
            }
            if (binding != null && binding.engines > 0 && registration.type().isEngine()
                    && !Objects.equals(binding.layout, registration.kvCacheGroups())) {
                throw invalid("failed to register prefix context: registration conflicts with the ContextKey "
                        + "KV-cache group layout " + (binding.layout == null ? "(plain model)" : binding.layout));
            }
            try {
                streams.start(registration);
            } catch (StreamLifecycle.StreamException e) {
                RegistrationException.Kind kind = switch (e.fault()) {
                    case INTERNAL -> RegistrationException.Kind.SUBSCRIBE_FAILED;
                    case BAD_ENDPOINT -> RegistrationException.Kind.BAD_ENDPOINT;
                    case MEMORY_BUDGET -> RegistrationException.Kind.MEMORY_BUDGET;
                };
                throw new RegistrationException(kind, "failed to start ZMQ client: " + e.getMessage());
            }
            slots.put(key, new Slot(registration));
            endpointOwners.put(registration.endpoint(), key);
            if (binding == null) {
                binding = new Binding(registration.profile());
                bindings.put(registration.context(), binding);
            }
            if (registration.type().isEngine() && binding.engines++ == 0) {
                binding.layout = registration.kvCacheGroups();
            }
            binding.registrations++;
            publish();
            return Outcome.CREATED;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Unregisters a key: marks it unregistering, stops its stream and purges its contributions (outside the
     * lock), then drops it. A quarantined key re-runs the cleanup.
     *
     * @param key the service key
     * @throws UnregistrationException {@code NOT_FOUND} for an unknown key, {@code ALREADY_UNREGISTERING} when
     *     another unregistration of it is running, {@code CLEANUP_FAILED} when the cleanup failed (the key is then
     *     quarantined: still listed, its key and endpoint reserved)
     */
    public void unregister(ServiceKey key) throws UnregistrationException {
        ServiceRegistration registration;
        lock.lock();
        try {
            Slot slot = slots.get(key);
            if (slot == null) {
                throw new UnregistrationException(UnregistrationException.Kind.NOT_FOUND, "service not found: " + key);
            }
            if (slot.state == State.UNREGISTERING) {
                throw new UnregistrationException(UnregistrationException.Kind.ALREADY_UNREGISTERING,
                        "service is already being unregistered: " + key);
            }
            slot.state = State.UNREGISTERING;
            registration = slot.registration;
            publish();
        } finally {
            lock.unlock();
        }
        String failure = null;
        try {
            streams.stopAndPurge(registration);
        } catch (StreamLifecycle.StreamException | RuntimeException e) {
            failure = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        }
        lock.lock();
        try {
            if (failure != null) {
                Slot slot = slots.get(key);
                if (slot != null) {
                    slot.state = State.QUARANTINED;
                }
                publish();
                throw new UnregistrationException(UnregistrationException.Kind.CLEANUP_FAILED,
                        "Failed to unregister prefix context: " + failure);
            }
            slots.remove(key);
            endpointOwners.remove(registration.endpoint());
            Binding binding = bindings.get(registration.context());
            if (binding != null && registration.type().isEngine()) {
                binding.engines--;
            }
            if (binding != null && --binding.registrations == 0) {
                bindings.remove(registration.context());
            }
            publish();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Adds a listener run after every change, under the registry's lock (so changes are seen in order): it must be
     * quick, must not mutate the registry, and should read {@link #snapshot()}. An exception a listener throws is
     * dropped: it must not undo or fail a change that already happened.
     *
     * @param listener the listener
     */
    public void onChange(Runnable listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /**
     * Returns the current immutable view; never blocks.
     *
     * @return the latest snapshot
     */
    public RegistrySnapshot snapshot() {
        return snapshot;
    }

    private static RegistrationException invalid(String message) {
        return new RegistrationException(RegistrationException.Kind.INVALID, message);
    }

    /** Rebuilds the snapshot; called under the lock after every change. */
    private void publish() {
        List<Service> services = new ArrayList<>(slots.size());
        Map<ContextKey, TreeMap<String, TreeSet<Integer>>> ranks = new HashMap<>();
        Map<ContextKey, TreeMap<String, TreeMap<String, TreeSet<Integer>>>> ranksByLora = new HashMap<>();
        Map<ContextKey, TreeSet<String>> loras = new HashMap<>();
        for (Slot slot : slots.values()) {
            ServiceRegistration r = slot.registration;
            services.add(new Service(r, slot.state));
            loras.computeIfAbsent(r.context(), k -> new TreeSet<>()).add(r.loraName());
            if (slot.state == State.ACTIVE && r.type().isEngine()) {
                ranks.computeIfAbsent(r.context(), k -> new TreeMap<>())
                        .computeIfAbsent(r.instanceId(), k -> new TreeSet<>()).add(r.dpRank());
                ranksByLora.computeIfAbsent(r.context(), k -> new TreeMap<>())
                        .computeIfAbsent(r.loraName(), k -> new TreeMap<>())
                        .computeIfAbsent(r.instanceId(), k -> new TreeSet<>()).add(r.dpRank());
            }
        }
        Map<ContextKey, Context> contexts = new HashMap<>();
        for (Map.Entry<ContextKey, Binding> e : bindings.entrySet()) {
            Map<String, SortedMap<String, int[]>> byLora = new TreeMap<>();
            for (Map.Entry<String, TreeMap<String, TreeSet<Integer>>> l
                    : ranksByLora.getOrDefault(e.getKey(), new TreeMap<>()).entrySet()) {
                byLora.put(l.getKey(), toArrays(l.getValue()));
            }
            contexts.put(e.getKey(), new Context(e.getKey(), e.getValue().profile,
                    toArrays(ranks.getOrDefault(e.getKey(), new TreeMap<>())), Collections.unmodifiableMap(byLora),
                    List.copyOf(loras.getOrDefault(e.getKey(), new TreeSet<>()))));
        }
        snapshot = new RegistrySnapshot(List.copyOf(services), Map.copyOf(contexts));
        for (Runnable listener : listeners) {
            try {
                listener.run();
            } catch (RuntimeException e) {
                // a listener's fault (e.g. metrics) must not fail a registration that already happened
            }
        }
    }

    @SuppressWarnings("NonApiType") // private helper; the caller's sorted TreeMap/TreeSet is what it relies on
    private static SortedMap<String, int[]> toArrays(TreeMap<String, TreeSet<Integer>> ranks) {
        SortedMap<String, int[]> out = new TreeMap<>();
        for (Map.Entry<String, TreeSet<Integer>> ir : ranks.entrySet()) {
            out.put(ir.getKey(), ir.getValue().stream().mapToInt(Integer::intValue).toArray());
        }
        return Collections.unmodifiableSortedMap(out);
    }
}
