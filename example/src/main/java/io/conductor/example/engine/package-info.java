/**
 * A simulated vLLM engine: OpenAI-compatible HTTP surface, a real prefix cache with LRU eviction, and vLLM KV events
 * over ZeroMQ (PUB plus replay ROUTER), one scheduler and publisher per data-parallel rank.
 */
@NullMarked
package io.conductor.example.engine;

import org.jspecify.annotations.NullMarked;
