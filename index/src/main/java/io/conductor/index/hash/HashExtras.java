package io.conductor.index.hash;

import org.jspecify.annotations.Nullable;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The reproducible extra keys of a vLLM block hash: the LoRA name (on every block) and the cache salt (on block 0
 * only), held as validated UTF-8 so the hot path never encodes text. An empty name or salt means "none", as in
 * vLLM; a block whose extras are all absent hashes {@code None}. Create one per context or request, not per block.
 * Immutable and thread-safe.
 *
 * <p>Multimodal and prompt-embedding keys are not reproducible from token ids and are not supported.
 */
public final class HashExtras {
    /** No LoRA, no salt. */
    public static final HashExtras NONE = new HashExtras(new byte[0], new byte[0]);

    private final byte[] loraName;
    private final byte[] cacheSalt;
    private final boolean sameCachedObject;

    private HashExtras(byte[] loraName, byte[] cacheSalt) {
        this.loraName = loraName;
        this.cacheSalt = cacheSalt;
        this.sameCachedObject = sameCachedPythonString(loraName, cacheSalt);
    }

    /**
     * Creates extras from Java strings.
     *
     * @param loraName  the LoRA adapter name, {@code ""} for none
     * @param cacheSalt the cache salt, {@code null} or {@code ""} for none
     * @return the extras ({@link #NONE} when both are empty)
     * @throws IllegalArgumentException {@code "lora_name must contain valid UTF-8"} or
     *                                  {@code "cache_salt must contain valid UTF-8"} for an unpaired surrogate
     */
    public static HashExtras of(String loraName, @Nullable String cacheSalt) {
        final byte[] lora = StrictUtf8.encode(loraName, "lora_name");
        final byte[] salt = cacheSalt == null ? new byte[0] : StrictUtf8.encode(cacheSalt, "cache_salt");
        return lora.length == 0 && salt.length == 0 ? NONE : new HashExtras(lora, salt);
    }

    /**
     * Creates extras from raw UTF-8 bytes (e.g. msgpack str payloads), validating them strictly (no overlongs,
     * surrogates or code points above U+10FFFF). The arrays are copied.
     *
     * @param loraName  UTF-8 of the LoRA name, empty for none
     * @param cacheSalt UTF-8 of the cache salt, {@code null} or empty for none
     * @return the extras
     * @throws IllegalArgumentException {@code "lora_name must contain valid UTF-8"} or
     *                                  {@code "cache_salt must contain valid UTF-8"}
     */
    public static HashExtras ofUtf8(byte[] loraName, byte @Nullable [] cacheSalt) {
        if (!StrictUtf8.isValid(loraName, 0, loraName.length)) {
            throw new IllegalArgumentException("lora_name must contain valid UTF-8");
        }
        final byte[] salt = cacheSalt == null ? new byte[0] : cacheSalt;
        if (!StrictUtf8.isValid(salt, 0, salt.length)) {
            throw new IllegalArgumentException("cache_salt must contain valid UTF-8");
        }
        return loraName.length == 0 && salt.length == 0 ? NONE : new HashExtras(loraName.clone(), salt.clone());
    }

    /**
     * Returns the LoRA name.
     *
     * @return the name, {@code ""} for none
     */
    public String loraName() {
        return new String(loraName, StandardCharsets.UTF_8);
    }

    /**
     * Returns the cache salt.
     *
     * @return the salt, {@code ""} for none
     */
    public String cacheSalt() {
        return new String(cacheSalt, StandardCharsets.UTF_8);
    }

    /**
     * Tells whether neither a LoRA name nor a salt is set.
     *
     * @return {@code true} if every block hashes {@code None} as its extras
     */
    public boolean isEmpty() {
        return loraName.length == 0 && cacheSalt.length == 0;
    }

    byte[] loraNameUtf8() {
        return loraName;
    }

    byte[] cacheSaltUtf8() {
        return cacheSalt;
    }

    /**
     * Whether CPython would see the LoRA name and the salt of block 0 as the same object, so that pickle writes a
     * memo reference ({@code BINGET}) for the salt. CPython keeps one shared object per one-character string below
     * U+0100, so this holds exactly when both are the same such character (hashing.md 6.4).
     */
    boolean sameCachedObject() {
        return sameCachedObject;
    }

    private static boolean sameCachedPythonString(byte[] a, byte[] b) {
        if (!Arrays.equals(a, b)) {
            return false;
        }
        if (a.length == 1) {
            return true;                                        // ASCII
        }
        return a.length == 2 && (a[0] & 0xff) >= 0xc2 && (a[0] & 0xff) <= 0xc3;   // U+0080..U+00FF
    }

    @Override
    public boolean equals(@Nullable Object other) {
        return other instanceof HashExtras that && Arrays.equals(loraName, that.loraName)
                && Arrays.equals(cacheSalt, that.cacheSalt);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(loraName) + Arrays.hashCode(cacheSalt);
    }

    @Override
    public String toString() {
        return "HashExtras[loraName=" + loraName() + ", cacheSalt=" + cacheSalt() + "]";
    }
}
