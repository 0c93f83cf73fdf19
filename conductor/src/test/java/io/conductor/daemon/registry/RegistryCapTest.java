package io.conductor.daemon.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The registry's cap ({@link ServiceRegistry#MAX_SERVICES}), which bounds every per-registration structure (streams,
 * metric series and label values), and its change listeners.
 */
class RegistryCapTest {
    private static final StreamLifecycle NO_STREAMS = new StreamLifecycle() {
        @Override
        public void start(ServiceRegistration registration) {
        }

        @Override
        public void stopAndPurge(ServiceRegistration registration) {
        }
    };

    private static ServiceRegistration registration(int i) {
        return new ServiceRegistration("tcp://127.0.0.1:" + (10_000 + i), "", ServiceType.VLLM, "qwen", "i-" + i,
                "default", "", 16, 0, ServiceRegistration.NO_CACHE_GROUP, null, "", ServiceRegistration.NO_LORA_ID);
    }

    @Test
    void shouldRefuseARegistrationBeyondTheCapAndAcceptOneAfterAnUnregister() throws Exception {
        int cap = 64;
        ServiceRegistry registry = new ServiceRegistry(NO_STREAMS, cap);
        AtomicInteger changes = new AtomicInteger();
        registry.onChange(changes::incrementAndGet);
        for (int i = 0; i < cap; i++) {
            registry.register(registration(i));
        }
        assertEquals(cap, changes.get(), "one change per registration");

        RegistrationException refused = assertThrows(RegistrationException.class,
                () -> registry.register(registration(cap)));
        assertEquals(RegistrationException.Kind.INVALID, refused.kind());
        assertEquals("too many registrations: at most 64 keys can be registered", refused.getMessage());
        assertEquals(cap, registry.snapshot().services().size());

        registry.unregister(registration(0).key());
        assertEquals(ServiceRegistry.Outcome.CREATED, registry.register(registration(cap)));
        assertEquals(cap, registry.snapshot().services().size());
        assertEquals(cap + 3, changes.get(), "an unregister publishes twice (unregistering, then gone)");
    }
}
