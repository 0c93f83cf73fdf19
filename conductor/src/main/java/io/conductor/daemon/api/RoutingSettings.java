package io.conductor.daemon.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The {@code routing} block of the configuration: the default {@code /route} policy, the prefill cost every
 * instance starts from (and per-instance overrides), the transfer cost of each lower tier, the reservation TTL and
 * whether {@code /feedback} refines the prefill cost. Immutable and thread-safe.
 *
 * @param defaultPolicy {@link #POLICY_COST} or {@link #POLICY_LONGEST_PREFIX}, used when a request names none
 * @param prefill the prefill cost of an instance without an override
 * @param instances per-instance prefill cost overrides, by instance id
 * @param cpuTokensPerSecond how fast a CPU-tier hit is loaded onto the GPU, tokens per second
 * @param diskTokensPerSecond the same for a disk-tier hit (instance-local FS/OBJ or the Mooncake disk pool)
 * @param storeTokensPerSecond the same for a Mooncake Store hit
 * @param reservationTtlMillis how long a reservation counts when neither its BlockStored nor feedback arrives
 * @param learn whether {@code /feedback} durations refine each instance's prefill cost
 * @param requestClock whether the reservations' clock is the {@code clock_ms} that {@code /route} and
 *     {@code /feedback} carry (trace replays on a simulated clock) instead of the wall clock
 * @param scrapeEndpoints vLLM {@code /metrics} URLs to scrape, by instance id; empty = scraping off
 * @param scrapeIntervalMillis how often they are scraped
 */
public record RoutingSettings(String defaultPolicy, PrefillProfile prefill, Map<String, PrefillProfile> instances,
        double cpuTokensPerSecond, double diskTokensPerSecond, double storeTokensPerSecond,
        long reservationTtlMillis, boolean learn, boolean requestClock, Map<String, URI> scrapeEndpoints,
        long scrapeIntervalMillis) {
    /** The cost model: least estimated time to first token. */
    public static final String POLICY_COST = "cost";
    /** The previous behaviour: longest usable prefix, ties rotate, round robin without hits, a load guard. */
    public static final String POLICY_LONGEST_PREFIX = "longest_prefix";
    /** Scrape interval when {@code routing.scrape} gives none. */
    public static final long DEFAULT_SCRAPE_INTERVAL_MILLIS = 1000;
    /** At most this many per-instance overrides (the map is read on every decision). */
    public static final int MAX_INSTANCE_OVERRIDES = 4096;

    private static final Set<String> KEYS = Set.of("policy", "prefill", "instances", "transfer_tokens_per_second",
            "reservation_ttl_ms", "learn", "clock", "scrape");

    /**
     * A prefill cost: {@code overhead + uncached tokens / tokensPerSecond}.
     *
     * @param tokensPerSecond prefill throughput, tokens per second, {@code > 0}
     * @param overheadMillis fixed cost per request, milliseconds, {@code >= 0}
     */
    public record PrefillProfile(double tokensPerSecond, double overheadMillis) {
        /** 10,000 tokens/s and 20 ms: a mid-size model on one current GPU. */
        public static final PrefillProfile DEFAULT = new PrefillProfile(10_000, 20);

        /**
         * Checks the values.
         *
         * @throws IllegalArgumentException if the throughput is not positive or the overhead negative
         */
        public PrefillProfile {
            if (!(tokensPerSecond > 0) || Double.isInfinite(tokensPerSecond) || !(overheadMillis >= 0)
                    || Double.isInfinite(overheadMillis)) {
                throw new IllegalArgumentException("prefill cost needs tokens_per_second > 0 and overhead_ms >= 0");
            }
        }
    }

    /**
     * Checks the values and copies the map.
     *
     * @throws IllegalArgumentException if a value is out of range
     */
    public RoutingSettings {
        if (!defaultPolicy.equals(POLICY_COST) && !defaultPolicy.equals(POLICY_LONGEST_PREFIX)) {
            throw new IllegalArgumentException("routing.policy must be \"cost\" or \"longest_prefix\"");
        }
        instances = Map.copyOf(instances);
        scrapeEndpoints = Map.copyOf(scrapeEndpoints);
        if (scrapeIntervalMillis < 50 || scrapeIntervalMillis > 600_000) {
            throw new IllegalArgumentException("routing.scrape.interval_ms must be in 50..600000");
        }
        if (!(cpuTokensPerSecond > 0) || !(diskTokensPerSecond > 0) || !(storeTokensPerSecond > 0)) {
            throw new IllegalArgumentException("routing.transfer_tokens_per_second values must be > 0");
        }
        if (reservationTtlMillis <= 0) {
            throw new IllegalArgumentException("routing.reservation_ttl_ms must be > 0");
        }
    }

    /**
     * Settings on the wall clock.
     *
     * @param defaultPolicy the default policy
     * @param prefill the default prefill cost
     * @param instances per-instance prefill costs
     * @param cpuTokensPerSecond CPU-tier load speed
     * @param diskTokensPerSecond disk-tier load speed
     * @param storeTokensPerSecond Mooncake Store load speed
     * @param reservationTtlMillis reservation TTL
     * @param learn whether feedback refines the prefill cost
     */
    public RoutingSettings(String defaultPolicy, PrefillProfile prefill, Map<String, PrefillProfile> instances,
            double cpuTokensPerSecond, double diskTokensPerSecond, double storeTokensPerSecond,
            long reservationTtlMillis, boolean learn) {
        this(defaultPolicy, prefill, instances, cpuTokensPerSecond, diskTokensPerSecond, storeTokensPerSecond,
                reservationTtlMillis, learn, false);
    }

    /**
     * Settings without scraping.
     *
     * @param defaultPolicy the default policy
     * @param prefill the default prefill cost
     * @param instances per-instance prefill costs
     * @param cpuTokensPerSecond CPU-tier load speed
     * @param diskTokensPerSecond disk-tier load speed
     * @param storeTokensPerSecond Mooncake Store load speed
     * @param reservationTtlMillis reservation TTL
     * @param learn whether feedback refines the prefill cost
     * @param requestClock whether reservations run on the requests' {@code clock_ms}
     */
    public RoutingSettings(String defaultPolicy, PrefillProfile prefill, Map<String, PrefillProfile> instances,
            double cpuTokensPerSecond, double diskTokensPerSecond, double storeTokensPerSecond,
            long reservationTtlMillis, boolean learn, boolean requestClock) {
        this(defaultPolicy, prefill, instances, cpuTokensPerSecond, diskTokensPerSecond, storeTokensPerSecond,
                reservationTtlMillis, learn, requestClock, Map.of(), DEFAULT_SCRAPE_INTERVAL_MILLIS);
    }

    /**
     * Returns the defaults: the cost policy, {@link PrefillProfile#DEFAULT}, CPU 200k, disk 25k and store 50k
     * tokens/s, a 30 s TTL, learning on.
     *
     * @return the defaults
     */
    public static RoutingSettings defaults() {
        return new RoutingSettings(POLICY_COST, PrefillProfile.DEFAULT, Map.of(), 200_000, 25_000, 50_000, 30_000,
                true);
    }

    /**
     * Returns the same settings with another default policy.
     *
     * @param policy {@link #POLICY_COST} or {@link #POLICY_LONGEST_PREFIX}
     * @return the new settings
     */
    public RoutingSettings withDefaultPolicy(String policy) {
        return new RoutingSettings(policy, prefill, instances, cpuTokensPerSecond, diskTokensPerSecond,
                storeTokensPerSecond, reservationTtlMillis, learn, requestClock, scrapeEndpoints, scrapeIntervalMillis);
    }

    /**
     * Returns the configured prefill cost of an instance.
     *
     * @param instanceId the instance
     * @return its override, else the default
     */
    public PrefillProfile prefillOf(String instanceId) {
        PrefillProfile p = instances.get(instanceId);
        return p == null ? prefill : p;
    }

    /**
     * Parses the configuration's {@code routing} block; absent or null gives {@link #defaults()}.
     *
     * @param node the block
     * @return the settings
     * @throws IllegalArgumentException with a message naming the key, the expected form and the value found
     */
    public static RoutingSettings parse(@Nullable JsonNode node) {
        RoutingSettings d = defaults();
        if (node == null || node.isNull()) {
            return d;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException("routing: expected an object, got " + node);
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("routing: unknown key \"" + key + "\" (known: " + KEYS + ")");
            }
        }
        String policy = d.defaultPolicy();
        JsonNode p = node.get("policy");
        if (p != null) {
            if (!p.isTextual() || !(p.asText().equals(POLICY_COST) || p.asText().equals(POLICY_LONGEST_PREFIX))) {
                throw new IllegalArgumentException("routing.policy: expected \"cost\" or \"longest_prefix\", got " + p);
            }
            policy = p.asText();
        }
        PrefillProfile prefill = profile("routing.prefill", node.get("prefill"), d.prefill());
        Map<String, PrefillProfile> instances = new HashMap<>();
        JsonNode inst = node.get("instances");
        if (inst != null && !inst.isNull()) {
            if (!inst.isObject() || inst.size() > MAX_INSTANCE_OVERRIDES) {
                throw new IllegalArgumentException("routing.instances: expected an object of at most "
                        + MAX_INSTANCE_OVERRIDES + " instance ids, got " + abbreviate(inst));
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = inst.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                instances.put(e.getKey(), profile("routing.instances." + e.getKey(), e.getValue(), prefill));
            }
        }
        double cpu = d.cpuTokensPerSecond();
        double disk = d.diskTokensPerSecond();
        double store = d.storeTokensPerSecond();
        JsonNode t = node.get("transfer_tokens_per_second");
        if (t != null && !t.isNull()) {
            if (!t.isObject()) {
                throw new IllegalArgumentException("routing.transfer_tokens_per_second: expected an object "
                        + "{\"cpu\", \"disk\", \"store\"}, got " + t);
            }
            for (Iterator<String> it = t.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!Set.of("cpu", "disk", "store").contains(k)) {
                    throw new IllegalArgumentException("routing.transfer_tokens_per_second: unknown tier \"" + k
                            + "\" (known: cpu, disk, store)");
                }
            }
            cpu = positive("routing.transfer_tokens_per_second.cpu", t.get("cpu"), cpu);
            disk = positive("routing.transfer_tokens_per_second.disk", t.get("disk"), disk);
            store = positive("routing.transfer_tokens_per_second.store", t.get("store"), store);
        }
        long ttl = d.reservationTtlMillis();
        JsonNode ttlNode = node.get("reservation_ttl_ms");
        if (ttlNode != null) {
            if (!ttlNode.canConvertToLong() || !ttlNode.isIntegralNumber() || ttlNode.asLong() <= 0
                    || ttlNode.asLong() > 3_600_000) {
                throw new IllegalArgumentException("routing.reservation_ttl_ms: expected an integer in 1..3600000, got "
                        + ttlNode);
            }
            ttl = ttlNode.asLong();
        }
        boolean learn = d.learn();
        JsonNode learnNode = node.get("learn");
        if (learnNode != null) {
            if (!learnNode.isBoolean()) {
                throw new IllegalArgumentException("routing.learn: expected true or false, got " + learnNode);
            }
            learn = learnNode.asBoolean();
        }
        boolean requestClock = false;
        JsonNode clock = node.get("clock");
        if (clock != null) {
            if (!clock.isTextual() || !(clock.asText().equals("wall") || clock.asText().equals("request"))) {
                throw new IllegalArgumentException("routing.clock: expected \"wall\" or \"request\", got " + clock);
            }
            requestClock = clock.asText().equals("request");
        }
        Map<String, URI> scrape = new HashMap<>();
        long interval = DEFAULT_SCRAPE_INTERVAL_MILLIS;
        JsonNode sc = node.get("scrape");
        if (sc != null && !sc.isNull()) {
            if (!sc.isObject()) {
                throw new IllegalArgumentException("routing.scrape: expected an object {\"interval_ms\", "
                        + "\"endpoints\"}, got " + abbreviate(sc));
            }
            for (Iterator<String> it = sc.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.equals("interval_ms") && !k.equals("endpoints")) {
                    throw new IllegalArgumentException("routing.scrape: unknown key \"" + k
                            + "\" (known: interval_ms, endpoints)");
                }
            }
            JsonNode iv = sc.get("interval_ms");
            if (iv != null) {
                if (!iv.isIntegralNumber() || !iv.canConvertToLong() || iv.asLong() < 50 || iv.asLong() > 600_000) {
                    throw new IllegalArgumentException("routing.scrape.interval_ms: expected an integer in 50..600000, "
                            + "got " + iv);
                }
                interval = iv.asLong();
            }
            JsonNode eps = sc.get("endpoints");
            if (eps != null && !eps.isNull()) {
                if (!eps.isObject() || eps.size() > MAX_INSTANCE_OVERRIDES) {
                    throw new IllegalArgumentException("routing.scrape.endpoints: expected an object of at most "
                            + MAX_INSTANCE_OVERRIDES + " instance ids to http(s) URLs, got " + abbreviate(eps));
                }
                for (Iterator<Map.Entry<String, JsonNode>> it = eps.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    scrape.put(e.getKey(), url("routing.scrape.endpoints." + e.getKey(), e.getValue()));
                }
            }
        }
        return new RoutingSettings(policy, prefill, instances, cpu, disk, store, ttl, learn, requestClock, scrape,
                interval);
    }

    private static PrefillProfile profile(String name, @Nullable JsonNode node, PrefillProfile base) {
        if (node == null || node.isNull()) {
            return base;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException(name + ": expected an object {\"tokens_per_second\", \"overhead_ms\"}, got "
                    + abbreviate(node));
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals("tokens_per_second") && !k.equals("overhead_ms")) {
                throw new IllegalArgumentException(name + ": unknown key \"" + k
                        + "\" (known: tokens_per_second, overhead_ms)");
            }
        }
        double tps = positive(name + ".tokens_per_second", node.get("tokens_per_second"), base.tokensPerSecond());
        double overhead = base.overheadMillis();
        JsonNode o = node.get("overhead_ms");
        if (o != null) {
            if (!o.isNumber() || !(o.asDouble() >= 0) || Double.isInfinite(o.asDouble())) {
                throw new IllegalArgumentException(name + ".overhead_ms: expected a number >= 0, got " + o);
            }
            overhead = o.asDouble();
        }
        return new PrefillProfile(tps, overhead);
    }

    private static URI url(String name, JsonNode node) {
        if (node.isTextual()) {
            try {
                URI u = new URI(node.asText());
                if (("http".equals(u.getScheme()) || "https".equals(u.getScheme())) && u.getHost() != null) {
                    return u;
                }
            } catch (URISyntaxException e) {
                // reported below
            }
        }
        throw new IllegalArgumentException(name + ": expected an http(s) URL such as \"http://10.0.0.5:8000/metrics\", "
                + "got " + abbreviate(node));
    }

    private static double positive(String name, @Nullable JsonNode node, double fallback) {
        if (node == null) {
            return fallback;
        }
        if (!node.isNumber() || !(node.asDouble() > 0) || Double.isInfinite(node.asDouble())) {
            throw new IllegalArgumentException(name + ": expected a number > 0, got " + node);
        }
        return node.asDouble();
    }

    private static String abbreviate(JsonNode node) {
        String s = node.toString();
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
