/**
 * The one-command demo: starts the conductor, simulated engines and the proxy on loopback and compares routing
 * policies on a built-in workload.
 */
@NullMarked
package io.conductor.example.demo;

import org.jspecify.annotations.NullMarked;
