/**
 * The proxy-facing HTTP contract: request decoding and validation (msgpack and JSON), response encoding,
 * error mapping and the routes.
 * Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon.api;

import org.jspecify.annotations.NullMarked;
