package io.conductor.daemon.service;

import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.StreamLifecycle.StreamException;
import io.conductor.index.prefix.PoolStream;
import io.conductor.index.prefix.PrefixIndex;
import io.conductor.index.prefix.RankHandle;
import org.jspecify.annotations.Nullable;

/**
 * PLACEHOLDER until the events module is wired: validates the endpoints and opens no socket, so no event ever
 * reaches the index from it. Thread-safe (stateless).
 */
public final class EndpointOnlyStreams implements EventStreams {
    @Override
    public void start(ServiceRegistration registration, PrefixIndex<?> index, @Nullable RankHandle rank,
            @Nullable PoolStream pool) throws StreamException {
        check(registration.endpoint());
        if (!registration.replayEndpoint().isEmpty()) {
            check(registration.replayEndpoint());
        }
    }

    private static void check(String endpoint) throws StreamException {
        String problem = EndpointSyntax.problem(endpoint);
        if (problem != null) {
            throw new StreamException(problem);
        }
    }

    @Override
    public void stop(ServiceRegistration registration) {
    }
}
