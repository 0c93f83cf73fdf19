package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** SGLang (events.md 4) and Mooncake store master (events.md 5) decoding. */
class SglangAndMooncakeDecoderTest {

    /** SGLang's worked vector: a page of 16 zero tokens publishes this signed value (d3 on the wire). */
    private static final long SGLANG_ZERO_PAGE = -745911699836886992L;

    @Test
    void shouldSkipMetadataAndKeepSignedHashesWhenSglangSendsArrayEvents() {
        final byte[] payload = Payloads.pack(p -> {
            p.packArrayHeader(3).packDouble(5.0).packArrayHeader(2);
            // [tag, hashes, parent, tokens, block_size, lora_id, medium, metadata]
            p.packArrayHeader(8).packString("BlockStored").packArrayHeader(1).packLong(SGLANG_ZERO_PAGE)
                    .packLong(8635429971592222890L).packArrayHeader(16);
            for (int i = 0; i < 16; i++) {
                p.packInt(0);
            }
            p.packInt(16).packNil().packString("CPU_PINNED");
            p.packMapHeader(2).packString("cache_salt").packString("s").packString("session_id").packString("x");
            p.packArrayHeader(3).packString("BlockRemoved").packArrayHeader(1).packLong(SGLANG_ZERO_PAGE)
                    .packString("DISK");
            p.packInt(2); // attn_dp_rank
        });

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.SGLANG, payload, 2);

        assertNull(batch.batchDrop());
        assertEquals(2, batch.dpRank());
        final DecodedEvent stored = batch.event(0);
        assertArrayEquals(new long[] {SGLANG_ZERO_PAGE}, stored.hashes());
        assertEquals(8635429971592222890L, stored.parent());
        assertEquals(16, stored.tokens().length);
        assertEquals(Medium.CPU_PINNED, stored.medium());
        assertNull(stored.loraName()); // position 7 is SGLang's metadata, not a LoRA name
        assertEquals(Medium.DISK, batch.event(1).medium());
    }

    @Test
    void shouldKeepEachPairsFirstTokenWhenSglangSendsEagleTokens() {
        final byte[] event = Payloads.pack(p -> {
            p.packMapHeader(4).packString("type").packString("BlockStored");
            p.packString("block_hashes").packArrayHeader(1).packLong(-1);
            p.packString("token_ids").packArrayHeader(2).packArrayHeader(2).packInt(1).packInt(2)
                    .packArrayHeader(2).packInt(2).packInt(3);
            p.packString("metadata").packMapHeader(0);
        });

        final DecodedEvent e = DecodedBatch.decode(PublisherType.SGLANG, Payloads.batch(1.0, 0, Payloads.raw(event)))
                .event(0);

        assertArrayEquals(new int[] {1, 2}, e.tokens());
        assertArrayEquals(new long[] {-1}, e.hashes());
        assertEquals(true, e.bigramTokens());
    }

    @ParameterizedTest
    @CsvSource({
        "deployment-a@model-a@tp_rank:2@pcp1@dcp0@pp_rank:3@group:4@0123456789abcdef000000000000002a, , 42",
        "model-a@tp_rank:0@pcp0@dcp0@pp_rank:0@00000000000000000000000000000000FFFFFFFFFFFFFFFF, , 18446744073709551615",
        "model@pcp0@dcp0@head_or_tp_rank:1@pp_rank:0@0x10, , 16",
        "model@pcp0@dcp0@head_or_tp_rank:1@00ab@7, , 171",
        "12345, , 12345",
        "0X1f, , 31",
        "18446744073709551615, , 18446744073709551615",
        "not-a-connector-key, 0xabc, 2748",
        "whatever@tp_rank:1@zz, 00ff, 255",
    })
    void shouldDeriveKeyInSpecOrderWhenMooncakeStoresAnObject(String objectKey, String connectorHash, String key) {
        final byte[] payload = mooncakeBatch(mooncakeEvent("stored", objectKey, connectorHash, null));

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.MOONCAKE, payload);

        assertEquals(List.of(), batch.eventDrops());
        final DecodedEvent e = batch.event(0);
        assertEquals(EventKind.OBJECT_STORED, e.kind());
        assertArrayEquals(new long[] {Long.parseUnsignedLong(key)}, e.hashes());
        assertEquals(objectKey, e.objectKey());
        assertEquals("backend-1", e.backendId());
        assertEquals("tenant-a", e.tenantId());
        assertEquals(Medium.CPU, e.medium());
        assertEquals(7, e.eventId());
    }

    @Test
    void shouldConvertMillisecondsAndReadRemovedAndClearedWhenMooncakeBatchArrives() {
        final byte[] payload = mooncakeBatch(mooncakeEvent("removed", "0x2a", null, List.of(42L)),
                mooncakeEvent("cleared", null, null, null));

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.MOONCAKE, payload);

        assertEquals(1_700_000_000.123, batch.timestampSeconds(), 1e-6);
        assertEquals(EventKind.OBJECT_REMOVED, batch.event(0).kind());
        assertArrayEquals(new long[] {42}, batch.event(0).hashes());
        assertEquals(EventKind.OBJECTS_CLEARED, batch.event(1).kind());
        assertEquals("tenant-a", batch.event(1).tenantId());
    }

    @Test
    void shouldDropOnlyThatEventWhenMooncakeKeyCannotBeDerivedOrDisagrees() {
        final byte[] payload = mooncakeBatch(mooncakeEvent("stored", "sglang-abc_0_k", null, null),
                mooncakeEvent("stored", "0x2a", null, List.of(43L)),
                mooncakeEvent("stored", "0x2b", null, List.of(43L)),
                mooncakeEvent("exploded", "0x2a", null, null));

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.MOONCAKE, payload);

        assertEquals(List.of(DropReason.UNINDEXABLE_KEY, DropReason.HASH_MISMATCH, DropReason.UNKNOWN_EVENT_TAG),
                batch.eventDrops());
        assertArrayEquals(new long[] {43}, batch.event(0).hashes());
    }

    @Test
    void shouldUseLegacyTypeAndSeqHashesWhenGenericRfcFormHasNoObjectKey() {
        final byte[] event = Payloads.pack(p -> {
            p.packMapHeader(4).packString("type").packString("BlockStored");
            p.packString("backend_id").packString("b");
            p.packString("seq_hashes").packArrayHeader(2).packLong(1).packLong(2);
            p.packString("tenant_id").packString("");
        });

        final DecodedEvent e = DecodedBatch.decode(PublisherType.MOONCAKE, mooncakeBatch(event)).event(0);

        assertEquals(EventKind.OBJECT_STORED, e.kind());
        assertArrayEquals(new long[] {1, 2}, e.hashes());
        assertEquals("default", e.tenantId());
    }

    @Test
    void shouldRejectEventWithoutBackendWhenMooncakeOmitsIt() {
        final byte[] event = Payloads.pack(p -> p.packMapHeader(2).packString("event_type").packString("cleared")
                .packString("tenant_id").packString("t"));

        final DecodedBatch batch = DecodedBatch.decode(PublisherType.MOONCAKE, mooncakeBatch(event));

        assertEquals(List.of(DropReason.MISSING_FIELD), batch.eventDrops());
    }

    @Test
    void shouldMapRegistrationTypeWhenDaemonNamesThePublisher() {
        assertEquals(PublisherType.VLLM, PublisherType.fromRegistration("vLLM"));
        assertEquals(PublisherType.SGLANG, PublisherType.fromRegistration("sglang"));
        assertEquals(PublisherType.MOONCAKE, PublisherType.fromRegistration("Mooncake"));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> PublisherType.fromRegistration("TensorRT"));
    }

    static byte[] mooncakeBatch(byte[]... events) {
        return Payloads.pack(p -> {
            p.packArrayHeader(3).packLong(1_700_000_000_123L).packArrayHeader(events.length);
            for (final byte[] e : events) {
                p.writePayload(e);
            }
            p.packInt(0);
        });
    }

    /** A master-style event map: every common key, plus the stored / removed keys when an object key is given. */
    static byte[] mooncakeEvent(String type, String objectKey, String connectorHash, List<Long> seqHashes) {
        return Payloads.pack(p -> {
            int n = 12 + (objectKey != null ? 3 : 0) + (connectorHash != null ? 1 : 0);
            p.packMapHeader(n);
            p.packString("event_id").packLong(7);
            p.packString("timestamp").packLong(1_700_000_000_123L);
            p.packString("event_type").packString(type);
            p.packString("type").packString(type.equals("stored") ? "BlockStored" : type.equals("removed")
                    ? "BlockRemoved" : "AllBlocksCleared");
            p.packString("model_name").packNil();
            p.packString("block_size").packInt(16);
            p.packString("additional_salt").packNil();
            p.packString("lora_name").packNil();
            p.packString("tenant_id").packString("tenant-a");
            p.packString("backend_id").packString("backend-1");
            p.packString("medium");
            if (type.equals("cleared")) {
                p.packNil();
            } else {
                p.packString("cpu");
            }
            p.packString("dp_rank").packInt(0);
            if (objectKey != null) {
                p.packString("object_key").packString(objectKey);
                p.packString("seq_hashes").packArrayHeader(seqHashes == null ? 0 : seqHashes.size());
                if (seqHashes != null) {
                    for (final long h : seqHashes) {
                        p.packLong(h);
                    }
                }
                p.packString("base_block_idx").packNil();
            }
            if (connectorHash != null) {
                p.packString("connector_block_hash").packString(connectorHash);
            }
        });
    }
}
