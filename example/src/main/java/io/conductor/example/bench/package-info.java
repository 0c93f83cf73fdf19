/**
 * {@code bin/bench trace}: replays a Mooncake-format request trace on a simulated clock through simulated engines
 * (LRU prefix caches publishing real vLLM KV events over ZeroMQ) and a real conductor, and compares routing
 * policies.
 */
@NullMarked
package io.conductor.example.bench;

import org.jspecify.annotations.NullMarked;
