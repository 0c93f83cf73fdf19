/**
 * The prefix index: which (instance, DP rank) or shared pool holds each KV block of a model context on which tier,
 * and how far each instance's contiguous prefix of a prompt reaches. Entry point: {@link
 * io.conductor.index.prefix.PrefixIndex}. Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.index.prefix;

import org.jspecify.annotations.NullMarked;
