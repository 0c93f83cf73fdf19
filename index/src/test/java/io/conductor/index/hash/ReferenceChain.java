package io.conductor.index.hash;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;

/**
 * The vLLM v1 chain written the slow, literal way (hashing.md section 1) on top of the reference serializers:
 * build the Python value {@code (parent, tuple(tokens), extras)}, serialize, SHA-256, repeat.
 */
final class ReferenceChain {
    private ReferenceChain() {
    }

    static byte[] root(HashAlgorithm algorithm, String seed) {
        final String text = new String(seed.toCharArray());
        return sha256(serialize(algorithm, text));
    }

    static byte[] serialize(HashAlgorithm algorithm, Object value) {
        return switch (algorithm) {
            case SHA256 -> ReferencePickler.dumps(value);
            case SHA256_CBOR -> ReferenceCbor.encode(value);
            case XXH3 -> throw new IllegalArgumentException("no serializer for xxh3");
        };
    }

    /** The value hashed for one block; {@code salt} is used only when {@code blockIndex == 0}. */
    static Object[] blockValue(byte[] parent, int[] tokens, int from, int count, String lora, String salt,
                               int blockIndex) {
        final Object[] tuple = new Object[count];
        for (int i = 0; i < count; i++) {
            tuple[i] = tokens[from + i];
        }
        final List<Object> extras = new ArrayList<>();
        final String loraObject = lora.isEmpty() ? null : new String(lora.toCharArray());
        if (loraObject != null) {
            extras.add(loraObject);
        }
        if (blockIndex == 0 && salt != null && !salt.isEmpty()) {
            // CPython shares one object per one-character string below U+0100: the salt is then the same object
            final boolean cached = salt.length() == 1 && salt.charAt(0) < 0x100;
            extras.add(cached && salt.equals(lora) ? loraObject : new String(salt.toCharArray()));
        }
        return new Object[] {parent, tuple, extras.isEmpty() ? null : extras.toArray()};
    }

    /** Digests of every complete block. */
    static List<byte[]> digests(HashAlgorithm algorithm, String seed, int blockSize, int[] tokens, String lora,
                                String salt) {
        final List<byte[]> out = new ArrayList<>();
        byte[] parent = root(algorithm, seed);
        for (int i = 0; i < tokens.length / blockSize; i++) {
            parent = sha256(serialize(algorithm, blockValue(parent, tokens, i * blockSize, blockSize, lora, salt, i)));
            out.add(parent);
        }
        return out;
    }

    static long low64Be(byte[] digest) {
        long v = 0;
        for (int i = digest.length - 8; i < digest.length; i++) {
            v = (v << 8) | (digest[i] & 0xff);
        }
        return v;
    }

    static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
