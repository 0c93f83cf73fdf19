package io.conductor.example.engine;

/**
 * Which msgpack shape KV events take on the wire ({@code events.md} section 2.2). Immutable.
 */
public enum EventEncoding {
    /** Map-tagged events, vLLM after PR #42892 (releases after v0.22.0); default values omitted. */
    MAP,
    /** Array-tagged (positional) events, every vLLM release up to v0.22.x; every field written. */
    ARRAY
}
