/**
 * The conductor domain behind the HTTP API: the registry, subscriptions, hashing and the prefix index
 * wired together.
 * Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.conductor.daemon.service;

import org.jspecify.annotations.NullMarked;
