package io.conductor.index.hash;

import java.util.Arrays;
import java.util.Objects;

/**
 * Token-rehash mode for one event stream whose engine hashes the conductor cannot reproduce (unset seed on older
 * vLLM, an unsupported algorithm, a foreign scheme): it recomputes the conductor's own chain hashes from the
 * {@code token_ids} that {@code BlockStored} events carry, under an own {@link HashProfile}, and keeps an
 * engine-hash to own-hash map so {@code BlockRemoved} events can be translated. Queries against such a stream then
 * hash their prompts with a {@link BlockHashChain} under the same own profile and extras, and find the blocks.
 *
 * <p>Not thread-safe: one instance belongs to one stream and is used only by that stream's event thread. Nothing
 * is allocated per event or block. The table starts small ({@link #INITIAL_SLOTS} slots) and doubles as entries
 * arrive, up to what {@code capacity} entries need; {@link #clear()} shrinks it back. So a registered stream costs
 * a few KB until its engine stores blocks, not the table for its whole capacity.
 *
 * <p>Contract:
 * <ol>
 * <li>{@link #onBlockStored} chains from the parent's own digest (looked up by the parent's engine hash) or, with
 *     no parent, from the own profile's root, and applies the cache salt to that first block only. It writes one
 *     own hash per stored block and maps each engine hash to it, with a reference count (a hash stored twice, e.g.
 *     on two tiers or re-announced, needs two removals).</li>
 * <li>{@link #onBlockRemoved} translates the engine hashes it knows, decrements their counts and forgets those that
 *     reach zero; unknown hashes are skipped (blocks stored before the subscription, or under an unknown parent).</li>
 * <li>Failures return a negative sentinel and change nothing: {@link #UNKNOWN_PARENT} (the parent was never seen:
 *     those blocks cannot be indexed), {@link #TOKEN_COUNT_MISMATCH} ({@code token_ids} is not exactly
 *     {@code hashCount * blockSize} long, e.g. a sliding-window group) and {@link #TABLE_FULL} (treat like a
 *     gap: drop the stream's contributions and {@link #clear()}).</li>
 * <li>{@link #clear()} on {@code AllBlocksCleared}, on a replay gap and when the stream is unregistered.</li>
 * </ol>
 */
public final class TokenRehasher {
    /*
     * Layout: open addressing with linear probing over a power-of-two table at most half full. Per slot: the engine
     * hash and own hash interleaved in one long[] (one cache line per probe), a reference count in an int[] (0 marks
     * an empty slot, so every 64-bit engine hash is a legal key), and the own digest in a byte[] (the full digest is
     * the chain state a child needs; the 64-bit own hash alone would not do for SHA-256). Removal shifts the
     * following entries back instead of leaving tombstones. Engine hashes come from the network, so they are mixed
     * with a per-instance seed before probing.
     */

    /** {@link #onBlockStored} result: the parent engine hash is not in the map. */
    public static final int UNKNOWN_PARENT = -1;
    /** {@link #onBlockStored} result: {@code tokenCount != hashCount * blockSize}. */
    public static final int TOKEN_COUNT_MISMATCH = -2;
    /** {@link #onBlockStored} result: the map could exceed its capacity. */
    public static final int TABLE_FULL = -3;

    /** The largest capacity: 2^24 engine hashes (about 1.8 GiB of table with SHA-256 digests). */
    public static final int MAX_CAPACITY = 1 << 24;

    /** Slots of a new or cleared table (16 KB of arrays with SHA-256 digests). */
    public static final int INITIAL_SLOTS = 256;

    /** {@code find} result for an absent engine hash. */
    private static final int NOT_FOUND = -1;
    private static final long MIX_SEED_GOLDEN = 0x9E3779B97F4A7C15L;
    private static long seedSequence = System.nanoTime();

    private final HashProfile profile;
    private final BlockDigester digester = new BlockDigester();
    private final byte[] root;
    private final int digestLength;
    private final int keyOffset;
    private final int capacity;
    private final int maxSlots;
    private final MemoryGate gate;
    private boolean released;
    private int mask;
    private final long mixSeed;
    private long[] entries;                // [2 * slot] = engine hash, [2 * slot + 1] = own hash
    private int[] counts;                  // 0 = empty
    private byte[] digests;                // [slot * digestLength ..] = own digest
    private final byte[] scratch;          // two digests: the running parent and the new block
    private int size;

    /**
     * Creates an empty map for one stream.
     *
     * @param profile  the conductor's own profile for this stream (queries must hash with the same one)
     * @param capacity the most engine hashes kept at once, {@code 1..2^24}; size it to the stream's cache (GPU plus
     *                 offloaded blocks). The table grows up to about {@code capacity * 2 * (20 + digest length)}
     *                 bytes.
     * @throws IllegalArgumentException if the capacity is out of range
     */
    public TokenRehasher(HashProfile profile, int capacity) {
        this(profile, capacity, MemoryGate.UNLIMITED);
    }

    /**
     * Where a table takes the memory it grows into, shared by the streams of one daemon. Implementations must be
     * thread-safe (each stream grows on its own event thread).
     */
    public interface MemoryGate {
        /** A gate that always admits. */
        MemoryGate UNLIMITED = new MemoryGate() {
            @Override
            public boolean tryTake(long bytes) {
                return true;
            }

            @Override
            public void giveBack(long bytes) {
            }
        };

        /**
         * Takes bytes if the budget holds them.
         *
         * @param bytes the growth
         * @return whether they were taken
         */
        boolean tryTake(long bytes);

        /**
         * Gives back bytes taken earlier.
         *
         * @param bytes the bytes
         */
        void giveBack(long bytes);
    }

    /**
     * Creates an empty map for one stream whose growth is admitted by {@code gate}: a table that cannot grow
     * answers {@link #TABLE_FULL}. The initial table is taken from the gate too.
     *
     * @param profile  the conductor's own profile for this stream
     * @param capacity the most engine hashes kept at once, {@code 1..2^24}
     * @param gate     admits the table's memory; call {@link #release()} when the stream is dropped
     * @throws IllegalArgumentException if the capacity is out of range
     * @throws IllegalStateException if the gate cannot hold even the initial table
     */
    public TokenRehasher(HashProfile profile, int capacity, MemoryGate gate) {
        if (capacity < 1 || capacity > MAX_CAPACITY) {
            throw new IllegalArgumentException("capacity must be in 1..2^24, was " + capacity);
        }
        this.profile = Objects.requireNonNull(profile, "profile");
        this.digester.use(profile);
        this.root = Arrays.copyOf(profile.rootDigest(), profile.algorithm().digestLength());   // sglang: none
        this.digestLength = profile.algorithm().digestLength();
        this.keyOffset = profile.indexProjection().keyOffset(digestLength);
        this.capacity = capacity;
        this.maxSlots = Integer.highestOneBit(Math.max(2, capacity * 2 - 1)) << 1;   // > 2 * capacity - 1
        this.gate = Objects.requireNonNull(gate, "gate");
        int initial = Math.min(maxSlots, INITIAL_SLOTS);
        if (!gate.tryTake(initial * (20L + digestLength))) {
            throw new IllegalStateException("the token-rehash memory budget cannot hold another table");
        }
        allocate(initial);
        this.scratch = new byte[2 * digestLength];
        this.mixSeed = nextMixSeed();
    }

    private void allocate(int slots) {
        mask = slots - 1;
        entries = new long[2 * slots];
        counts = new int[slots];
        digests = new byte[slots * digestLength];
    }

    /**
     * Returns the bytes the table of {@code capacity} entries takes when full grown (what a memory budget must be
     * able to hold for one stream).
     *
     * @param capacity the capacity
     * @param digestLength the profile's digest length
     * @return bytes
     */
    public static long fullTableBytes(int capacity, int digestLength) {
        long slots = Long.highestOneBit(Math.max(2L, capacity * 2L - 1)) << 1;
        return slots * (20 + digestLength);
    }

    /**
     * Returns the bytes the table takes now.
     *
     * @return bytes
     */
    public long tableBytes() {
        return (long) counts.length * (20 + digestLength);
    }

    /**
     * Doubles the table until {@code entries} fit at most half full (never past {@code maxSlots}).
     *
     * @return false if the gate refused the growth (nothing changed)
     */
    private boolean ensureSlots(int entriesNeeded) {
        int slots = counts.length;
        if (2L * entriesNeeded <= slots || slots >= maxSlots) {
            return true;
        }
        while (2L * entriesNeeded > slots && slots < maxSlots) {
            slots <<= 1;
        }
        if (!gate.tryTake((long) (slots - counts.length) * (20 + digestLength))) {
            return false;
        }
        final long[] oldEntries = entries;
        final int[] oldCounts = counts;
        final byte[] oldDigests = digests;
        allocate(slots);
        final int length = digestLength;
        for (int old = 0; old < oldCounts.length; old++) {
            if (oldCounts[old] == 0) {
                continue;
            }
            int slot = home(oldEntries[2 * old]);
            while (counts[slot] != 0) {
                slot = (slot + 1) & mask;
            }
            entries[2 * slot] = oldEntries[2 * old];
            entries[2 * slot + 1] = oldEntries[2 * old + 1];
            counts[slot] = oldCounts[old];
            System.arraycopy(oldDigests, old * length, digests, slot * length, length);
        }
        return true;
    }

    private static synchronized long nextMixSeed() {
        seedSequence += MIX_SEED_GOLDEN;
        return mix(seedSequence);
    }

    /**
     * Computes own hashes for the blocks of one {@code BlockStored} event and maps each engine hash to its own hash.
     *
     * @param hasParent        whether the event has a {@code parent_block_hash} (false: the run starts at block 0)
     * @param parentEngineHash the parent's engine hash (ignored without parent)
     * @param engineHashes     the event's {@code block_hashes} as 64-bit values
     * @param hashOffset       first hash in {@code engineHashes}
     * @param hashCount        number of blocks, {@code >= 0}
     * @param tokens           the event's {@code token_ids}
     * @param tokenOffset      first token in {@code tokens}
     * @param tokenCount       number of tokens; must equal {@code hashCount * blockSize}
     * @param blockSize        tokens per block, {@code >= 1}
     * @param extras           LoRA name (every block) and cache salt (applied only without parent)
     * @param ownHashesOut     receives one own 64-bit hash per block, in order
     * @param outOffset        first slot in {@code ownHashesOut}
     * @return {@code hashCount}, or {@link #UNKNOWN_PARENT}, {@link #TOKEN_COUNT_MISMATCH} or {@link #TABLE_FULL}
     *         (then nothing changed)
     * @throws IllegalArgumentException  if {@code blockSize < 1}
     * @throws IndexOutOfBoundsException if a range lies outside its array
     */
    public int onBlockStored(boolean hasParent, long parentEngineHash, long[] engineHashes, int hashOffset,
                             int hashCount, int[] tokens, int tokenOffset, int tokenCount, int blockSize,
                             HashExtras extras, long[] ownHashesOut, int outOffset) {
        if (blockSize < 1) {
            throw new IllegalArgumentException("block size must be at least 1, was " + blockSize);
        }
        Objects.checkFromIndexSize(hashOffset, hashCount, engineHashes.length);
        Objects.checkFromIndexSize(tokenOffset, tokenCount, tokens.length);
        Objects.checkFromIndexSize(outOffset, hashCount, ownHashesOut.length);
        if ((long) hashCount * blockSize != tokenCount) {
            return TOKEN_COUNT_MISMATCH;
        }
        if (size + hashCount > capacity) {
            return TABLE_FULL;
        }
        if (!ensureSlots(size + hashCount)) {
            return TABLE_FULL;
        }
        final int length = digestLength;
        final byte[] s = scratch;
        if (hasParent) {
            final int parentSlot = find(parentEngineHash);
            if (parentSlot == NOT_FOUND) {
                return UNKNOWN_PARENT;
            }
            System.arraycopy(digests, parentSlot * length, s, 0, length);
        } else {
            System.arraycopy(root, 0, s, 0, length);
        }
        int parentAt = 0;
        for (int i = 0; i < hashCount; i++) {
            final int outAt = length - parentAt;            // alternate between the two scratch digests
            digester.digest(s, parentAt, !hasParent && i == 0, tokens, tokenOffset + i * blockSize, blockSize,
                    extras, s, outAt);
            final long own = BlockDigester.readLongBe(s, outAt + keyOffset);
            ownHashesOut[outOffset + i] = own;
            insert(engineHashes[hashOffset + i], own, s, outAt);
            parentAt = outAt;
        }
        return hashCount;
    }

    /**
     * Translates the hashes of one {@code BlockRemoved} event and releases one reference on each known hash.
     *
     * @param engineHashes the removed engine hashes
     * @param offset       first hash
     * @param count        number of hashes
     * @param ownHashesOut receives the own hash of every known engine hash, in order (at most {@code count})
     * @param outOffset    first slot in {@code ownHashesOut}
     * @return the number of own hashes written; unknown engine hashes are skipped
     * @throws IndexOutOfBoundsException if a range lies outside its array
     */
    public int onBlockRemoved(long[] engineHashes, int offset, int count, long[] ownHashesOut, int outOffset) {
        Objects.checkFromIndexSize(offset, count, engineHashes.length);
        Objects.checkFromIndexSize(outOffset, count, ownHashesOut.length);
        int written = 0;
        for (int i = 0; i < count; i++) {
            final int slot = find(engineHashes[offset + i]);
            if (slot == NOT_FOUND) {
                continue;
            }
            ownHashesOut[outOffset + written++] = entries[2 * slot + 1];
            if (--counts[slot] == 0) {
                delete(slot);
            }
        }
        return written;
    }

    /**
     * Returns the own hash mapped to an engine hash.
     *
     * @param engineHash   the engine hash
     * @param missingValue what to return when the engine hash is unknown
     * @return the own hash, or {@code missingValue}
     */
    public long ownHashOrDefault(long engineHash, long missingValue) {
        final int slot = find(engineHash);
        return slot == NOT_FOUND ? missingValue : entries[2 * slot + 1];
    }

    /**
     * Takes one more reference on a mapped engine hash and returns its own hash: a block another KV-cache group of
     * a hybrid model stores under a hash its full-attention group mapped, so that group's removal does not make the
     * other group's later removal unmappable. Released by {@link #onBlockRemoved} like any reference.
     *
     * @param engineHash   the engine hash
     * @param missingValue what to return (taking nothing) when the engine hash is unknown
     * @return the own hash, or {@code missingValue}
     */
    public long retainOwnHash(long engineHash, long missingValue) {
        final int slot = find(engineHash);
        if (slot == NOT_FOUND) {
            return missingValue;
        }
        counts[slot]++;
        return entries[2 * slot + 1];
    }

    /**
     * Tells whether an engine hash is mapped.
     *
     * @param engineHash the engine hash
     * @return {@code true} if it was stored more often than removed since the last clear
     */
    public boolean contains(long engineHash) {
        return find(engineHash) != NOT_FOUND;
    }

    /**
     * Returns the number of mapped engine hashes.
     *
     * @return the size, {@code 0..capacity()}
     */
    public int size() {
        return size;
    }

    /**
     * Returns the most engine hashes kept at once.
     *
     * @return the capacity given at construction
     */
    public int capacity() {
        return capacity;
    }

    /**
     * Returns the own profile under which this stream's blocks are rehashed.
     *
     * @return the profile
     */
    public HashProfile profile() {
        return profile;
    }

    /**
     * Copies the map (a snapshot of this stream); the copy shares nothing with the table.
     *
     * @return the entries, in slot order
     */
    public RehashEntries exportEntries() {
        final int n = size;
        final int length = digestLength;
        long[] engine = new long[n];
        long[] own = new long[n];
        int[] refs = new int[n];
        byte[] ds = new byte[n * length];
        int k = 0;
        for (int slot = 0; slot < counts.length && k < n; slot++) {
            if (counts[slot] == 0) {
                continue;
            }
            engine[k] = entries[2 * slot];
            own[k] = entries[2 * slot + 1];
            refs[k] = counts[slot];
            System.arraycopy(digests, slot * length, ds, k * length, length);
            k++;
        }
        return new RehashEntries(length, engine, own, refs, ds);
    }

    /**
     * Fills an empty map from a copy taken by {@link #exportEntries} (a snapshot restore), so that later
     * {@code BlockRemoved} events translate restored blocks and later {@code BlockStored} events chain from them.
     * A repeated engine hash adds its counts.
     *
     * @param saved the copy
     * @return false, changing nothing, when the map is not empty or {@code saved} exceeds the capacity or the
     *         memory gate
     * @throws IllegalArgumentException when the copy's digest length is not this profile's, or an own hash is not
     *                                  the one its digest projects to (a copy of another profile)
     */
    public boolean restoreEntries(RehashEntries saved) {
        Objects.requireNonNull(saved, "saved");
        final int length = digestLength;
        if (saved.digestLength() != length) {
            throw new IllegalArgumentException("saved digest length " + saved.digestLength() + ", this profile's is "
                    + length);
        }
        final int n = saved.size();
        final byte[] ds = saved.digests();
        for (int i = 0; i < n; i++) {
            if (BlockDigester.readLongBe(ds, i * length + keyOffset) != saved.ownHashes()[i]) {
                throw new IllegalArgumentException("saved entry " + i + ": own hash does not match its digest");
            }
        }
        if (size != 0 || n > capacity || !ensureSlots(n)) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            final long engine = saved.engineHashes()[i];
            final int count = saved.counts()[i];
            final int slot = find(engine);
            if (slot != NOT_FOUND) {
                counts[slot] += count;
                continue;
            }
            insert(engine, saved.ownHashes()[i], ds, i * length);
            counts[find(engine)] = count;
        }
        return true;
    }

    /** Forgets every mapping (AllBlocksCleared, a replay gap, unregistration) and shrinks the table back. */
    public void clear() {
        if (counts.length > INITIAL_SLOTS) {
            gate.giveBack((long) (counts.length - INITIAL_SLOTS) * (20 + digestLength));
            allocate(INITIAL_SLOTS);
        } else {
            Arrays.fill(counts, 0);
        }
        size = 0;
    }

    /**
     * Gives the whole table's memory back to the gate; call once when the stream is dropped. The map is empty and
     * must not be used afterwards.
     */
    public void release() {
        if (released) {
            return;
        }
        released = true;
        gate.giveBack(tableBytes());
        allocate(1);
        size = 0;
    }

    private int find(long engineHash) {
        final long[] e = entries;
        final int[] c = counts;
        final int m = mask;
        int slot = home(engineHash);
        while (c[slot] != 0) {
            if (e[2 * slot] == engineHash) {
                return slot;
            }
            slot = (slot + 1) & m;
        }
        return NOT_FOUND;
    }

    private void insert(long engineHash, long own, byte[] digest, int digestOffset) {
        final long[] e = entries;
        final int[] c = counts;
        int slot = home(engineHash);
        while (c[slot] != 0) {
            if (e[2 * slot] == engineHash) {
                c[slot]++;                  // a repeat keeps its first own hash: the chain it belongs to is known
                return;
            }
            slot = (slot + 1) & mask;
        }
        e[2 * slot] = engineHash;
        e[2 * slot + 1] = own;
        c[slot] = 1;
        System.arraycopy(digest, digestOffset, digests, slot * digestLength, digestLength);
        size++;
    }

    /** Backward-shift deletion: moves later entries of the probe run into the hole so lookups need no tombstone. */
    private void delete(int removed) {
        final long[] e = entries;
        final int[] c = counts;
        final int m = mask;
        final int length = digestLength;
        int hole = removed;
        int slot = (hole + 1) & m;
        while (c[slot] != 0) {
            final int home = home(e[2 * slot]);
            // the entry may move into the hole if its home is not cyclically inside (hole, slot]
            if (((slot - home) & m) >= ((slot - hole) & m)) {
                e[2 * hole] = e[2 * slot];
                e[2 * hole + 1] = e[2 * slot + 1];
                c[hole] = c[slot];
                System.arraycopy(digests, slot * length, digests, hole * length, length);
                hole = slot;
            }
            slot = (slot + 1) & m;
        }
        c[hole] = 0;
        size--;
    }

    private int home(long engineHash) {
        return (int) mix(engineHash ^ mixSeed) & mask;
    }

    /** Murmur3's 64-bit finalizer: every input bit affects every output bit. */
    private static long mix(long value) {
        long h = value;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h;
    }
}
