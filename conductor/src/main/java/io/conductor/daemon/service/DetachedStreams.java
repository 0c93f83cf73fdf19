package io.conductor.daemon.service;

import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.daemon.registry.StreamLifecycle;
import java.util.Objects;

/**
 * PLACEHOLDER until the events module lands: accepts well-formed endpoints without opening sockets (so no event
 * ever reaches the index from it), and on stop purges the subscription's records from the index. Thread-safe.
 */
public final class DetachedStreams implements StreamLifecycle {
    private final PrefixIndexPort index;

    /**
     * Creates the placeholder.
     *
     * @param index the index to purge on stop
     */
    public DetachedStreams(PrefixIndexPort index) {
        this.index = Objects.requireNonNull(index, "index");
    }

    @Override
    public void start(ServiceRegistration registration) throws StreamException {
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
    public void stopAndPurge(ServiceRegistration registration) {
        index.purge(registration);
    }
}
