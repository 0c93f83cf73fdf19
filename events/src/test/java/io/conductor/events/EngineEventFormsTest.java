package io.conductor.events;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 13's engine event forms as golden msgpack bytes (written out byte for byte as the publishers encode them:
 * msgspec / msgpack-c integer and string forms) sent over a real PUB socket on loopback to the real subscriber:
 * vLLM's storage and unknown media and its August 2026 optional fields, SGLang's tagged-map events with a salt and
 * session, its array events with a metadata map, EAGLE bigram pages, and every Mooncake Store key form of the
 * vLLM-Ascend and LMCache connectors.
 */
@Timeout(120)
class EngineEventFormsTest {

    /** vLLM map form: STORAGE with locality, session_id, ownership and an unknown nested key; a made-up medium. */
    static final byte[] VLLM_AUGUST_2026 = HexFormat.of().parseHex(
            "93cb41d954fc40200000938ca474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657392cf11223344"
            + "55667788cff122334455667788b1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f696473980102030405"
            + "060708aa626c6f636b5f73697a6504a76c6f72615f6964c0a66d656469756da753544f52414745a96c6f72615f6e616d"
            + "65c0a86c6f63616c697479a54c4f43414caa73657373696f6e5f6964a6736573732d31a96f776e657273686970a67368"
            + "61726564ac6675747572655f6669656c6481a66e65737465649201a17888a474797065ab426c6f636b53746f726564ac"
            + "626c6f636b5f68617368657391cf1122334455667789b1706172656e745f626c6f636b5f68617368cff1223344556677"
            + "88a9746f6b656e5f69647394090a0b0caa626c6f636b5f73697a6504a76c6f72615f6964c0a66d656469756da94e564d"
            + "455f54494552a96c6f72615f6e616d65c083a474797065ac426c6f636b52656d6f766564ac626c6f636b5f6861736865"
            + "7391cf1122334455667789a66d656469756da94e564d455f5449455200");

    /** SGLang tagged-map event (sglang #37482): top-level cache_salt and session_id; the zero page's hash. */
    static final byte[] SGLANG_TAGGED_MAP = HexFormat.of().parseHex(
            "93cb41d954fc404000009189a474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657391d3f5a5fd42"
            + "d16a2030b1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f696473dc0010000000000000000000000000"
            + "00000000aa626c6f636b5f73697a6510a76c6f72615f6964c0a66d656469756da3475055aa63616368655f73616c74a8"
            + "74656e616e742d61aa73657373696f6e5f6964a6736573732d3700");

    /** SGLang array events: one with a metadata map {cache_salt, session_id}, one EAGLE page of 16 bigram pairs. */
    static final byte[] SGLANG_ARRAY_SALT_AND_EAGLE = HexFormat.of().parseHex(
            "93cb41d954fc408000009298ab426c6f636b53746f72656491d3f5a5fd42d16a2030c0dc001000000000000000000000"
            + "00000000000010c0a347505582aa63616368655f73616c74a874656e616e742d61aa73657373696f6e5f6964a17397ab"
            + "426c6f636b53746f7265649107c0dc001092010292020392030492040592050692060792070892080992090a920a0b92"
            + "0b0c920c0d920d0e920e0f920f1092101110c0a347505500");

    /**
     * Mooncake master stored events (cpu) for six object keys: vLLM-Ascend layerwise by label (kv, then state),
     * the vLLM connector, LMCache current, LMCache layerwise with a tag, and LMCache's older format-prefixed key
     * with a decimal chunk hash.
     */
    static final byte[] MOONCAKE_KEY_FORMS = HexFormat.of().parseHex(
            "93cf0000018bcfe573b89689a86576656e745f696401a974696d657374616d70cf0000018bcfe573b8aa6576656e745f"
            + "74797065a673746f726564a974656e616e745f6964a764656661756c74aa6261636b656e645f6964a773746f72652d61"
            + "a66d656469756da3637075aa6d6f64656c5f6e616d65c0aa626c6f636b5f73697a65c0aa6f626a6563745f6b6579d994"
            + "7177656e4070637030406463703040686561645f6f725f74705f72616e6b3a314067726f75703a304063616368655f72"
            + "6f6c653a6b764063616368655f66616d696c793a6174746e406c617965725f69643a3540303132333435363738396162"
            + "636465663031323334353637383961626364656630313233343536373839616263646566303030303030303030303030"
            + "3030616189a86576656e745f696402a974696d657374616d70cf0000018bcfe573b8aa6576656e745f74797065a67374"
            + "6f726564a974656e616e745f6964a764656661756c74aa6261636b656e645f6964a773746f72652d61a66d656469756d"
            + "a3637075aa6d6f64656c5f6e616d65c0aa626c6f636b5f73697a65c0aa6f626a6563745f6b6579d9987177656e407063"
            + "7030406463703040686561645f6f725f74705f72616e6b3a314067726f75703a304063616368655f726f6c653a737461"
            + "74654063616368655f66616d696c793a6d616d6261406c617965725f69643a3540303132333435363738396162636465"
            + "663031323334353637383961626364656630313233343536373839616263646566303030303030303030303030303061"
            + "6189a86576656e745f696403a974696d657374616d70cf0000018bcfe573b8aa6576656e745f74797065a673746f7265"
            + "64a974656e616e745f6964a764656661756c74aa6261636b656e645f6964a773746f72652d61a66d656469756da36370"
            + "75aa6d6f64656c5f6e616d65c0aa626c6f636b5f73697a65c0aa6f626a6563745f6b6579d9786465706c6f796d656e74"
            + "2d61407177656e4074705f72616e6b3a32407063703140646370304070705f72616e6b3a334067726f75703a34403031"
            + "323334353637383961626364656630313233343536373839616263646566303132333435363738396162636465663030"
            + "303030303030303030303030616189a86576656e745f696404a974696d657374616d70cf0000018bcfe573b8aa657665"
            + "6e745f74797065a673746f726564a974656e616e745f6964a764656661756c74aa6261636b656e645f6964a773746f72"
            + "652d61a66d656469756da3637075aa6d6f64656c5f6e616d65c0aa626c6f636b5f73697a65c0aa6f626a6563745f6b65"
            + "79d95b5177656e2f5177656e332d38424032403140303132333435363738396162636465663031323334353637383961"
            + "626364656630313233343536373839616263646566303030303030303030303030303061614062666c6f6174313689a8"
            + "6576656e745f696405a974696d657374616d70cf0000018bcfe573b8aa6576656e745f74797065a673746f726564a974"
            + "656e616e745f6964a764656661756c74aa6261636b656e645f6964a773746f72652d61a66d656469756da3637075aa6d"
            + "6f64656c5f6e616d65c0aa626c6f636b5f73697a65c0aa6f626a6563745f6b6579d9695177656e2f5177656e332d3842"
            + "403240304030313233343536373839616263646566303132333435363738396162636465663031323334353637383961"
            + "6263646566303030303030303030303030303061614062666c6f6174313640334074656e616e742561636d6589a86576"
            + "656e745f696406a974696d657374616d70cf0000018bcfe573b8aa6576656e745f74797065a673746f726564a974656e"
            + "616e745f6964a764656661756c74aa6261636b656e645f6964a773746f72652d61a66d656469756da3637075aa6d6f64"
            + "656c5f6e616d65c0aa626c6f636b5f73697a65c0aa6f626a6563745f6b6579d935766c6c6d405177656e2f5177656e33"
            + "2d3842403240314031323334353637383930313233343536373839303132333435363738393000");

    /**
     * vLLM map events whose extra keys carry the request's salt on block 0: after a LoRA name (with an MM pair in
     * between), alone, and a continuation (parent set) whose tuple holds only the LoRA name.
     */
    static final byte[] VLLM_SALTED_EXTRA_KEYS = HexFormat.of().parseHex(
            "93cb41d954fc410000009389a474797065ab426c6f636b53746f726564ac626c6f636b5f686173686573920102b17061"
            + "72656e745f626c6f636b5f68617368c0a9746f6b656e5f696473980102030405060708aa626c6f636b5f73697a6504a7"
            + "6c6f72615f696403a66d656469756da3475055a96c6f72615f6e616d65a76d792d6c6f7261aa65787472615f6b657973"
            + "9293a76d792d6c6f726192a8303132336162636401a874656e616e742d6191a76d792d6c6f726189a474797065ab426c"
            + "6f636b53746f726564ac626c6f636b5f6861736865739103b1706172656e745f626c6f636b5f68617368c0a9746f6b65"
            + "6e5f6964739401020304aa626c6f636b5f73697a6504a76c6f72615f6964c0a66d656469756da3475055a96c6f72615f"
            + "6e616d65c0aa65787472615f6b6579739191a874656e616e742d6289a474797065ab426c6f636b53746f726564ac626c"
            + "6f636b5f6861736865739104b1706172656e745f626c6f636b5f6861736802a9746f6b656e5f69647394090a0b0caa62"
            + "6c6f636b5f73697a6504a76c6f72615f696403a66d656469756da3475055a96c6f72615f6e616d65a76d792d6c6f7261"
            + "aa65787472615f6b6579739191a76d792d6c6f726100");

    private final KvEventSubscriber subscriber = new KvEventSubscriber(SubscriptionTransportTest.CONFIG);

    @AfterEach
    void closeSubscriber() {
        subscriber.close();
    }

    private List<DecodedEvent> receive(PublisherType type, byte[] payload, int events) {
        try (VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.NONE)) {
            final RecordingSink sink = new RecordingSink();
            subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("e"), type, publisher.endpoint(), null),
                    sink).join();
            SubscriptionTransportTest.awaitFlow(publisher, sink);
            publisher.publish(payload);
            Await.until(() -> sink.events().size() >= events, () -> events + " events, got " + sink.events());
            final StreamStats stats = subscriber.stats(SubscriptionTransportTest.key("e"));
            assertEquals(0, stats.totalDrops(), () -> "drops " + stats.drops());
            return sink.events();
        }
    }

    @Test
    void shouldDecodeStorageUnknownMediaAndNewOptionalFieldsWhenVllmPublishesAugust2026Maps() {
        final List<DecodedEvent> events = receive(PublisherType.VLLM, VLLM_AUGUST_2026, 3);

        final DecodedEvent storage = events.get(0);
        assertEquals(Medium.STORAGE, storage.medium());
        assertEquals(Locality.LOCAL, storage.locality());
        assertEquals("sess-1", storage.sessionId());
        assertEquals("shared", storage.ownership());
        assertArrayEquals(new long[] {0x1122334455667788L, 0xf122334455667788L}, storage.hashes());
        final DecodedEvent unknown = events.get(1);
        assertEquals(Medium.OTHER, unknown.medium());
        assertEquals("NVME_TIER", unknown.mediumName());
        assertNull(unknown.sessionId());
        assertEquals(EventKind.BLOCKS_REMOVED, events.get(2).kind());
        assertEquals(Medium.OTHER, events.get(2).medium());
    }

    @Test
    void shouldTakeTheSaltFromBlockZerosExtraKeysWhenVllmPublishesASaltedRequest() {
        final List<DecodedEvent> events = receive(PublisherType.VLLM, VLLM_SALTED_EXTRA_KEYS, 3);

        assertEquals("tenant-a", events.get(0).cacheSalt());
        assertEquals("my-lora", events.get(0).loraName());
        assertEquals("tenant-b", events.get(1).cacheSalt());
        assertNull(events.get(2).cacheSalt(), "a continuation's first tuple is not block 0's");
    }

    @Test
    void shouldReadTopLevelSaltAndSessionWhenSglangPublishesTaggedMaps() {
        final DecodedEvent e = receive(PublisherType.SGLANG, SGLANG_TAGGED_MAP, 1).getFirst();

        assertEquals(EventKind.BLOCKS_STORED, e.kind());
        assertArrayEquals(new long[] {-745911699836886992L}, e.hashes());
        assertEquals("tenant-a", e.cacheSalt());
        assertEquals("sess-7", e.sessionId());
        assertEquals(16, e.tokens().length);
        assertFalse(e.bigramTokens());
    }

    @Test
    void shouldReadMetadataAndKeepPageTokensWhenSglangPublishesArraysWithEaglePages() {
        final List<DecodedEvent> events = receive(PublisherType.SGLANG, SGLANG_ARRAY_SALT_AND_EAGLE, 2);

        assertEquals("tenant-a", events.get(0).cacheSalt());
        assertEquals("s", events.get(0).sessionId());
        assertNull(events.get(0).loraName());
        final DecodedEvent eagle = events.get(1);
        assertTrue(eagle.bigramTokens());
        final int[] page = new int[16];
        for (int i = 0; i < 16; i++) {
            page[i] = i + 1;     // pair j is (t[j], t[j+1]): the page's own tokens are the first elements
        }
        assertArrayEquals(page, eagle.tokens());
        assertEquals(16, eagle.blockSize());
    }

    @Test
    void shouldParseEveryConnectorKeyFormByLabelWhenMooncakePublishesAscendAndLmcacheObjects() {
        final List<DecodedEvent> events = receive(PublisherType.MOONCAKE, MOONCAKE_KEY_FORMS, 6);

        for (int i = 0; i < 5; i++) {
            assertArrayEquals(new long[] {0xaa}, events.get(i).hashes(), "event " + i);
        }
        assertTrue(events.get(0).cacheRoleKv(), "cache_role:kv");
        assertFalse(events.get(1).cacheRoleKv(), "cache_role:state is another object");
        assertTrue(events.get(2).cacheRoleKv());
        assertNull(events.get(2).lmcacheChunkKey());
        assertEquals(1, events.get(3).lmcacheWorkerId());
        assertEquals("Qwen/Qwen3-8B@2@*@" + "0123456789abcdef".repeat(3) + "00000000000000aa@bfloat16",
                events.get(3).lmcacheChunkKey());
        assertEquals(0, events.get(4).lmcacheWorkerId());
        assertEquals("Qwen/Qwen3-8B@2@*@" + "0123456789abcdef".repeat(3) + "00000000000000aa@bfloat16@*@tenant%acme",
                events.get(4).lmcacheChunkKey());
        assertArrayEquals(new long[] {Long.parseUnsignedLong("14083847773837265618")}, events.get(5).hashes(), "decimal hash, low 64 bits");
        assertEquals(1, events.get(5).lmcacheWorkerId());
    }
}
