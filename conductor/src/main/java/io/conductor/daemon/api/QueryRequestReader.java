package io.conductor.daemon.api;

import io.conductor.daemon.registry.ServiceKey;
import io.conductor.index.prefix.ContextKey;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Reads {@code /query}, {@code /query_by_hash} and {@code /route} bodies. Keys are scanned in body order (a later
 * duplicate overwrites an earlier one) and checked as they come, so an invalid value before an unknown key is
 * reported first; missing required keys are reported after the scan, in the order model, block_size, prompt
 * (mooncake-api.md §3.4). One instance per request; not thread-safe.
 */
final class QueryRequestReader {
    /** Which route's body this reader accepts. */
    enum Kind {
        /** {@code /query}: token ids. */
        QUERY,
        /** {@code /query_by_hash}: precomputed hashes ({@code seq_hashes} or RFC #1403's {@code block_hash}). */
        QUERY_BY_HASH,
        /** {@code /route}: token ids plus an optional candidate list. */
        ROUTE
    }

    /**
     * A route request: the query and its candidates.
     *
     * @param query the prompt query
     * @param candidates the candidate instances, or {@code null} for every registered instance
     * @param loads in-flight requests per instance as the proxy reports them, or {@code null}
     * @param loadTokens in-flight (not yet prefilled) tokens per instance as the proxy reports them, or {@code null}
     * @param policy the policy the request names ({@code cost} or {@code longest_prefix}), or {@code null}
     * @param clockMillis the request's {@code clock_ms} (replays on a simulated clock), or {@code -1}
     */
    record RouteRequest(PromptQuery query, @Nullable List<String> candidates, @Nullable Map<String, Long> loads,
            @Nullable Map<String, Long> loadTokens, @Nullable String policy, long clockMillis) {
    }

    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Most candidates one {@code /route} may name. */
    static final int MAX_CANDIDATES = 4096;

    private final Kind kind;
    private final ApiLimits limits;
    private final MemoryBudget.Charge charge;
    private final @Nullable RequestScratch scratch;
    private @Nullable String model;
    private long blockSize;
    private int @Nullable [] tokens;
    private int tokenCount;
    private long @Nullable [] hashes;
    private String tenant = ServiceKey.DEFAULT_TENANT;
    private String lora = "";
    private @Nullable String salt;
    private @Nullable String instance;
    private @Nullable List<String> candidates;
    private @Nullable Map<String, Long> loads;
    private @Nullable Map<String, Long> loadTokens;
    private @Nullable String policy;
    private long clockMillis = -1;
    private boolean hashable = true;

    private QueryRequestReader(Kind kind, ApiLimits limits, MemoryBudget.Charge charge,
            @Nullable RequestScratch scratch) {
        this.kind = kind;
        this.limits = limits;
        this.charge = charge;
        this.scratch = scratch;
    }

    static PromptQuery readQuery(Value.MapValue body, Kind kind, ApiLimits limits) {
        try (MemoryBudget.Charge unlimited = MemoryBudget.unlimited().open()) {
            return readQuery(body, kind, limits, unlimited);
        }
    }

    /** Reads a query; the token and hash arrays it builds are charged to {@code charge} before allocation. */
    static PromptQuery readQuery(Value.MapValue body, Kind kind, ApiLimits limits, MemoryBudget.Charge charge) {
        return readQuery(body, kind, limits, charge, null);
    }

    /**
     * Reads a query as {@link #readQuery(Value.MapValue, Kind, ApiLimits, MemoryBudget.Charge)}, decoding token ids
     * into the thread's reused buffer when {@code scratch} is given (still charged as an allocation).
     */
    static PromptQuery readQuery(Value.MapValue body, Kind kind, ApiLimits limits, MemoryBudget.Charge charge,
            @Nullable RequestScratch scratch) {
        QueryRequestReader reader = new QueryRequestReader(kind, limits, charge, scratch);
        reader.scan(body);
        return reader.query();
    }

    static RouteRequest readRoute(Value.MapValue body, ApiLimits limits) {
        try (MemoryBudget.Charge unlimited = MemoryBudget.unlimited().open()) {
            return readRoute(body, limits, unlimited);
        }
    }

    /** Reads a route request, charging as {@link #readQuery(Value.MapValue, Kind, ApiLimits, MemoryBudget.Charge)}. */
    static RouteRequest readRoute(Value.MapValue body, ApiLimits limits, MemoryBudget.Charge charge) {
        return readRoute(body, limits, charge, null);
    }

    /** Reads a route request, with token ids in {@code scratch} when given (as {@code readQuery}). */
    static RouteRequest readRoute(Value.MapValue body, ApiLimits limits, MemoryBudget.Charge charge,
            @Nullable RequestScratch scratch) {
        QueryRequestReader reader = new QueryRequestReader(Kind.ROUTE, limits, charge, scratch);
        reader.scan(body);
        return new RouteRequest(reader.query(), reader.candidates, reader.loads, reader.loadTokens, reader.policy,
                reader.clockMillis);
    }

    private void scan(Value.MapValue body) {
        for (Value.Entry entry : body.entries()) {
            String key = FieldRules.keyName(entry);
            Value value = entry.value();
            switch (key) {
                case "model" -> model = FieldRules.requiredString("model", value, limits);
                case "block_size" -> blockSize = positiveBlockSize(value);
                case "tenant_id" -> tenant = ServiceKey.normalizeTenant(FieldRules.string("tenant_id", value, limits));
                case "lora_name" -> {
                    lora = FieldRules.string("lora_name", value, limits);
                    hashable &= FieldRules.validUtf8(value);
                }
                case "cache_salt" -> salt = cacheSalt(value);
                default -> scanRouteSpecific(key, value);
            }
        }
    }

    private void scanRouteSpecific(String key, Value value) {
        switch (kind) {
            case QUERY -> {
                switch (key) {
                    case "token_ids" -> tokens = tokenIds(value);
                    case "instance_id" -> instance = FieldRules.string("instance_id", value, limits);
                    default -> throw FieldRules.unknownField(key);
                }
            }
            case QUERY_BY_HASH -> {
                switch (key) {
                    case "seq_hashes", "block_hash" -> hashes = seqHashes(key, value);
                    case "instance_id" -> instance = FieldRules.string("instance_id", value, limits);
                    default -> throw FieldRules.unknownField(key);
                }
            }
            case ROUTE -> {
                switch (key) {
                    case "token_ids" -> tokens = tokenIds(value);
                    case "candidates" -> candidates = candidates(value);
                    case "loads" -> loads = loads(value);
                    case "policy" -> policy = policy(value);
                    case "clock_ms" -> clockMillis = clockMillis(value);
                    default -> throw FieldRules.unknownField(key);
                }
            }
        }
    }

    private PromptQuery query() {
        String m = model;
        if (m == null) {
            throw FieldRules.missing("model");
        }
        if (blockSize == 0) {
            throw FieldRules.missing("block_size");
        }
        if (kind == Kind.QUERY_BY_HASH ? hashes == null : tokens == null) {
            throw FieldRules.missing(kind == Kind.QUERY_BY_HASH ? "seq_hashes" : "token_ids");
        }
        return new PromptQuery(new ContextKey(tenant, m, blockSize), lora, salt, instance, tokens, hashes, hashable,
                tokens == null ? 0 : tokenCount);
    }

    private static long positiveBlockSize(Value value) {
        if (value instanceof Value.Int i) {
            if (i.value() <= 0) {
                throw ApiException.badRequest(Reason.OUT_OF_RANGE, "block_size", "block_size must be a positive integer");
            }
            return i.value();
        }
        if (value instanceof Value.WideInt) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "block_size", "block_size must be a positive integer");
        }
        throw ApiException.badRequest(Reason.INVALID_TYPE, "block_size", "block_size must be an integer");
    }

    private @Nullable String cacheSalt(Value value) {
        if (value == Value.Nil.NIL) {
            return null;
        }
        if (!(value instanceof Value.Str s)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "cache_salt", "cache_salt must be a string or null");
        }
        hashable &= s.validUtf8();
        String text = FieldRules.checkLength("cache_salt", s.text(), limits);
        return text.isEmpty() ? null : text;
    }

    /** {@code token_ids}: a bin of little-endian int32s, or an array of ints within int32. */
    private int[] tokenIds(Value value) {
        switch (value) {
            case Value.Bin bin -> {
                if ((bin.length() & 3) != 0) {
                    throw ApiException.badRequest(Reason.INVALID_VALUE, "token_ids",
                            "token_ids bin size must be a multiple of 4");
                }
                int count = bin.length() >>> 2;
                checkTokenCount("token_ids", count);
                charge.charge(16 + 4L * count);
                int[] out = tokenBuffer(count);
                // One bulk little-endian copy (an intrinsic memcpy on little-endian hosts), not a loop of shifts.
                MemorySegment.copy(MemorySegment.ofArray(bin.source()), INT_LE, bin.offset(), out, 0, count);
                return out;
            }
            case Value.IntArray array -> {
                long[] values = array.values();
                checkTokenCount("token_ids", values.length);
                charge.charge(16 + 4L * values.length);
                int[] out = tokenBuffer(values.length);
                for (int i = 0; i < values.length; i++) {
                    long v = values[i];
                    if (v != (int) v) {
                        throw outsideInt32(i);
                    }
                    out[i] = (int) v;
                }
                return out;
            }
            case Value.Array array -> {
                List<Value> elements = array.elements();
                checkTokenCount("token_ids", elements.size());
                charge.charge(16 + 4L * elements.size());
                int[] out = tokenBuffer(elements.size());
                for (int i = 0; i < elements.size(); i++) {
                    Value e = elements.get(i);
                    if (e instanceof Value.Int iv && iv.value() == (int) iv.value()) {
                        out[i] = (int) iv.value();
                    } else if (e instanceof Value.Int || e instanceof Value.WideInt) {
                        throw outsideInt32(i);
                    } else {
                        throw ApiException.badElement(Reason.INVALID_TYPE, "token_ids", i,
                                "token_ids element must be an integer");
                    }
                }
                return out;
            }
            default -> throw ApiException.badRequest(Reason.INVALID_TYPE, "token_ids",
                    "token_ids must be a bin or an array");
        }
    }

    /** The array token ids are decoded into: the thread's reused buffer when there is one; sets the count. */
    private int[] tokenBuffer(int count) {
        tokenCount = count;
        RequestScratch s = scratch;
        return s != null ? s.tokens(count) : new int[count];
    }

    private static ApiException outsideInt32(int index) {
        return ApiException.badElement(Reason.OUT_OF_RANGE, "token_ids", index,
                "token_ids element is outside the int32 range");
    }

    /** Precomputed 64-bit hashes: ints in {@code -2^63..2^64-1}, kept as their 64-bit pattern. */
    private long[] seqHashes(String field, Value value) {
        switch (value) {
            case Value.IntArray array -> {
                checkTokenCount(field, array.values().length);
                return array.values();
            }
            case Value.Array array -> {
                List<Value> elements = array.elements();
                checkTokenCount(field, elements.size());
                charge.charge(16 + 8L * elements.size());
                long[] out = new long[elements.size()];
                for (int i = 0; i < out.length; i++) {
                    Value e = elements.get(i);
                    if (e instanceof Value.Int iv) {
                        out[i] = iv.value();
                    } else if (e instanceof Value.WideInt w && w.value().signum() > 0 && w.value().bitLength() <= 64) {
                        out[i] = w.value().longValue();
                    } else if (e instanceof Value.WideInt) {
                        throw ApiException.badElement(Reason.OUT_OF_RANGE, field, i,
                                field + " element is outside the 64-bit range");
                    } else {
                        throw ApiException.badElement(Reason.INVALID_TYPE, field, i,
                                field + " element must be an integer");
                    }
                }
                return out;
            }
            default -> throw ApiException.badRequest(Reason.INVALID_TYPE, field, field + " must be an array");
        }
    }

    private List<String> candidates(Value value) {
        if (!(value instanceof Value.Array array)) {
            if (value instanceof Value.IntArray ints) {
                if (ints.values().length == 0) {
                    return List.of();
                }
                throw ApiException.badElement(Reason.INVALID_TYPE, "candidates", 0,
                        "candidates element must be a non-empty string");
            }
            throw ApiException.badRequest(Reason.INVALID_TYPE, "candidates", "candidates must be an array");
        }
        if (array.elements().size() > MAX_CANDIDATES) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "candidates",
                    "candidates must have at most " + MAX_CANDIDATES + " elements");
        }
        // The policy builds a map, a sorted list and a match per candidate.
        charge.charge(RequestDecoder.NODE_BYTES * 8 * array.elements().size());
        List<String> out = new ArrayList<>(array.elements().size());
        for (int i = 0; i < array.elements().size(); i++) {
            if (!(array.elements().get(i) instanceof Value.Str s) || s.text().isEmpty()) {
                throw ApiException.badElement(Reason.INVALID_TYPE, "candidates", i,
                        "candidates element must be a non-empty string");
            }
            out.add(FieldRules.checkLength("candidates", s.text(), limits));
        }
        return out;
    }

    /**
     * {@code loads}: a map of instance id to either a non-negative integer (the proxy's in-flight requests) or a
     * map {@code {"queue": requests, "tokens": in-flight prompt tokens not yet prefilled}} (both optional).
     */
    private Map<String, Long> loads(Value value) {
        if (!(value instanceof Value.MapValue map)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "loads", "loads must be a map");
        }
        charge.charge(RequestDecoder.NODE_BYTES * 2 * map.entries().size());
        Map<String, Long> out = new HashMap<>();
        for (Value.Entry e : map.entries()) {
            String id = FieldRules.checkLength("loads", FieldRules.keyName(e), limits);
            if (e.value() instanceof Value.MapValue detail) {
                for (Value.Entry d : detail.entries()) {
                    String k = FieldRules.keyName(d);
                    if (!(d.value() instanceof Value.Int i) || i.value() < 0) {
                        throw ApiException.badRequest(Reason.INVALID_VALUE, "loads",
                                "loads values must be non-negative integers");
                    }
                    switch (k) {
                        case "queue" -> out.put(id, i.value());
                        case "tokens" -> {
                            Map<String, Long> t = loadTokens;
                            if (t == null) {
                                t = new HashMap<>();
                                loadTokens = t;
                            }
                            t.put(id, i.value());
                        }
                        default -> throw ApiException.badRequest(Reason.UNKNOWN_FIELD, "loads",
                                "loads entries may only have the keys queue and tokens");
                    }
                }
                continue;
            }
            if (!(e.value() instanceof Value.Int i) || i.value() < 0) {
                throw ApiException.badRequest(Reason.INVALID_VALUE, "loads",
                        "loads values must be non-negative integers");
            }
            out.put(id, i.value());
        }
        return out;
    }

    private static long clockMillis(Value value) {
        if (!(value instanceof Value.Int i)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "clock_ms", "clock_ms must be an integer");
        }
        if (i.value() < 0 || i.value() > Long.MAX_VALUE / 1_000_000) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "clock_ms", "clock_ms must be a non-negative integer");
        }
        return i.value();
    }

    private static String policy(Value value) {
        if (!(value instanceof Value.Str s)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, "policy", "policy must be a string");
        }
        if (!s.text().equals(RoutingSettings.POLICY_COST) && !s.text().equals(RoutingSettings.POLICY_LONGEST_PREFIX)) {
            throw ApiException.badRequest(Reason.INVALID_VALUE, "policy", "policy must be cost or longest_prefix");
        }
        return s.text();
    }

    private void checkTokenCount(String field, int count) {
        if (count > limits.maxTokens()) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, field,
                    field + " must have at most " + limits.maxTokens() + " elements");
        }
    }
}
