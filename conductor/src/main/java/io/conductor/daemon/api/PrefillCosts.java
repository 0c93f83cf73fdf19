package io.conductor.daemon.api;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Each instance's prefill cost, {@code seconds = overhead + uncached tokens × secondsPerToken}, starting from the
 * configured values and refined by observed prefill durations.
 *
 * <p>The fit is an exponentially weighted least-squares line through the observations plus two fixed prior points
 * on the configured line (at 1,024 and 8,192 tokens, weight 1 each), so a handful of reports moves the estimate
 * and a long run of them dominates it, while reports that all have the same length cannot tilt the line into a
 * negative slope or overhead: such a fit falls back to keeping the overhead and rescaling the slope.
 *
 * <p>Bounded: at most {@value #MAX_INSTANCES} learned instances, the least recently updated dropped first (it then
 * starts over from its configuration). Thread-safe: every method holds this object's monitor; calls are short.
 */
final class PrefillCosts {
    /** Learned instances kept at most. */
    static final int MAX_INSTANCES = 4096;
    /** Weight kept by past observations at each new one (a memory of about 50 reports). */
    static final double DECAY = 0.98;
    private static final double PRIOR_LOW = 1024;
    private static final double PRIOR_HIGH = 8192;

    /**
     * An instance's current cost line.
     *
     * @param overheadSeconds fixed seconds per request
     * @param secondsPerToken seconds per uncached token
     */
    record Line(double overheadSeconds, double secondsPerToken) {
        double seconds(double tokens) {
            return overheadSeconds + tokens * secondsPerToken;
        }

        double tokensPerSecond() {
            return 1 / secondsPerToken;
        }
    }

    /** Decayed sums of the observations (weights, x = tokens, y = seconds). */
    private static final class Fit {
        double w;
        double sx;
        double sy;
        double sxx;
        double sxy;
        Line line;

        Fit(Line prior) {
            this.line = prior;
        }
    }

    private final RoutingSettings settings;
    private final LinkedHashMap<String, Fit> fits = new LinkedHashMap<>(16, 0.75f, true);

    PrefillCosts(RoutingSettings settings) {
        this.settings = settings;
    }

    /**
     * Returns an instance's cost line: the learned one, else its configuration.
     *
     * @param instanceId the instance
     * @return the line
     */
    synchronized Line line(String instanceId) {
        Fit f = fits.get(instanceId);
        return f != null ? f.line : configured(instanceId);
    }

    private Line configured(String instanceId) {
        RoutingSettings.PrefillProfile p = settings.prefillOf(instanceId);
        return new Line(p.overheadMillis() / 1000, 1 / p.tokensPerSecond());
    }

    /**
     * Records one observed prefill and refits the instance's line.
     *
     * @param instanceId the instance (a registered one: the caller bounds the ids)
     * @param uncachedTokens tokens the engine computed
     * @param seconds how long the prefill took
     * @return the new line
     */
    synchronized Line observe(String instanceId, long uncachedTokens, double seconds) {
        Fit f = fits.get(instanceId);
        if (f == null) {
            if (fits.size() >= MAX_INSTANCES) {
                Iterator<Map.Entry<String, Fit>> eldest = fits.entrySet().iterator();
                eldest.next();
                eldest.remove();
            }
            f = new Fit(configured(instanceId));
            fits.put(instanceId, f);
        }
        double x = uncachedTokens;
        f.w = f.w * DECAY + 1;
        f.sx = f.sx * DECAY + x;
        f.sy = f.sy * DECAY + seconds;
        f.sxx = f.sxx * DECAY + x * x;
        f.sxy = f.sxy * DECAY + x * seconds;
        f.line = refit(f, configured(instanceId));
        return f.line;
    }

    private static Line refit(Fit f, Line prior) {
        double yl = prior.seconds(PRIOR_LOW);
        double yh = prior.seconds(PRIOR_HIGH);
        double w = f.w + 2;
        double sx = f.sx + PRIOR_LOW + PRIOR_HIGH;
        double sy = f.sy + yl + yh;
        double sxx = f.sxx + PRIOR_LOW * PRIOR_LOW + PRIOR_HIGH * PRIOR_HIGH;
        double sxy = f.sxy + PRIOR_LOW * yl + PRIOR_HIGH * yh;
        double den = w * sxx - sx * sx;
        double slope = den > 0 ? (w * sxy - sx * sy) / den : 0;
        double intercept = (sy - slope * sx) / w;
        if (slope > 0 && intercept >= 0) {
            return new Line(intercept, slope);
        }
        // Degenerate (all observations alike, or noise): keep the prior overhead and fit the slope alone.
        double overhead = prior.overheadSeconds();
        double rescaled = sx > 0 ? (sy - overhead * w) / sx : prior.secondsPerToken();
        return new Line(overhead, Math.max(rescaled, prior.secondsPerToken() / 100));
    }
}
