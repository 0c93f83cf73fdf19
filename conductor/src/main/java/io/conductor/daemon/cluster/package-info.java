/**
 * Replicas sharing their control plane through etcd: dynamic registrations written to etcd before
 * {@code /register} and {@code /unregister} answer, every replica converging through a watch, and replica
 * membership through leases. Blocks never go to etcd; each replica subscribes to every stream itself.
 */
@NullMarked
package io.conductor.daemon.cluster;

import org.jspecify.annotations.NullMarked;
