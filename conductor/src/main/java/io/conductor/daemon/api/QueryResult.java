package io.conductor.daemon.api;

import java.util.List;

/**
 * The answer to a prefix query, per instance sorted by id (mooncake-api.md §3.4 / §5.3). All values are token
 * counts. Immutable.
 *
 * @param instances the instances, sorted by id; empty when the context is unknown or hashing failed
 */
public record QueryResult(List<InstanceMatch> instances) {
    /** The empty answer {@code {"instances": {}}}. */
    public static final QueryResult EMPTY = new QueryResult(List.of());

    /**
     * One instance's matches.
     *
     * @param instanceId the instance
     * @param longestMatched the usable prefix (GPU, then CPU, then disk along the best rank, then the Mooncake
     *     Store): equals {@code store} when the store was consulted, else {@code disk}
     * @param gpu the longest GPU prefix over its ranks
     * @param cpu the longest GPU-then-CPU prefix over its ranks
     * @param disk the longest GPU-then-CPU-then-disk prefix over its ranks
     * @param store the cursor after the store phase ({@code disk} plus the blocks the Mooncake Store holds from
     *     there, see {@code docs/native-store.md}), or {@link #NO_STORE} when the store was not consulted
     * @param ranks every registered rank ascending, zero-hit ranks included
     */
    public record InstanceMatch(String instanceId, long longestMatched, long gpu, long cpu, long disk, long store,
            List<RankMatch> ranks) {
        /** {@code store} when the store probe was not consulted (off, down, or the query cannot name keys). */
        public static final long NO_STORE = -1;

        /**
         * An instance's matches without a store answer.
         *
         * @param instanceId the instance
         * @param longestMatched the usable prefix: equals {@code disk}
         * @param gpu the longest GPU prefix over its ranks
         * @param cpu the longest GPU-then-CPU prefix over its ranks
         * @param disk the longest GPU-then-CPU-then-disk prefix over its ranks
         * @param ranks every registered rank ascending, zero-hit ranks included
         */
        public InstanceMatch(String instanceId, long longestMatched, long gpu, long cpu, long disk,
                List<RankMatch> ranks) {
            this(instanceId, longestMatched, gpu, cpu, disk, NO_STORE, ranks);
        }

        /**
         * Tells whether the store was consulted for this instance.
         *
         * @return {@code store() != NO_STORE}
         */
        public boolean hasStore() {
            return store != NO_STORE;
        }
    }

    /**
     * One rank's cursor positions, in tokens.
     *
     * @param dpRank the DP rank
     * @param gpu tokens matched on that rank's GPU
     * @param cpu cursor after the CPU phase
     * @param disk cursor after the disk phase
     */
    public record RankMatch(int dpRank, long gpu, long cpu, long disk) {
    }
}
