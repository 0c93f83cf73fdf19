package io.conductor.daemon.api;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Which ZMQ endpoints a registration may name: well-formed ones ({@code tcp://host:port} with a DNS name, an IPv4
 * literal or a bracketed IPv6 literal and a port in 1..65535; {@code ipc://path}; {@code inproc://name}), never a
 * wildcard bind ({@code tcp://*:P}, which makes the daemon listen on every interface) unless allowed, and, when an
 * allowlist is configured, only TCP hosts it names: an IP literal must lie in one of its CIDR blocks, a name must
 * match one of its host patterns ({@code *} matches any run of characters; names are not resolved). ipc and inproc
 * endpoints are local and not subject to the allowlist.
 *
 * <p>Immutable and thread-safe.
 *
 * @param allowWildcardBind whether {@code tcp://*:P} endpoints are accepted
 * @param allowlist CIDR blocks and host patterns; empty: any host
 */
public record EndpointPolicy(boolean allowWildcardBind, List<String> allowlist) {
    private static final Pattern TCP = Pattern.compile("tcp://(\\*|\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9._-]+):([0-9]{1,5})");
    private static final Pattern IPV4 = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
    private static final Pattern LOCAL = Pattern.compile("(ipc|inproc)://[\\x21-\\x7e]+");

    /**
     * Copies the allowlist and checks each entry's form.
     *
     * @throws IllegalArgumentException if an entry is neither a CIDR block nor a host pattern
     */
    public EndpointPolicy {
        allowlist = List.copyOf(allowlist);
        for (String entry : allowlist) {
            if (entry.contains("/")) {
                parseCidr(entry);
            } else if (!entry.matches("[A-Za-z0-9.*_:\\[\\]-]+")) {
                throw new IllegalArgumentException("allowlist entry is neither a CIDR block nor a host pattern: \""
                        + entry + "\"");
            }
        }
    }

    /**
     * Returns the default policy: no wildcard binds, any host.
     *
     * @return the policy
     */
    public static EndpointPolicy defaults() {
        return new EndpointPolicy(false, List.of());
    }

    /**
     * Checks an endpoint given in a request.
     *
     * @param field the request field ({@code endpoint} or {@code replay_endpoint})
     * @param endpoint the value
     * @throws ApiException 400 {@code invalid_value} if it is malformed; 400 {@code not_allowed} if it is a
     *     wildcard bind that is not allowed, or its host is not on the allowlist
     */
    public void check(String field, String endpoint) {
        String problem = malformation(endpoint);
        if (problem != null) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, field, field + " " + problem);
        }
        Matcher m = TCP.matcher(endpoint);
        if (!m.matches()) {
            return; // ipc:// or inproc://
        }
        String host = m.group(1);
        if (host.equals("*")) {
            if (!allowWildcardBind) {
                throw ApiException.badRequest(Reason.NOT_ALLOWED, field, field + " " + LogText.quote(endpoint)
                        + " would bind on every interface; set api.allow_wildcard_bind to allow it");
            }
            return;
        }
        if (!allowlist.isEmpty() && !allowed(host)) {
            throw ApiException.badRequest(Reason.NOT_ALLOWED, field, field + " host " + LogText.quote(host)
                    + " is not on the endpoint allowlist");
        }
    }

    /**
     * Returns why an endpoint is malformed, or {@code null} when it is well formed (wildcards included).
     *
     * @param endpoint the endpoint
     * @return the problem, or {@code null}
     */
    public static @Nullable String malformation(String endpoint) {
        if (LOCAL.matcher(endpoint).matches()) {
            return null;
        }
        if (endpoint.startsWith("ipc://") || endpoint.startsWith("inproc://")) {
            return "must name a path after the transport (printable characters, no spaces)";
        }
        Matcher m = TCP.matcher(endpoint);
        if (!m.matches()) {
            int colon = endpoint.indexOf("://");
            if (colon > 0 && !endpoint.startsWith("tcp://")) {
                return "has an unsupported transport " + LogText.quote(endpoint.substring(0, colon))
                        + " (tcp, ipc or inproc, lowercase)";
            }
            return "must be tcp://HOST:PORT, ipc://PATH or inproc://NAME, got " + LogText.quote(endpoint);
        }
        int port = Integer.parseInt(m.group(2));
        if (port < 1 || port > 65_535) {
            return "port must be in 1..65535, got " + port;
        }
        String host = m.group(1);
        if (IPV4.matcher(host).matches()) {
            for (String octet : host.split("\\.", -1)) {
                if (Integer.parseInt(octet) > 255) {
                    return "has an invalid IPv4 address " + LogText.quote(host);
                }
            }
        } else if (host.startsWith("[")) {
            try {
                InetAddress.getByName(host.substring(1, host.length() - 1)); // a literal: no lookup
            } catch (UnknownHostException | IllegalArgumentException e) {
                return "has an invalid IPv6 address " + LogText.quote(host);
            }
        } else if (!host.equals("*") && (host.startsWith(".") || host.endsWith(".") || host.contains(".."))) {
            return "has an invalid host name " + LogText.quote(host);
        }
        return null;
    }

    private boolean allowed(String host) {
        byte[] address = literal(host);
        for (String entry : allowlist) {
            if (entry.contains("/")) {
                if (address != null && inCidr(address, entry)) {
                    return true;
                }
            } else if (glob(entry.toLowerCase(Locale.ROOT)).matcher(host.toLowerCase(Locale.ROOT)).matches()) {
                return true;
            }
        }
        return false;
    }

    private static byte @Nullable [] literal(String host) {
        String text = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        if (!host.startsWith("[") && !IPV4.matcher(host).matches()) {
            return null;
        }
        try {
            return InetAddress.getByName(text).getAddress();
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static Pattern glob(String pattern) {
        StringBuilder regex = new StringBuilder();
        for (String part : pattern.split("\\*", -1)) {
            if (!regex.isEmpty()) {
                regex.append(".*");
            }
            regex.append(Pattern.quote(part));
        }
        return Pattern.compile(regex.toString());
    }

    private record Cidr(byte[] network, int bits) {
    }

    private static boolean inCidr(byte[] address, String cidr) {
        Cidr parsed = parseCidr(cidr);
        byte[] network = parsed.network();
        int bits = parsed.bits();
        if (network.length != address.length) {
            return false;
        }
        for (int i = 0; i < bits; i++) {
            int mask = 0x80 >>> (i & 7);
            if ((network[i >>> 3] & mask) != (address[i >>> 3] & mask)) {
                return false;
            }
        }
        return true;
    }

    /** Parses {@code address/bits}; throws IllegalArgumentException when malformed. */
    private static Cidr parseCidr(String cidr) {
        int slash = cidr.indexOf('/');
        String net = cidr.substring(0, slash);
        if (!IPV4.matcher(net).matches() && !net.contains(":")) {
            throw new IllegalArgumentException("CIDR block must start with an IP literal: \"" + cidr + "\"");
        }
        byte[] address;
        int bits;
        try {
            address = InetAddress.getByName(net).getAddress();
            bits = Integer.parseInt(cidr.substring(slash + 1));
        } catch (UnknownHostException | NumberFormatException e) {
            throw new IllegalArgumentException("malformed CIDR block: \"" + cidr + "\"", e);
        }
        if (bits < 0 || bits > address.length * 8) {
            throw new IllegalArgumentException("CIDR prefix out of range: \"" + cidr + "\"");
        }
        return new Cidr(address, bits);
    }
}
