package io.conductor.events;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import org.jspecify.annotations.Nullable;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePacker;

/**
 * Builds real msgpack payloads the way vLLM's msgspec encoder writes them (events.md 2.5): float64 timestamps,
 * non-negative ints in the smallest uint form ({@code cf} for hashes above {@code Long.MAX_VALUE}), map-tagged
 * events with keys in declaration order and nil defaults omitted, or array-tagged events of any historical length.
 */
final class Payloads {

    /** Writes one event into a batch being built. */
    @FunctionalInterface
    interface EventWriter {
        void write(MessagePacker p) throws IOException;
    }

    /** Rank element: write a 2-element batch (releases before mid-2025). */
    static final int NO_RANK_ELEMENT = -2;
    /** Rank element: write nil. */
    static final int NIL_RANK = -1;

    private Payloads() {
    }

    /** A vLLM {@code BlockStored}; nulls are msgpack nil. */
    record Stored(long[] hashes, @Nullable Long parent, int[] tokens, int blockSize, @Nullable Long loraId,
                  @Nullable String medium, @Nullable String loraName, int extraKeys, @Nullable Integer groupIdx,
                  @Nullable String specKind, @Nullable Integer slidingWindow, @Nullable String locality) {

        /** The fields of a default GPU store: tokens 1.., no LoRA, extra keys all nil, group 0, full attention. */
        static Stored gpu(long[] hashes, int blockSize) {
            final int[] tokens = new int[hashes.length * blockSize];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = i + 1;
            }
            return new Stored(hashes, null, tokens, blockSize, null, "GPU", null, hashes.length, 0,
                    "full_attention", null, null);
        }

        Stored withParent(@Nullable Long value) {
            return new Stored(hashes, value, tokens, blockSize, loraId, medium, loraName, extraKeys, groupIdx,
                    specKind, slidingWindow, locality);
        }

        Stored withLora(long id, String name) {
            return new Stored(hashes, parent, tokens, blockSize, id, medium, name, extraKeys, groupIdx, specKind,
                    slidingWindow, locality);
        }

        Stored withGroup(int group, String kind) {
            return new Stored(hashes, parent, tokens, blockSize, loraId, medium, loraName, extraKeys, group, kind,
                    slidingWindow, locality);
        }

        /** Map form: "type" first, then fields in declaration order; nil defaults omitted. */
        EventWriter map() {
            return p -> {
                int n = 8;
                n += extraKeys > 0 ? 1 : 0;
                n += groupIdx != null ? 1 : 0;
                n += specKind != null ? 1 : 0;
                n += slidingWindow != null ? 1 : 0;
                n += locality != null ? 1 : 0;
                p.packMapHeader(n);
                p.packString("type").packString("BlockStored");
                p.packString("block_hashes");
                writeHashes(p, hashes);
                p.packString("parent_block_hash");
                nullableHash(p, parent);
                p.packString("token_ids");
                writeTokens(p, tokens);
                p.packString("block_size").packInt(blockSize);
                p.packString("lora_id");
                nullableLong(p, loraId);
                p.packString("medium");
                nullableString(p, medium);
                p.packString("lora_name");
                nullableString(p, loraName);
                if (extraKeys > 0) {
                    p.packString("extra_keys").packArrayHeader(extraKeys);
                    for (int i = 0; i < extraKeys; i++) {
                        p.packNil();
                    }
                }
                if (groupIdx != null) {
                    p.packString("group_idx").packInt(groupIdx);
                }
                if (specKind != null) {
                    p.packString("kv_cache_spec_kind").packString(specKind);
                }
                if (slidingWindow != null) {
                    p.packString("kv_cache_spec_sliding_window").packInt(slidingWindow);
                }
                if (locality != null) {
                    p.packString("locality").packString(locality);
                }
            };
        }

        /** Array form with {@code length} elements (tag included): every field up to it, nil when unset. */
        EventWriter array(int length) {
            return p -> {
                p.packArrayHeader(length);
                p.packString("BlockStored");
                for (int field = 1; field < length; field++) {
                    switch (field) {
                        case 1 -> writeHashes(p, hashes);
                        case 2 -> nullableHash(p, parent);
                        case 3 -> writeTokens(p, tokens);
                        case 4 -> p.packInt(blockSize);
                        case 5 -> nullableLong(p, loraId);
                        case 6 -> nullableString(p, medium);
                        case 7 -> nullableString(p, loraName);
                        case 8 -> {
                            if (extraKeys > 0) {
                                p.packArrayHeader(extraKeys);
                                for (int i = 0; i < extraKeys; i++) {
                                    p.packNil();
                                }
                            } else {
                                p.packNil();
                            }
                        }
                        case 9 -> nullableLong(p, groupIdx == null ? null : groupIdx.longValue());
                        case 10 -> nullableString(p, specKind);
                        case 11 -> nullableLong(p, slidingWindow == null ? null : slidingWindow.longValue());
                        default -> p.packString("field-from-the-future-" + field);
                    }
                }
            };
        }
    }

    /** A vLLM {@code BlockRemoved}. */
    record Removed(long[] hashes, @Nullable String medium, @Nullable Integer groupIdx) {

        static Removed gpu(long... hashes) {
            return new Removed(hashes, "GPU", 0);
        }

        EventWriter map() {
            return p -> {
                p.packMapHeader(2 + (medium != null ? 1 : 0) + (groupIdx != null ? 1 : 0));
                p.packString("type").packString("BlockRemoved");
                p.packString("block_hashes");
                writeHashes(p, hashes);
                if (medium != null) {
                    p.packString("medium").packString(medium);
                }
                if (groupIdx != null) {
                    p.packString("group_idx").packInt(groupIdx);
                }
            };
        }

        EventWriter array(int length) {
            return p -> {
                p.packArrayHeader(length);
                p.packString("BlockRemoved");
                for (int field = 1; field < length; field++) {
                    switch (field) {
                        case 1 -> writeHashes(p, hashes);
                        case 2 -> nullableString(p, medium);
                        case 3 -> nullableLong(p, groupIdx == null ? null : groupIdx.longValue());
                        default -> p.packNil();
                    }
                }
            };
        }
    }

    static EventWriter clearedMap() {
        return p -> p.packMapHeader(1).packString("type").packString("AllBlocksCleared");
    }

    static EventWriter clearedArray() {
        return p -> p.packArrayHeader(1).packString("AllBlocksCleared");
    }

    /** A raw msgpack value written as one event, for malformed shapes. */
    static EventWriter raw(byte[] msgpack) {
        return p -> p.writePayload(msgpack);
    }

    /** {@code [ts, [events], rank]}; {@code rank} may be {@link #NO_RANK_ELEMENT} or {@link #NIL_RANK}. */
    static byte[] batch(double ts, int rank, EventWriter... events) {
        return pack(p -> {
            p.packArrayHeader(rank == NO_RANK_ELEMENT ? 2 : 3);
            p.packDouble(ts);
            p.packArrayHeader(events.length);
            for (final EventWriter e : events) {
                e.write(p);
            }
            if (rank == NIL_RANK) {
                p.packNil();
            } else if (rank >= 0) {
                p.packInt(rank);
            }
        });
    }

    /** The map form of the batch envelope: {@code {"ts", "events", "data_parallel_rank"}}. */
    static byte[] mapBatch(double ts, int rank, EventWriter... events) {
        return pack(p -> {
            p.packMapHeader(3);
            p.packString("ts").packDouble(ts);
            p.packString("events").packArrayHeader(events.length);
            for (final EventWriter e : events) {
                e.write(p);
            }
            p.packString("data_parallel_rank").packInt(rank);
        });
    }

    /** The benchmark / transport workload: one map-encoded GPU {@code BlockStored} of {@code blocks} blocks. */
    static byte[] storedBatch(long firstHash, int blocks, int blockSize) {
        final long[] hashes = new long[blocks];
        for (int i = 0; i < blocks; i++) {
            hashes[i] = firstHash + i;
        }
        return batch(1_700_000_000.5, 0, Stored.gpu(hashes, blockSize).map());
    }

    static byte[] pack(EventWriter body) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            body.write(p);
            p.flush();
            return p.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes a 64-bit pattern the way msgspec does: values >= 2^63 as {@code cf} uint64. */
    static void hash(MessagePacker p, long v) throws IOException {
        if (v < 0) {
            p.packBigInteger(new BigInteger(Long.toUnsignedString(v)));
        } else {
            p.packLong(v);
        }
    }

    private static void writeHashes(MessagePacker p, long[] hashes) throws IOException {
        p.packArrayHeader(hashes.length);
        for (final long h : hashes) {
            hash(p, h);
        }
    }

    private static void nullableHash(MessagePacker p, @Nullable Long v) throws IOException {
        if (v == null) {
            p.packNil();
        } else {
            hash(p, v);
        }
    }

    private static void writeTokens(MessagePacker p, int[] tokens) throws IOException {
        p.packArrayHeader(tokens.length);
        for (final int t : tokens) {
            p.packInt(t);
        }
    }

    private static void nullableLong(MessagePacker p, @Nullable Long v) throws IOException {
        if (v == null) {
            p.packNil();
        } else {
            p.packLong(v);
        }
    }

    private static void nullableString(MessagePacker p, @Nullable String v) throws IOException {
        if (v == null) {
            p.packNil();
        } else {
            p.packString(v);
        }
    }
}
