package io.conductor.daemon.service;

import java.util.regex.Pattern;

/**
 * The ZMQ endpoint forms a subscription accepts: {@code tcp://host:port} (host a name, an IPv4 literal, an
 * IPv6 literal in brackets, or {@code *} to bind), {@code ipc://path}, {@code inproc://name}. Stateless.
 */
final class EndpointSyntax {
    private static final Pattern TCP = Pattern.compile("tcp://(\\*|\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9._-]+):(\\d{1,5})");

    private EndpointSyntax() {
    }

    /**
     * Returns why an endpoint is malformed, or {@code null} if it is well formed.
     *
     * @param endpoint the endpoint
     * @return the problem, or {@code null}
     */
    static @org.jspecify.annotations.Nullable String problem(String endpoint) {
        if ((endpoint.startsWith("ipc://") && endpoint.length() > 6)
                || (endpoint.startsWith("inproc://") && endpoint.length() > 9)) {
            return null;
        }
        var m = TCP.matcher(endpoint);
        if (!m.matches()) {
            return "initial connection failed: failed to connect to " + endpoint + ": Invalid argument";
        }
        int port = Integer.parseInt(m.group(2));
        if (port < 1 || port > 65535) {
            return "initial connection failed: failed to connect to " + endpoint + ": port out of range";
        }
        return null;
    }
}
