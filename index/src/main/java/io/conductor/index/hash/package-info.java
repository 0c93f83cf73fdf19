/**
 * Block hashing: the vLLM v1 prefix-cache hash chain ({@code sha256} = CPython pickle protocol 5,
 * {@code sha256_cbor} = canonical CBOR), the RFC #1527 XXH3 rolling chain, hash profiles, the token-rehash mode
 * and the {@code hash} command. Byte-exact recipe: {@code shared/spec/hashing.md}; user docs: {@code docs/hashing.md}.
 */
@NullMarked
package io.conductor.index.hash;

import org.jspecify.annotations.NullMarked;
