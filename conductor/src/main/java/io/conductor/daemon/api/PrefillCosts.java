package io.conductor.daemon.api;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Each instance's prefill cost, {@code seconds = overhead + uncached tokens × secondsPerToken}, starting from the
 * configured values and refined by observed prefill durations.
 *
 * <p>The fit is an exponentially weighted least-squares line through the observations (a memory of about 50). With
 * fewer than {@value #MIN_WEIGHT_FOR_LINE} observations, token counts too alike to separate overhead from slope,
 * or a line with a negative part, the configured overhead is kept (capped at the mean observation) and only the
 * slope is fitted through it; so one report already moves the estimate and none can make it negative.
 *
 * <p>Bounded: at most {@value #MAX_INSTANCES} learned instances, the least recently updated dropped first (it then
 * starts over from its configuration); an unregistered instance's fit is dropped ({@link #retainOnly}).
 * Thread-safe: every method holds this object's monitor; calls are short.
 */
final class PrefillCosts {
    /** Learned instances kept at most. */
    static final int MAX_INSTANCES = 4096;
    /** Weight kept by past observations at each new one (a memory of about 50 reports). */
    static final double DECAY = 0.98;
    /** Decayed observations needed before overhead and slope are both fitted. */
    static final double MIN_WEIGHT_FOR_LINE = 4;
    /** ... and their token counts must vary by at least this much (variance over squared mean). */
    static final double MIN_RELATIVE_SPREAD = 0.01;

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

    /**
     * Drops the fits of instances not in {@code registered}.
     *
     * @param registered the instance ids registered now
     */
    synchronized void retainOnly(java.util.Set<String> registered) {
        fits.keySet().retainAll(registered);
    }

    /**
     * Returns how many instances have a learned fit (for tests of the cleanup).
     *
     * @return the count
     */
    synchronized int learnedInstances() {
        return fits.size();
    }

    private static Line refit(Fit f, Line prior) {
        double meanX = f.sx / f.w;
        double meanY = f.sy / f.w;
        double varX = f.sxx / f.w - meanX * meanX;
        if (f.w >= MIN_WEIGHT_FOR_LINE && meanX > 0 && varX >= MIN_RELATIVE_SPREAD * meanX * meanX) {
            double slope = (f.sxy / f.w - meanX * meanY) / varX;
            double intercept = meanY - slope * meanX;
            if (slope > 0 && intercept >= 0) {
                return new Line(intercept, slope);
            }
        }
        // Too few or too alike observations for a line: keep the configured overhead (no more than the mean
        // observation) and fit the slope through it.
        double overhead = Math.min(prior.overheadSeconds(), meanY);
        double slope = f.sxx > 0 ? (f.sxy - overhead * f.sx) / f.sxx : prior.secondsPerToken();
        return new Line(overhead, Math.max(slope, prior.secondsPerToken() / 1000));
    }
}
