/**
 * The {@code mooncake_conductor} daemon: command line ({@link io.conductor.daemon.Main}), lifecycle
 * ({@link io.conductor.daemon.Daemon}) and the extension points through which the rest of the daemon installs its
 * routes, metrics, readiness checks and shutdown steps ({@link io.conductor.daemon.DaemonExtension},
 * {@link io.conductor.daemon.DaemonContext}). Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon;

import org.jspecify.annotations.NullMarked;
