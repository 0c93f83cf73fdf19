package io.conductor.events;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.ZMQ;

/**
 * One platform thread that owns many subscriptions: it polls all their sockets with one selector, reads whole
 * messages, runs each stream's session (and so its sink), and fires replay timeouts and scheduled rebuilds.
 *
 * <p>Threading: {@link #execute} and {@link #connectionEvent} may be called from any thread; they enqueue and wake
 * the poller through a pipe that sits among the polled items. Everything else runs on the poller thread. A
 * subscription is attached and detached only by commands, which run between polls, so once a detach command has
 * run no sink call for that subscription can follow.
 *
 * <p>Failures: the thread never dies of a throwable while running. A throwable escaping one stream (including an
 * {@link Error} from its sink) clears and degrades that stream only ({@link StreamSession#onFailure}); one escaping
 * the loop itself is counted ({@link #loopFailures}), logged, and the loop pauses 100 ms and goes on. Every
 * {@link VirtualMachineError} (such as {@link OutOfMemoryError}) is also handed to the fatal handler.
 */
final class PollerThread {

    private static final Logger LOG = LoggerFactory.getLogger(PollerThread.class);

    /** Messages read from one socket before moving to the next, so one busy stream cannot starve the rest. */
    private static final int BUDGET_PER_SOCKET = 256;
    private static final long MAX_POLL_MILLIS = 100;
    private static final long FAILURE_PAUSE_MILLIS = 100;
    private static final byte[] EMPTY = new byte[0];

    /** What a socket event hook saw. */
    enum PeerEvent {
        CONNECTED,
        DISCONNECTED,
        /** The live peer was dropped for a frame above {@code MAXMSGSIZE} (also a disconnect). */
        LIVE_TOO_LARGE,
        /** The replay peer was dropped for a frame above {@code MAXMSGSIZE}. */
        REPLAY_TOO_LARGE
    }

    private record ConnectionEvent(Subscription subscription, PeerEvent event) {
    }

    private final Thread thread;
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<ConnectionEvent> connectionEvents = new ConcurrentLinkedQueue<>();
    private final List<Subscription> subscriptions = new ArrayList<>();
    private final AtomicInteger load = new AtomicInteger();
    private final AtomicLong loopFailures = new AtomicLong();
    private final Consumer<Throwable> onFatal;
    private final Pipe wakePipe;
    private final Selector selector;
    private final ByteBuffer wakeByte = ByteBuffer.allocate(1);
    private final ByteBuffer wakeDrain = ByteBuffer.allocate(256);
    private volatile boolean running = true;
    /** System.nanoTime() at the start of the latest loop iteration: the watchdog's sign of life. */
    private volatile long lastLoopNanos = System.nanoTime();
    private boolean socketsChanged = true;
    private ZMQ.PollItem[] items = new ZMQ.PollItem[0];
    private Subscription[] owners = new Subscription[0];
    private boolean[] replayItem = new boolean[0];
    private int itemCount;

    /**
     * @param name the thread's name
     * @param onFatal called on the poller thread with every {@link VirtualMachineError} the loop catches; must not
     *     throw
     */
    PollerThread(String name, Consumer<Throwable> onFatal) {
        this.onFatal = onFatal;
        try {
            wakePipe = Pipe.open();
            wakePipe.source().configureBlocking(false);
            wakePipe.sink().configureBlocking(false);
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the poller's wake-up pipe", e);
        }
        thread = Thread.ofPlatform().name(name).daemon(true).unstarted(this::run);
    }

    void start() {
        thread.start();
    }

    /** Runs {@code command} on the poller thread, in submission order. */
    void execute(Runnable command) {
        commands.add(command);
        wakeup();
    }

    boolean isPollerThread() {
        return Thread.currentThread() == thread;
    }

    /** Subscriptions attached or being attached; used to spread new ones. */
    int load() {
        return load.get();
    }

    void reserve() {
        load.incrementAndGet();
    }

    void release() {
        load.decrementAndGet();
    }

    /** Called on a JeroMQ I/O thread by a subscription's socket event hook. */
    void connectionEvent(Subscription subscription, PeerEvent event) {
        connectionEvents.add(new ConnectionEvent(subscription, event));
        wakeup();
    }

    /** Poller thread: a subscription replaced or closed a socket. */
    void socketsChanged() {
        socketsChanged = true;
    }

    void attach(Subscription subscription) {
        subscriptions.add(subscription);
        socketsChanged = true;
    }

    void detach(Subscription subscription) {
        subscriptions.remove(subscription);
        socketsChanged = true;
    }

    /** Stops the loop, closes every remaining subscription's sockets, waits up to {@code timeoutMillis}. */
    void stop(long timeoutMillis) {
        running = false;
        wakeup();
        try {
            thread.join(timeoutMillis);
            if (thread.isAlive()) {
                LOG.warn("{} did not stop within {} ms; interrupting", thread.getName(), timeoutMillis);
                thread.interrupt();
                thread.join(timeoutMillis);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void wakeup() {
        try {
            synchronized (wakeByte) {
                wakeByte.clear();
                wakePipe.sink().write(wakeByte);
            }
        } catch (IOException e) {
            // A full pipe already guarantees a wake-up; a closed one means we are stopping.
        }
    }

    private void run() {
        try {
            while (running) {
                try {
                    pollOnce();
                } catch (Throwable t) {
                    // Outside any one stream (poll, selector, bookkeeping): never let the thread die silently.
                    loopFailures.incrementAndGet();
                    LOG.error("{}: poll loop iteration failed ({} so far); continuing", thread.getName(),
                            loopFailures.get(), t);
                    if (t instanceof VirtualMachineError) {
                        onFatal.accept(t);
                    }
                    pauseAfterFailure();
                }
            }
        } finally {
            runCommands();
            for (final Subscription s : subscriptions) {
                s.close();
            }
            subscriptions.clear();
            try {
                selector.close();
                wakePipe.source().close();
                wakePipe.sink().close();
            } catch (IOException e) {
                LOG.debug("closing the wake-up pipe", e);
            }
        }
    }

    boolean isAlive() {
        return thread.isAlive();
    }

    String name() {
        return thread.getName();
    }

    /** Nanoseconds since the loop last started an iteration (it does at least every 100 ms while healthy). */
    long sinceLastLoopNanos(long now) {
        return now - lastLoopNanos;
    }

    /**
     * Poller thread: moves every attached subscription onto {@code fresh} (after a JeroMQ I/O thread died).
     *
     * @return keys of the subscriptions that could not be reopened (each was failed and closed)
     */
    List<StreamKey> reopenAll(ZMQ.Context fresh) {
        final List<StreamKey> failed = new ArrayList<>();
        for (int i = subscriptions.size() - 1; i >= 0; i--) {
            final Subscription s = subscriptions.get(i);
            try {
                s.reopen(fresh);
            } catch (RuntimeException e) {
                LOG.error("stream {}: cannot reopen its sockets on the rebuilt transport", s.spec.key(), e);
                streamFailed(s, e, System.nanoTime());
                failed.add(s.spec.key());
            }
        }
        socketsChanged = true;
        return failed;
    }

    private void pollOnce() {
        lastLoopNanos = System.nanoTime();
        runCommands();
        runConnectionEvents();
        if (socketsChanged) {
            rebuildItems();
        }
        final long now = System.nanoTime();
        ZMQ.poll(selector, items, itemCount, pollMillis(now));
        final long after = System.nanoTime();
        for (int i = 0; i < itemCount; i++) {
            if (!items[i].isReadable()) {
                continue;
            }
            if (i == 0) {
                drainWakePipe();
                continue;
            }
            final Subscription s = owners[i];
            try {
                if (replayItem[i]) {
                    s.drainReplay(BUDGET_PER_SOCKET, after);
                } else {
                    s.drainLive(BUDGET_PER_SOCKET, after);
                }
            } catch (Throwable t) {
                streamFailed(s, t, after);
            }
        }
        final long timersAt = System.nanoTime();
        for (int i = 0, n = subscriptions.size(); i < n; i++) {
            final Subscription s = subscriptions.get(i);
            final long deadline = s.session.nextDeadline();
            if (deadline != Long.MAX_VALUE && timersAt - deadline >= 0) {
                try {
                    s.session.onTimer(timersAt);
                } catch (Throwable t) {
                    streamFailed(s, t, timersAt);
                }
            }
            if (s.reopenLiveAt() != Long.MAX_VALUE) {
                try {
                    s.reopenLiveIfDue(timersAt);
                } catch (Throwable t) {
                    streamFailed(s, t, timersAt);
                }
            }
        }
    }

    /**
     * A throwable escaped one stream: that stream alone is cleared and DEGRADED (its session decides), the others
     * go on. A {@link VirtualMachineError} (out of memory, ...) also goes to the fatal handler: the process is no
     * longer trustworthy.
     */
    private void streamFailed(Subscription s, Throwable t, long now) {
        s.clearFrames();
        try {
            s.session.onFailure(t, now);
        } catch (Throwable again) {
            LOG.error("stream {}: handling a failure failed", s.spec.key(), again);
        }
        if (t instanceof VirtualMachineError) {
            onFatal.accept(t);
        }
    }

    /** A failing loop must not spin a core; the pause is interruptible by {@link #stop}. */
    private void pauseAfterFailure() {
        try {
            Thread.sleep(FAILURE_PAUSE_MILLIS);
        } catch (InterruptedException e) {
            running = false;
        }
    }

    /** Poll-loop iterations that failed outside any one stream. */
    long loopFailures() {
        return loopFailures.get();
    }

    private void runCommands() {
        Runnable command;
        while ((command = commands.poll()) != null) {
            try {
                command.run();
            } catch (Throwable t) {
                LOG.error("{}: command failed", thread.getName(), t);
                if (t instanceof VirtualMachineError) {
                    onFatal.accept(t);
                }
            }
        }
    }

    private void runConnectionEvents() {
        ConnectionEvent event;
        while ((event = connectionEvents.poll()) != null) {
            final Subscription s = event.subscription();
            if (!subscriptions.contains(s)) {
                continue; // already removed
            }
            try {
                final long now = System.nanoTime();
                switch (event.event()) {
                    case CONNECTED -> s.session.onConnected(now);
                    case DISCONNECTED -> s.session.onDisconnected();
                    case LIVE_TOO_LARGE -> {
                        s.session.dropFrame(DropReason.FRAME_TOO_LARGE, "live peer " + s.spec.endpoint()
                                + " sent a frame above " + s.maxMessageBytes() + " bytes; disconnected it",
                                EMPTY, 0, 0, now);
                        s.session.onDisconnected();
                        s.onLiveTooLarge(now);
                    }
                    case REPLAY_TOO_LARGE -> s.session.dropFrame(DropReason.FRAME_TOO_LARGE, "replay peer "
                            + s.spec.replayEndpoint() + " sent a frame above " + s.maxMessageBytes()
                            + " bytes; disconnected it", EMPTY, 0, 0, now);
                }
            } catch (Throwable t) {
                streamFailed(s, t, System.nanoTime());
            }
        }
    }

    private long pollMillis(long now) {
        if (!commands.isEmpty() || !connectionEvents.isEmpty()) {
            return 0;
        }
        long next = MAX_POLL_MILLIS;
        for (int i = 0, n = subscriptions.size(); i < n; i++) {
            final Subscription s = subscriptions.get(i);
            final long deadline = Math.min(s.session.nextDeadline(), s.reopenLiveAt());
            if (deadline != Long.MAX_VALUE) {
                next = Math.min(next, Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - now) + 1));
            }
        }
        return next;
    }

    // Slots from itemCount on are cleared so closed sockets can be collected; the poll and its loop read only
    // slots below itemCount, all set above, so no null is ever read from items or owners.
    @SuppressWarnings("NullAway")
    private void rebuildItems() {
        socketsChanged = false;
        final int capacity = 1 + 2 * subscriptions.size();
        if (items.length < capacity) {
            items = new ZMQ.PollItem[capacity];
            owners = new Subscription[capacity];
            replayItem = new boolean[capacity];
        }
        int n = 0;
        items[n++] = new ZMQ.PollItem(wakePipe.source(), ZMQ.Poller.POLLIN);
        for (final Subscription s : subscriptions) {
            final ZMQ.Socket sub = s.sub();
            if (sub != null) {
                owners[n] = s;
                replayItem[n] = false;
                items[n++] = new ZMQ.PollItem(sub, ZMQ.Poller.POLLIN);
            }
            final ZMQ.Socket dealer = s.dealer();
            if (dealer != null) {
                owners[n] = s;
                replayItem[n] = true;
                items[n++] = new ZMQ.PollItem(dealer, ZMQ.Poller.POLLIN);
            }
        }
        for (int i = n; i < items.length; i++) {
            items[i] = null;
            owners[i] = null;
        }
        itemCount = n;
    }

    private void drainWakePipe() {
        try {
            while (true) {
                wakeDrain.clear();
                if (wakePipe.source().read(wakeDrain) <= 0) {
                    return;
                }
            }
        } catch (IOException e) {
            LOG.debug("draining the wake-up pipe", e);
        }
    }
}
