package io.conductor.index.hash;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BlockHashChainTest {
    private static final int[] TOKENS_1_TO_16 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    @Test
    void shouldHashNothingWhenOnlyReset() {
        final BlockHashChain chain = new BlockHashChain();

        chain.reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 4, TOKENS_1_TO_16, HashExtras.NONE);

        assertEquals(4, chain.blockCount());
        assertEquals(0, chain.hashedBlockCount());
    }

    @Test
    void shouldHashOnlyUpToTheAskedBlockWhenQueryStopsEarly() {
        final BlockHashChain chain = new BlockHashChain()
                .reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 4, TOKENS_1_TO_16, HashExtras.NONE);

        final long first = chain.blockHash(0);

        assertEquals(1, chain.hashedBlockCount());
        assertEquals(Long.parseUnsignedLong("10362225831949560093"), first);
        assertEquals(Long.parseUnsignedLong("8105927037106591648"), chain.blockHash(2));   // multi_block_chain
        assertEquals(3, chain.hashedBlockCount());
        assertEquals(first, chain.blockHash(0));
        assertEquals(3, chain.hashedBlockCount());
    }

    @Test
    void shouldForgetPreviousPromptWhenResetWithAnotherProfile() {
        final BlockHashChain chain = new BlockHashChain();
        final long pickle = chain.reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 4, TOKENS_1_TO_16,
                HashExtras.NONE).blockHash(1);

        final long cbor = chain.reset(HashProfile.of(HashAlgorithm.SHA256_CBOR, "0"), 4, TOKENS_1_TO_16,
                HashExtras.NONE).blockHash(1);

        assertEquals(Long.parseUnsignedLong("12472515041799373675"), pickle);
        assertEquals(Long.parseUnsignedLong("17270480062156288726"), cbor);
    }

    @Test
    void shouldMatchNewDefaultRootVectorsWhenSeedIsVllmNoneHash() {
        // hashing.md 8.3
        final BlockHashChain chain = new BlockHashChain();
        chain.reset(HashProfile.of(HashAlgorithm.SHA256_CBOR, "vllm-none-hash"), 4, TOKENS_1_TO_16, 0, 8,
                HashExtras.NONE);
        assertEquals(Long.parseUnsignedLong("9561501211280363793"), chain.blockHash(0));
        assertEquals(Long.parseUnsignedLong("15292913576410714033"), chain.blockHash(1));

        chain.reset(HashProfile.of(HashAlgorithm.SHA256, "vllm-none-hash"), 4, TOKENS_1_TO_16, 0, 8,
                HashExtras.NONE);
        assertEquals(Long.parseUnsignedLong("1882140585328457242"), chain.blockHash(0));
        assertEquals(Long.parseUnsignedLong("15284023028817948126"), chain.blockHash(1));
    }

    @Test
    void shouldHashOnlyTheGivenRangeWhenOffsetIsUsed() {
        final HashProfile profile = HashProfile.of(HashAlgorithm.SHA256, "0");
        final int[] padded = new int[20];
        System.arraycopy(TOKENS_1_TO_16, 0, padded, 3, 16);

        final BlockHashChain chain = new BlockHashChain().reset(profile, 4, padded, 3, 9, HashExtras.NONE);

        assertEquals(2, chain.blockCount());
        assertEquals(Long.parseUnsignedLong("12472515041799373675"), chain.blockHash(1));
    }

    @Test
    void shouldApplySaltToFirstBlockOnlyButChangeEveryLaterHash() {
        final HashProfile profile = HashProfile.of(HashAlgorithm.SHA256_CBOR, "0");
        final BlockHashChain plain = new BlockHashChain().reset(profile, 4, TOKENS_1_TO_16, HashExtras.NONE);
        final BlockHashChain salted = new BlockHashChain().reset(profile, 4, TOKENS_1_TO_16,
                HashExtras.of("", "tenant-salt"));

        for (int i = 0; i < 4; i++) {
            assertNotEquals(plain.blockHash(i), salted.blockHash(i), "block " + i);
        }
    }

    @Test
    void shouldRejectIndexWhenOutsideTheChain() {
        final BlockHashChain chain = new BlockHashChain()
                .reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 4, TOKENS_1_TO_16, 0, 7, HashExtras.NONE);

        assertEquals(1, chain.blockCount());
        assertThrows(IndexOutOfBoundsException.class, () -> chain.blockHash(1));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.blockHash(-1));
        assertEquals(0, chain.hashedBlockCount());
    }

    @Test
    void shouldLeaveNoBlocksWhenResetArgumentsAreInvalid() {
        final BlockHashChain chain = new BlockHashChain()
                .reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 4, TOKENS_1_TO_16, HashExtras.NONE);

        assertThrows(IllegalArgumentException.class, () -> chain.reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 0,
                TOKENS_1_TO_16, HashExtras.NONE));
        assertEquals(0, chain.blockCount());
        assertThrows(IndexOutOfBoundsException.class, () -> chain.reset(HashProfile.of(HashAlgorithm.SHA256, "0"), 4,
                TOKENS_1_TO_16, 10, 10, HashExtras.NONE));
        assertEquals(0, chain.blockCount());
    }

    @Test
    void shouldGrowWhenPromptIsLongerThanAnyBefore() {
        final HashProfile profile = HashProfile.of(HashAlgorithm.SHA256, "0");
        final int[] longPrompt = new int[16 * 3000];
        final BlockHashChain chain = new BlockHashChain().reset(profile, 4, TOKENS_1_TO_16, HashExtras.NONE);
        chain.blockHash(3);

        chain.reset(profile, 16, longPrompt, HashExtras.NONE);

        assertEquals(3000, chain.blockCount());
        final long last = chain.blockHash(2999);
        assertEquals(last, new BlockHashChain().reset(profile, 16, longPrompt, HashExtras.NONE).blockHash(2999));
    }
}
