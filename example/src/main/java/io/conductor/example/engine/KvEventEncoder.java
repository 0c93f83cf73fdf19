package io.conductor.example.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

/**
 * Encodes a batch of KV events as the msgpack payload vLLM's {@code ZmqEventPublisher} sends: {@code [ts, events,
 * data_parallel_rank]}, with events in either the current map form or the legacy array form. The output is
 * byte-identical to vLLM's for the same events (see the captures in {@code events.md} section 2.6): floats as
 * float64, non-negative integers in their smallest unsigned form, hashes at or above 2^63 as {@code cf} + 8 bytes.
 *
 * <p>Immutable and thread-safe; each call uses its own buffer.
 */
public final class KvEventEncoder {
    private static final String GROUP_KIND = "full_attention";

    private final EventEncoding encoding;

    /**
     * Creates an encoder.
     *
     * @param encoding event shape to write
     */
    public KvEventEncoder(EventEncoding encoding) {
        this.encoding = encoding;
    }

    /**
     * Returns the encoding this encoder writes.
     *
     * @return the event encoding
     */
    public EventEncoding encoding() {
        return encoding;
    }

    /**
     * Encodes one batch.
     *
     * @param timestampSeconds epoch seconds ({@code time.time()})
     * @param events events in generation order
     * @param dataParallelRank the publisher's DP rank
     * @return the msgpack payload (frame 2 of the live message)
     */
    public byte[] encodeBatch(double timestampSeconds, List<KvEvent> events, int dataParallelRank) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(3);
            p.packDouble(timestampSeconds);
            p.packArrayHeader(events.size());
            for (KvEvent event : events) {
                switch (event) {
                    case KvEvent.BlockStored s -> writeStored(p, s);
                    case KvEvent.BlockRemoved r -> writeRemoved(p, r);
                    case KvEvent.AllBlocksCleared c -> writeCleared(p);
                }
            }
            p.packInt(dataParallelRank);
            return p.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException("msgpack buffer packer failed", e);
        }
    }

    private void writeStored(MessageBufferPacker p, KvEvent.BlockStored s) throws IOException {
        boolean map = encoding == EventEncoding.MAP;
        if (map) {
            // type + 7 fields without defaults + extra_keys (when set) + group_idx + kv_cache_spec_kind.
            p.packMapHeader(s.extraKeys() == null ? 10 : 11);
            key(p, "type");
        } else {
            p.packArrayHeader(12);
        }
        p.packString("BlockStored");
        if (map) {
            key(p, "block_hashes");
        }
        writeHashes(p, s.blockHashes());
        if (map) {
            key(p, "parent_block_hash");
        }
        Long parent = s.parentBlockHash();
        if (parent == null) {
            p.packNil();
        } else {
            writeHash(p, parent);
        }
        if (map) {
            key(p, "token_ids");
        }
        int[] tokens = s.tokenIds();
        p.packArrayHeader(tokens.length);
        for (int t : tokens) {
            p.packInt(t);
        }
        if (map) {
            key(p, "block_size");
        }
        p.packInt(s.blockSize());
        if (map) {
            key(p, "lora_id");
        }
        nullableInt(p, s.loraId());
        if (map) {
            key(p, "medium");
        }
        p.packString(s.medium());
        if (map) {
            key(p, "lora_name");
        }
        nullableString(p, s.loraName());
        List<@Nullable List<String>> extra = s.extraKeys();
        if (map) {
            if (extra != null) {
                key(p, "extra_keys");
                writeExtraKeys(p, extra);
            }
            key(p, "group_idx");
            p.packInt(0);
            key(p, "kv_cache_spec_kind");
            p.packString(GROUP_KIND);
        } else {
            if (extra == null) {
                p.packNil();
            } else {
                writeExtraKeys(p, extra);
            }
            p.packInt(0);
            p.packString(GROUP_KIND);
            p.packNil(); // kv_cache_spec_sliding_window
        }
    }

    private void writeRemoved(MessageBufferPacker p, KvEvent.BlockRemoved r) throws IOException {
        if (encoding == EventEncoding.MAP) {
            p.packMapHeader(4);
            key(p, "type");
            p.packString("BlockRemoved");
            key(p, "block_hashes");
            writeHashes(p, r.blockHashes());
            key(p, "medium");
            p.packString(r.medium());
            key(p, "group_idx");
            p.packInt(0);
        } else {
            p.packArrayHeader(4);
            p.packString("BlockRemoved");
            writeHashes(p, r.blockHashes());
            p.packString(r.medium());
            p.packInt(0);
        }
    }

    private void writeCleared(MessageBufferPacker p) throws IOException {
        if (encoding == EventEncoding.MAP) {
            p.packMapHeader(1);
            key(p, "type");
        } else {
            p.packArrayHeader(1);
        }
        p.packString("AllBlocksCleared");
    }

    private static void writeExtraKeys(MessageBufferPacker p, List<@Nullable List<String>> extra) throws IOException {
        p.packArrayHeader(extra.size());
        for (List<String> perBlock : extra) {
            if (perBlock == null) {
                p.packNil();
            } else {
                p.packArrayHeader(perBlock.size());
                for (String k : perBlock) {
                    p.packString(k);
                }
            }
        }
    }

    private static void writeHashes(MessageBufferPacker p, long[] hashes) throws IOException {
        p.packArrayHeader(hashes.length);
        for (long h : hashes) {
            writeHash(p, h);
        }
    }

    /** vLLM publishes the low 64 digest bits as a Python int, i.e. unsigned: at or above 2^63 it is {@code cf}. */
    private static void writeHash(MessageBufferPacker p, long hash) throws IOException {
        if (hash >= 0) {
            p.packLong(hash);
        } else {
            p.writePayload(new byte[] {(byte) 0xcf,
                (byte) (hash >>> 56), (byte) (hash >>> 48), (byte) (hash >>> 40), (byte) (hash >>> 32),
                (byte) (hash >>> 24), (byte) (hash >>> 16), (byte) (hash >>> 8), (byte) hash});
        }
    }

    private static void key(MessageBufferPacker p, String k) throws IOException {
        p.packString(k);
    }

    private static void nullableInt(MessageBufferPacker p, @Nullable Integer v) throws IOException {
        if (v == null) {
            p.packNil();
        } else {
            p.packInt(v);
        }
    }

    private static void nullableString(MessageBufferPacker p, @Nullable String v) throws IOException {
        if (v == null) {
            p.packNil();
        } else {
            p.packString(v);
        }
    }
}
