/**
 * Start-up warm-up of the daemon's hot paths through its own sockets ({@link io.conductor.daemon.warmup.StartupWarmup}),
 * also the training workload of the distribution's ahead-of-time cache. Everything here is non-null unless marked
 * {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon.warmup;

import org.jspecify.annotations.NullMarked;
