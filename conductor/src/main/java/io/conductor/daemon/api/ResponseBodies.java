package io.conductor.daemon.api;

import io.conductor.daemon.registry.HashProfileSpec;
import io.conductor.daemon.registry.RegistrySnapshot;
import io.conductor.daemon.registry.ServiceRegistration;
import io.conductor.index.prefix.ContextKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The response shapes of every route, written through {@link ResponseWriter} so msgpack and JSON agree. Key
 * names and nesting follow mooncake-api.md §3; extensions only add keys. Stateless and thread-safe.
 */
final class ResponseBodies {
    private ResponseBodies() {
    }

    static byte[] error(WireFormat format, ApiException e) {
        Reason reason = e.reason();
        String field = e.field();
        int size = 1 + (reason != null ? 1 : 0) + (field != null ? 1 : 0) + (e.index() >= 0 ? 1 : 0);
        ResponseWriter w = ResponseWriter.create(format).beginMap(size).field("error", e.getMessage());
        if (reason != null) {
            w.field("reason", reason.wireName());
        }
        if (field != null) {
            w.field("field", field);
        }
        if (e.index() >= 0) {
            w.field("index", e.index());
        }
        return w.endMap().toBytes();
    }

    static byte[] status(WireFormat format, String status) {
        return ResponseWriter.create(format).beginMap(1).field("status", status).endMap().toBytes();
    }

    static byte[] registered(WireFormat format, String instanceId) {
        return ResponseWriter.create(format).beginMap(2)
                .field("status", "registered successfully")
                .field("instance_id", instanceId)
                .endMap().toBytes();
    }

    static byte[] unregistered(WireFormat format, String key) {
        return ResponseWriter.create(format).beginMap(2)
                .field("status", "unregistered successfully")
                .key("removed_instances").beginArray(1).string(key).endArray()
                .endMap().toBytes();
    }

    static byte[] query(WireFormat format, QueryResult result) {
        return query(ResponseWriter.create(format), result).toBytes();
    }

    /** Writes a {@code /query} answer into {@code w} (e.g. the thread's reused writer); returns it. */
    static ResponseWriter query(ResponseWriter w, QueryResult result) {
        w.beginMap(1).key("instances")
                .beginMap(result.instances().size());
        for (QueryResult.InstanceMatch m : result.instances()) {
            w.key(m.instanceId());
            writeInstance(w, m);
        }
        return w.endMap().endMap();
    }

    private static void writeInstance(ResponseWriter w, QueryResult.InstanceMatch m) {
        w.beginMap(m.hasStore() ? 7 : 6).field("longest_matched", m.longestMatched());
        w.key("dp").beginMap(m.ranks().size());
        for (QueryResult.RankMatch r : m.ranks()) {
            w.field(rankKey(r.dpRank()), r.gpu());
        }
        w.endMap();
        w.key("rank_matches").beginMap(m.ranks().size());
        for (QueryResult.RankMatch r : m.ranks()) {
            w.key(rankKey(r.dpRank())).beginMap(3)
                    .field("gpu", r.gpu()).field("cpu", r.cpu()).field("disk", r.disk()).endMap();
        }
        w.endMap();
        w.field("gpu", m.gpu()).field("cpu", m.cpu()).field("disk", m.disk());
        writeStore(w, m);
        w.endMap();
    }

    /** Data-parallel rank keys up to this are shared constants (a query writes each rank twice). */
    private static final String[] RANK_KEYS = new String[256];

    static {
        for (int i = 0; i < RANK_KEYS.length; i++) {
            RANK_KEYS[i] = Integer.toString(i);
        }
    }

    private static String rankKey(int rank) {
        return rank >= 0 && rank < RANK_KEYS.length ? RANK_KEYS[rank] : Integer.toString(rank);
    }

    /** The extension key {@code store} (cumulative cursor after the store phase), only when it was consulted. */
    private static void writeStore(ResponseWriter w, QueryResult.InstanceMatch m) {
        if (m.hasStore()) {
            w.field("store", m.store());
        }
    }

    static byte[] route(WireFormat format, RoutePolicy.Decision d) {
        return route(ResponseWriter.create(format), d).toBytes();
    }

    /** Writes a {@code /route} answer into {@code w}; returns it. */
    static ResponseWriter route(ResponseWriter w, RoutePolicy.Decision d) {
        QueryResult.InstanceMatch best = d.chosen();
        w.beginMap(best.hasStore() ? 8 : 7)
                .field("instance_id", best.instanceId())
                .field("longest_matched", best.longestMatched())
                .field("gpu", best.gpu()).field("cpu", best.cpu()).field("disk", best.disk())
                .field("reason", d.reason());
        writeStore(w, best);
        w.key("candidates").beginMap(d.candidates().size());
        for (QueryResult.InstanceMatch c : d.candidates()) {
            w.key(c.instanceId()).beginMap(c.hasStore() ? 5 : 4).field("longest_matched", c.longestMatched())
                    .field("gpu", c.gpu()).field("cpu", c.cpu()).field("disk", c.disk());
            writeStore(w, c);
            w.endMap();
        }
        return w.endMap().endMap();
    }

    /**
     * The cost policy's answer: the chosen instance's matches, {@code reason}, {@code policy}, {@code route_id}
     * (for {@code /feedback}), {@code estimate} (its parts, microseconds and tokens), and per candidate its matches
     * with {@code ttft_us} and {@code queue_us}.
     */
    static byte[] costRoute(WireFormat format, CostRoutePolicy.Decision d) {
        return costRoute(ResponseWriter.create(format), d).toBytes();
    }

    /** Writes a cost-policy {@code /route} answer into {@code w}; returns it. */
    static ResponseWriter costRoute(ResponseWriter w, CostRoutePolicy.Decision d) {
        QueryResult.InstanceMatch best = d.chosen();
        CostRoutePolicy.Estimate e = d.estimate();
        w.beginMap(best.hasStore() ? 11 : 10)
                .field("instance_id", best.instanceId())
                .field("longest_matched", best.longestMatched())
                .field("gpu", best.gpu()).field("cpu", best.cpu()).field("disk", best.disk())
                .field("reason", d.reason())
                .field("policy", RoutingSettings.POLICY_COST)
                .field("route_id", d.routeId());
        writeStore(w, best);
        w.key("estimate").beginMap(6)
                .field("ttft_us", e.ttftNanos() / 1000)
                .field("queue_us", e.queueNanos() / 1000)
                .field("prefill_us", e.prefillNanos() / 1000)
                .field("transfer_us", e.transferNanos() / 1000)
                .field("compute_tokens", e.computeTokens())
                .field("transfer_tokens", e.transferTokens())
                .endMap();
        w.key("candidates").beginMap(d.candidates().size());
        for (int i = 0; i < d.candidates().size(); i++) {
            QueryResult.InstanceMatch c = d.candidates().get(i);
            CostRoutePolicy.Estimate ce = d.estimates().get(i);
            w.key(c.instanceId()).beginMap(c.hasStore() ? 7 : 6).field("longest_matched", c.longestMatched())
                    .field("gpu", c.gpu()).field("cpu", c.cpu()).field("disk", c.disk())
                    .field("ttft_us", ce.ttftNanos() / 1000).field("queue_us", ce.queueNanos() / 1000);
            writeStore(w, c);
            w.endMap();
        }
        return w.endMap().endMap();
    }

    static byte[] cache(WireFormat format, Map<String, Long> percents) {
        ResponseWriter w = ResponseWriter.create(format).beginMap(2).key("HitStatus").beginMap(percents.size());
        for (Map.Entry<String, Long> e : percents.entrySet()) {
            w.field(e.getKey(), e.getValue());
        }
        return w.endMap().field("status", "ok").endMap().toBytes();
    }

    /**
     * One entry per (context, LoRA), as the reference keys contexts by LoRA: every {@code lora_name} a registration
     * gave, plus every LoRA the index holds blocks for (adapters published on a base registration's stream).
     * {@code instances} are the registrations of that LoRA, or every instance of the context for a LoRA no
     * registration names (they can all serve it).
     */
    static byte[] globalView(WireFormat format, RegistrySnapshot snapshot,
            Function<ContextKey, Map<String, Long>> prefixCounts) {
        List<ContextEntry> entries = new ArrayList<>();
        for (RegistrySnapshot.Context c : snapshot.contexts().values()) {
            Map<String, Long> counts = prefixCounts.apply(c.key());
            java.util.TreeSet<String> loras = new java.util.TreeSet<>(c.loraNames());
            loras.addAll(counts.keySet());
            for (String lora : loras) {
                SortedMap<String, int[]> instances = c.loraNames().contains(lora)
                        ? c.instanceRanksByLora().getOrDefault(lora, java.util.Collections.emptySortedMap())
                        : c.instanceRanks();
                entries.add(new ContextEntry(c, lora, counts.getOrDefault(lora, 0L), instances));
            }
        }
        ResponseWriter w = ResponseWriter.create(format).beginMap(2).field("context_count", entries.size());
        w.key("contexts").beginArray(entries.size());
        for (ContextEntry e : entries) {
            w.beginMap(7)
                    .field("model_name", e.context().key().modelName())
                    .field("lora_name", e.lora())
                    .field("block_size", e.context().key().blockSize())
                    .field("tenant_id", e.context().key().tenantId())
                    .field("prefix_count", e.prefixCount());
            w.key("hash_profile");
            writeProfile(w, e.context().profile());
            w.key("instances").beginMap(e.instances().size());
            for (Map.Entry<String, int[]> i : e.instances().entrySet()) {
                w.key(i.getKey()).beginArray(i.getValue().length);
                for (int rank : i.getValue()) {
                    w.integer(rank);
                }
                w.endArray();
            }
            w.endMap().endMap();
        }
        return w.endArray().endMap().toBytes();
    }

    private record ContextEntry(RegistrySnapshot.Context context, String lora, long prefixCount,
            SortedMap<String, int[]> instances) {
    }

    static byte[] services(WireFormat format, RegistrySnapshot snapshot,
            java.util.function.Function<io.conductor.daemon.registry.ServiceKey, @Nullable String> streamState,
            java.util.function.Function<io.conductor.daemon.registry.ServiceKey, Map<String, Long>> skipped) {
        List<RegistrySnapshot.Service> services = snapshot.services();
        ResponseWriter w = ResponseWriter.create(format).beginMap(2).field("count", services.size());
        w.key("services").beginArray(services.size());
        for (RegistrySnapshot.Service s : services) {
            ServiceRegistration r = s.registration();
            w.beginMap(16)
                    .field("Endpoint", r.endpoint())
                    .field("ReplayEndpoint", r.replayEndpoint())
                    .field("Type", r.type().wireName())
                    .field("ModelName", r.modelName())
                    .field("LoraName", r.loraName())
                    .field("TenantID", r.tenantId())
                    .field("InstanceID", r.instanceId())
                    .field("BlockSize", r.blockSize())
                    .field("DPRank", r.dpRank());
            w.key("CacheGroup");
            if (r.cacheGroup() == ServiceRegistration.NO_CACHE_GROUP) {
                w.nil();
            } else {
                w.integer(r.cacheGroup());
            }
            w.key("HashProfile");
            writeProfile(w, r.profile());
            w.field("AdditionalSalt", r.additionalSalt());
            w.field("KvRole", r.kvRole().wireName());
            w.field("State", s.state().name().toLowerCase(java.util.Locale.ROOT));
            String stream = streamState.apply(r.key());
            w.key("StreamState");
            if (stream == null) {
                w.nil();
            } else {
                w.string(stream);
            }
            Map<String, Long> skips = skipped.apply(r.key());
            w.key("SkippedEvents").beginMap(skips.size());
            for (Map.Entry<String, Long> e : skips.entrySet()) {
                w.field(e.getKey(), e.getValue());
            }
            w.endMap();
            w.endMap();
        }
        return w.endArray().endMap().toBytes();
    }

    /** The five profile keys, or nil for a context in token-rehash mode. */
    private static void writeProfile(ResponseWriter w, @Nullable HashProfileSpec p) {
        if (p == null) {
            w.nil();
            return;
        }
        w.beginMap(5)
                .field("strategy", p.strategy())
                .field("algorithm", p.algorithm())
                .field("python_hash_seed", p.pythonHashSeed())
                .field("root_digest", p.rootDigest())
                .field("index_projection", p.indexProjection())
                .endMap();
    }
}
