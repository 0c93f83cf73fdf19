package io.conductor.events;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A sink that keeps a model of what the index would hold for this stream (store adds, remove drops, clear and reset
 * empty it) and records every batch and reset, for assertions from the test thread. After {@link #freeze()} every
 * call counts as a violation.
 *
 * <p>Thread-safe: the poller thread writes under the monitor, tests read under it.
 */
final class RecordingSink implements KvEventSink {

    private final List<Long> seqs = new ArrayList<>();
    private final List<Boolean> replayed = new ArrayList<>();
    private final List<ResetCause> resets = new ArrayList<>();
    private final List<DecodedEvent> events = new ArrayList<>();
    private final Set<Long> held = new HashSet<>();
    private final AtomicInteger callsAfterFreeze = new AtomicInteger();
    private final Thread[] callingThread = new Thread[1];
    private volatile boolean frozen;
    private boolean inBatch;
    private int protocolViolations;
    private int seqsAtLastReset;

    @Override
    public synchronized void onBatchBegin(KvBatch batch) {
        check();
        if (inBatch) {
            protocolViolations++;
        }
        inBatch = true;
    }

    @Override
    public synchronized void onEvent(KvBatch batch, KvEvent event) {
        check();
        if (!inBatch) {
            protocolViolations++;
        }
        events.add(DecodedEvent.of(event));
        switch (event.kind()) {
            case BLOCKS_STORED, OBJECT_STORED -> {
                for (int i = 0; i < event.blockCount(); i++) {
                    held.add(event.blockHash(i));
                }
            }
            case BLOCKS_REMOVED, OBJECT_REMOVED -> {
                for (int i = 0; i < event.blockCount(); i++) {
                    held.remove(event.blockHash(i));
                }
            }
            case ALL_BLOCKS_CLEARED, OBJECTS_CLEARED -> held.clear();
        }
    }

    @Override
    public synchronized void onBatchEnd(KvBatch batch) {
        check();
        if (!inBatch) {
            protocolViolations++;
        }
        inBatch = false;
        seqs.add(batch.seq());
        replayed.add(batch.replayed());
    }

    @Override
    public synchronized void onStreamReset(StreamKey stream, ResetCause cause, long epoch) {
        check();
        if (inBatch) {
            protocolViolations++;
        }
        resets.add(cause);
        held.clear();
        seqsAtLastReset = seqs.size();
    }

    private void check() {
        if (frozen) {
            callsAfterFreeze.incrementAndGet();
        }
        final Thread current = Thread.currentThread();
        if (callingThread[0] == null) {
            callingThread[0] = current;
        } else if (callingThread[0] != current) {
            protocolViolations++; // every call of one stream must come from one thread
        }
    }

    void freeze() {
        frozen = true;
    }

    int callsAfterFreeze() {
        return callsAfterFreeze.get();
    }

    synchronized int protocolViolations() {
        return protocolViolations;
    }

    synchronized List<Long> seqs() {
        return List.copyOf(seqs);
    }

    /** The seqs of the batches applied since the last reset: what the index holds was built from these. */
    synchronized List<Long> seqsSinceLastReset() {
        return List.copyOf(seqs.subList(seqsAtLastReset, seqs.size()));
    }

    synchronized List<Boolean> replayedFlags() {
        return List.copyOf(replayed);
    }

    synchronized int batches() {
        return seqs.size();
    }

    synchronized long lastSeq() {
        return seqs.isEmpty() ? -1 : seqs.get(seqs.size() - 1);
    }

    synchronized List<ResetCause> resets() {
        return List.copyOf(resets);
    }

    synchronized List<DecodedEvent> events() {
        return List.copyOf(events);
    }

    synchronized Set<Long> held() {
        return Set.copyOf(held);
    }

    synchronized boolean holds(long hash) {
        return held.contains(hash);
    }
}
