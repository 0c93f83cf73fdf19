package io.conductor.example.demo;

/**
 * What the workload runner observed for one request through the proxy. Immutable.
 *
 * @param policy routing policy used
 * @param instance prefill instance that served it ({@code X-Conductor-Prefill-Instance})
 * @param reason routing reason ({@code X-Conductor-Route-Reason})
 * @param promptTokens prompt length in tokens
 * @param predictedTokens tokens the conductor predicted cached (0 under round robin)
 * @param cachedTokens tokens the engine reported cached
 * @param ttftMillis time to the first streamed chunk
 * @param ok whether the request succeeded
 */
public record RequestRecord(String policy, String instance, String reason, long promptTokens, long predictedTokens,
                            long cachedTokens, double ttftMillis, boolean ok) {
}
