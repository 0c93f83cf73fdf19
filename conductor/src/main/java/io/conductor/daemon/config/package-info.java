/**
 * The daemon's configuration file: one model ({@link io.conductor.daemon.config.ConductorConfig}) for the three
 * formats of the reference (legacy {@code ip}/{@code port}, endpoint form, current form with {@code hash_profile}),
 * loaded and validated up front by {@link io.conductor.daemon.config.ConfigLoader}. Everything here is non-null
 * unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon.config;

import org.jspecify.annotations.NullMarked;
