/**
 * The service registry: service keys, registration rules, unregistering and quarantine states.
 * Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon.registry;

import org.jspecify.annotations.NullMarked;
