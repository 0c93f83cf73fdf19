package io.conductor.daemon.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.conductor.index.prefix.ContextKey;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The registry's rules and its concurrency guarantees. */
class ServiceRegistryTest {
    private static final HashProfileSpec PROFILE = new HashProfileSpec("vllm_v1", "sha256_cbor", "0",
            "4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c3e", "low64_be");

    /** Counts live streams so the test can check starts and stops balance; can be told to fail cleanup. */
    private static final class CountingStreams implements StreamLifecycle {
        final AtomicInteger live = new AtomicInteger();
        final AtomicInteger maxLive = new AtomicInteger();
        final AtomicBoolean failCleanup = new AtomicBoolean();

        @Override
        public void start(ServiceRegistration registration) {
            maxLive.accumulateAndGet(live.incrementAndGet(), Math::max);
        }

        @Override
        public void stopAndPurge(ServiceRegistration registration) throws StreamException {
            if (failCleanup.get()) {
                throw new StreamException("index is unavailable");
            }
            Thread.yield();
            live.decrementAndGet();
        }
    }

    private static ServiceRegistration vllm(String instance, int rank, String endpoint) {
        return new ServiceRegistration(endpoint, "", ServiceType.VLLM, "qwen", instance, "default", "", 16, rank,
                ServiceRegistration.NO_CACHE_GROUP, PROFILE, "", ServiceRegistration.NO_LORA_ID);
    }

    @Test
    void shouldKeepOneStreamPerKeyWhenTheSameKeyIsRegisteredAndUnregisteredConcurrently() throws Exception {
        CountingStreams streams = new CountingStreams();
        ServiceRegistry registry = new ServiceRegistry(streams);
        ServiceRegistration reg = vllm("a", 0, "tcp://127.0.0.1:9000");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<?>> futures = new ArrayList<>();

        for (int t = 0; t < 4; t++) {
            boolean registering = t % 2 == 0;
            futures.add(pool.submit(() -> {
                go.await();
                for (int i = 0; i < 2000; i++) {
                    try {
                        if (registering) {
                            registry.register(reg);
                        } else {
                            registry.unregister(reg.key());
                        }
                    } catch (RegistrationException | UnregistrationException expected) {
                        // Being unregistered / not found are the expected races.
                    }
                }
                return null;
            }));
        }
        go.countDown();
        for (Future<?> f : futures) {
            f.get(60, TimeUnit.SECONDS);
        }
        pool.shutdown();

        assertEquals(1, streams.maxLive.get());
        int registered = registry.snapshot().services().size();
        assertEquals(registered, streams.live.get());
        assertTrue(registered <= 1);
    }

    @Test
    void shouldQuarantineAndRetryCleanupWhenPurgeFails() throws Exception {
        CountingStreams streams = new CountingStreams();
        ServiceRegistry registry = new ServiceRegistry(streams);
        ServiceRegistration reg = vllm("a", 0, "tcp://127.0.0.1:9001");
        registry.register(reg);
        streams.failCleanup.set(true);

        UnregistrationException failed = assertThrows(UnregistrationException.class,
                () -> registry.unregister(reg.key()));
        RegistrationException refused = assertThrows(RegistrationException.class, () -> registry.register(reg));
        RegistrationException endpointHeld = assertThrows(RegistrationException.class,
                () -> registry.register(vllm("b", 0, "tcp://127.0.0.1:9001")));
        streams.failCleanup.set(false);
        registry.unregister(reg.key());

        assertEquals("Failed to unregister prefix context: index is unavailable", failed.getMessage());
        assertEquals("service cleanup is quarantined: a|default|0", refused.getMessage());
        assertEquals("conflicting active registration for endpoint: tcp://127.0.0.1:9001",
                endpointHeld.getMessage());
        assertEquals(0, registry.snapshot().services().size());
        assertEquals(0, registry.snapshot().contexts().size());
    }

    @Test
    void shouldFreeTheContextBindingWhenItsLastRegistrationIsGone() throws Exception {
        ServiceRegistry registry = new ServiceRegistry(new CountingStreams());
        registry.register(vllm("a", 0, "tcp://127.0.0.1:9002"));
        registry.unregister(new ServiceKey("a", "default", 0));
        HashProfileSpec other = new HashProfileSpec("vllm_v1", "sha256", "0", "x", "low64_be");

        registry.register(new ServiceRegistration("tcp://127.0.0.1:9003", "", ServiceType.VLLM, "qwen", "a",
                "default", "", 16, 0, ServiceRegistration.NO_CACHE_GROUP, other, "", -1));

        assertEquals(other, registry.snapshot().contexts().get(new ContextKey("default", "qwen", 16)).profile());
    }

    @Test
    void shouldRefuseAConcurrentUnregisterWhileCleanupRuns() throws Exception {
        CountDownLatch inCleanup = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ServiceRegistry registry = new ServiceRegistry(new StreamLifecycle() {
            @Override
            public void start(ServiceRegistration registration) {
            }

            @Override
            public void stopAndPurge(ServiceRegistration registration) {
                inCleanup.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        ServiceRegistration reg = vllm("a", 0, "tcp://127.0.0.1:9004");
        registry.register(reg);
        Thread first = Thread.ofPlatform().start(() -> {
            try {
                registry.unregister(reg.key());
            } catch (UnregistrationException e) {
                throw new AssertionError(e);
            }
        });
        assertTrue(inCleanup.await(30, TimeUnit.SECONDS));

        UnregistrationException again = assertThrows(UnregistrationException.class,
                () -> registry.unregister(reg.key()));
        RegistrationException reRegister = assertThrows(RegistrationException.class, () -> registry.register(reg));
        release.countDown();
        first.join(30_000);

        assertEquals("service is already being unregistered: a|default|0", again.getMessage());
        assertEquals("service is being unregistered: a|default|0", reRegister.getMessage());
        assertEquals(0, registry.snapshot().services().size());
    }
}
