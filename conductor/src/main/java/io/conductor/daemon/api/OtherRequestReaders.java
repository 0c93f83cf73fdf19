package io.conductor.daemon.api;

import io.conductor.daemon.registry.ServiceKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Readers of the smaller bodies: the legacy {@code /cache} (Go G1–G3: unknown keys ignored, a missing key reported
 * as {@code missing key: X}) and {@code /feedback}. Stateless and thread-safe.
 */
final class OtherRequestReaders {
    /**
     * A legacy {@code /cache} request.
     *
     * @param tokens prompt token ids
     * @param instances candidate instance ids, in request order
     * @param modelName model name
     * @param loraName LoRA name ({@code ""} for the base model; a legacy {@code lora_id} names no adapter we
     *     can match, so it is accepted and ignored)
     * @param tenantId tenant (extension; default {@code default})
     * @param blockSize block size to query (extension), or 0 for every registered block size of the model
     */
    record CacheRequest(int[] tokens, List<String> instances, String modelName, String loraName, String tenantId,
            long blockSize) {
    }

    /**
     * A {@code /feedback} report.
     *
     * @param instanceId the instance that served the request
     * @param predictedTokens the tokens we predicted cached ({@code longest_matched} of the chosen instance)
     * @param cachedTokens the tokens the engine reported cached ({@code usage.prompt_tokens_details.cached_tokens})
     * @param routeId the {@code route_id} of the {@code /route} answer, or {@code 0} when not given
     * @param promptTokens the prompt's length in tokens, or {@code -1} when not given
     * @param ttftMillis the observed time to first token, or {@code -1} when not given
     * @param prefillMillis the engine's prefill duration, or {@code -1} when not given
     * @param clockMillis the report's {@code clock_ms} (replays on a simulated clock), or {@code -1}
     */
    record Feedback(String instanceId, long predictedTokens, long cachedTokens, long routeId, long promptTokens,
            double ttftMillis, double prefillMillis, long clockMillis) {
    }

    private OtherRequestReaders() {
    }

    static CacheRequest readCache(Value.MapValue body, ApiLimits limits) {
        Map<String, Value> f = new HashMap<>();
        for (Value.Entry entry : body.entries()) {
            f.put(FieldRules.keyName(entry), entry.value());
        }
        Value tokensValue = require(f, "token_ids");
        Value instancesValue = require(f, "instances");
        Value modelValue = require(f, "model_name");
        int[] tokens = legacyTokens(tokensValue, limits);
        List<String> instances = stringList("instances", instancesValue, limits);
        String model = FieldRules.string("model_name", modelValue, limits);
        String lora = FieldRules.optionalString("lora_name", f.get("lora_name"), "", limits);
        String tenant = ServiceKey.normalizeTenant(
                FieldRules.optionalString("tenant_id", f.get("tenant_id"), "", limits));
        long blockSize = 0;
        Value bs = f.get("block_size");
        if (bs != null) {
            blockSize = FieldRules.int64("block_size", bs);
            if (blockSize <= 0) {
                throw ApiException.badRequest(Reason.OUT_OF_RANGE, "block_size", "block_size must be a positive integer");
            }
        }
        return new CacheRequest(tokens, instances, model, lora, tenant, blockSize);
    }

    static Feedback readFeedback(Value.MapValue body, ApiLimits limits) {
        Map<String, Value> f = FieldRules.firstOccurrences(body,
                java.util.Set.of("instance_id", "predicted_tokens", "cached_tokens", "route_id", "prompt_tokens",
                        "ttft_ms", "prefill_ms", "clock_ms"));
        String instance = FieldRules.requiredString("instance_id", f.get("instance_id"), limits);
        long predicted = nonNegative("predicted_tokens", f.get("predicted_tokens"));
        long cached = nonNegative("cached_tokens", f.get("cached_tokens"));
        long routeId = f.get("route_id") == null ? 0 : nonNegative("route_id", f.get("route_id"));
        long prompt = f.get("prompt_tokens") == null ? -1 : nonNegative("prompt_tokens", f.get("prompt_tokens"));
        double ttft = millis("ttft_ms", f.get("ttft_ms"));
        double prefill = millis("prefill_ms", f.get("prefill_ms"));
        long clock = f.get("clock_ms") == null ? -1 : nonNegative("clock_ms", f.get("clock_ms"));
        return new Feedback(instance, predicted, cached, routeId, prompt, ttft, prefill, clock);
    }

    /** An optional duration in milliseconds: a finite non-negative number up to one day; absent is -1. */
    private static double millis(String name, @Nullable Value value) {
        if (value == null) {
            return -1;
        }
        double v = switch (value) {
            case Value.Int i -> i.value();
            case Value.Float fl -> fl.value();
            default -> throw ApiException.badRequest(Reason.INVALID_TYPE, name, name + " must be a number");
        };
        if (!(v >= 0) || v > 86_400_000) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, name, name + " must be between 0 and 86400000");
        }
        return v;
    }

    private static Value require(Map<String, Value> fields, String key) {
        Value value = fields.get(key);
        if (value == null) {
            throw ApiException.badRequest(Reason.MISSING, key, "missing key: " + key);
        }
        return value;
    }

    private static long nonNegative(String name, @Nullable Value value) {
        if (value == null) {
            throw FieldRules.missing(name);
        }
        long v = FieldRules.int64(name, value);
        if (v < 0) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, name, name + " must not be negative");
        }
        return v;
    }

    /** The Go era sent JSON numbers; integral floats are accepted as tokens, anything else is refused. */
    private static int[] legacyTokens(Value value, ApiLimits limits) {
        if (value instanceof Value.IntArray ints) {
            long[] v = ints.values();
            checkCount(v.length, limits);
            int[] out = new int[v.length];
            for (int i = 0; i < v.length; i++) {
                if (v[i] != (int) v[i]) {
                    throw ApiException.badElement(Reason.OUT_OF_RANGE, "token_ids", i,
                            "token_ids element is outside the int32 range");
                }
                out[i] = (int) v[i];
            }
            return out;
        }
        if (value instanceof Value.Array array) {
            checkCount(array.elements().size(), limits);
            int[] out = new int[array.elements().size()];
            for (int i = 0; i < out.length; i++) {
                Value e = array.elements().get(i);
                double d = e instanceof Value.Int iv ? iv.value() : e instanceof Value.Float fv ? fv.value() : Double.NaN;
                if (Double.isNaN(d) || d != Math.rint(d)) {
                    throw ApiException.badElement(Reason.INVALID_TYPE, "token_ids", i,
                            "token_ids element must be an integer");
                }
                if (d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
                    throw ApiException.badElement(Reason.OUT_OF_RANGE, "token_ids", i,
                            "token_ids element is outside the int32 range");
                }
                out[i] = (int) d;
            }
            return out;
        }
        throw ApiException.badRequest(Reason.INVALID_TYPE, "token_ids", "token_ids must be an array");
    }

    private static void checkCount(int count, ApiLimits limits) {
        if (count > limits.maxTokens()) {
            throw ApiException.badRequest(Reason.OUT_OF_RANGE, "token_ids",
                    "token_ids must have at most " + limits.maxTokens() + " elements");
        }
    }

    private static List<String> stringList(String name, Value value, ApiLimits limits) {
        if (value instanceof Value.IntArray ints && ints.values().length == 0) {
            return List.of();
        }
        if (!(value instanceof Value.Array array)) {
            throw ApiException.badRequest(Reason.INVALID_TYPE, name, name + " must be an array of strings");
        }
        List<String> out = new ArrayList<>(array.elements().size());
        for (int i = 0; i < array.elements().size(); i++) {
            if (!(array.elements().get(i) instanceof Value.Str s)) {
                throw ApiException.badElement(Reason.INVALID_TYPE, name, i, name + " element must be a string");
            }
            out.add(FieldRules.checkLength(name, s.text(), limits));
        }
        return out;
    }
}
