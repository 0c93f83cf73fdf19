/**
 * The Mooncake Store probe in the daemon: reading the {@code native_store} config block, starting and stopping
 * the probe, its readiness check and metrics ({@link io.conductor.daemon.store.StoreProbeExtension}), extending
 * query answers with store hits ({@link io.conductor.daemon.store.StoreTier}) and feeding Mooncake store events
 * into the probe's cache. Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon.store;

import org.jspecify.annotations.NullMarked;
