/**
 * A cache-aware prefill/decode proxy: asks the conductor where the prompt prefix is cached, prefills there, decodes
 * elsewhere, and falls back to round robin whenever the conductor cannot answer in time.
 */
@NullMarked
package io.conductor.example.proxy;

import org.jspecify.annotations.NullMarked;
