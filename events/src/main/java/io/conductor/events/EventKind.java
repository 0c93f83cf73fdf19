package io.conductor.events;

/**
 * The kind of a normalized {@link KvEvent}. Engine kinds come from vLLM and SGLang streams; the {@code OBJECT*}
 * kinds come from Mooncake store master streams.
 *
 * <p>Immutable; thread-safe.
 */
public enum EventKind {
    /** Engine blocks became present on {@link KvEvent#medium()} ({@code BlockStored}). */
    BLOCKS_STORED,
    /** Engine blocks left {@link KvEvent#medium()} ({@code BlockRemoved}). */
    BLOCKS_REMOVED,
    /** The engine holds nothing any more ({@code AllBlocksCleared}): drop everything this stream contributed. */
    ALL_BLOCKS_CLEARED,
    /** A Mooncake store object became available on a tier ({@code stored}). */
    OBJECT_STORED,
    /** A Mooncake store object's last replica on a tier disappeared ({@code removed}). */
    OBJECT_REMOVED,
    /** Every object of ({@link KvEvent#backendId()}, {@link KvEvent#tenantId()}) is gone from every tier. */
    OBJECTS_CLEARED
}
