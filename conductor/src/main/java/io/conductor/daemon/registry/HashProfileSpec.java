package io.conductor.daemon.registry;

/**
 * A resolved hash profile as registered and reported: the four requested strings plus the derived root digest.
 * Two profiles are equal only if all five fields are equal. Immutable and thread-safe.
 *
 * @param strategy hashing strategy, {@code vllm_v1}
 * @param algorithm {@code sha256} or {@code sha256_cbor}
 * @param pythonHashSeed the seed text verbatim ({@code "0"} and {@code "00"} differ)
 * @param rootDigest 64 lowercase hex characters: SHA-256 of the encoded seed text
 * @param indexProjection {@code low64_be}
 */
public record HashProfileSpec(String strategy, String algorithm, String pythonHashSeed, String rootDigest,
        String indexProjection) {
}
