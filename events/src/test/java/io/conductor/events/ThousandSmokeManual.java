package io.conductor.events;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Manual smoke run (not a test): 1,000 subscriptions on one poller, 999 of them to silent endpoints. */
final class ThousandSmokeManual {
    public static void main(String[] args) throws Exception {
        try (KvEventSubscriber subscriber = new KvEventSubscriber(SubscriptionTransportTest.CONFIG);
             VllmTestPublisher publisher = VllmTestPublisher.start(VllmTestPublisher.ReplayFormat.CURRENT)) {
            final long t0 = System.nanoTime();
            final List<CompletableFuture<Void>> added = new ArrayList<>();
            for (int i = 0; i < 999; i++) {
                added.add(subscriber.add(SubscriptionSpec.of(SubscriptionTransportTest.key("idle-" + i),
                        PublisherType.VLLM, "tcp://127.0.0.1:" + (40000 + i), "tcp://127.0.0.1:" + (45000 + i)),
                        new RecordingSink()));
            }
            final RecordingSink sink = new RecordingSink();
            added.add(subscriber.add(SubscriptionTransportTest.spec("live", publisher), sink));
            CompletableFuture.allOf(added.toArray(CompletableFuture[]::new)).join();
            System.out.printf("added 1000 in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
            final long cpu0 = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
            final long t1 = System.nanoTime();
            for (int i = 0; i < 2000; i++) {
                publisher.publish(SubscriptionTransportTest.stored(100L * i));
            }
            Await.until(() -> sink.lastSeq() == 1999, () -> "live stream among 1000");
            System.out.printf("2000 batches through 1 of 1000 subscriptions in %d ms%n",
                    (System.nanoTime() - t1) / 1_000_000);
            Thread.sleep(5000);
            long pollerCpu = 0;
            final var mx = java.lang.management.ManagementFactory.getThreadMXBean();
            for (final Thread t : Thread.getAllStackTraces().keySet()) {
                if (t.getName().startsWith("conductor-events-poller")) {
                    pollerCpu = mx.getThreadCpuTime(t.threadId());
                }
            }
            System.out.printf("threads: %d, poller cpu total %d ms, stats %d%n", Thread.activeCount(),
                    pollerCpu / 1_000_000, subscriber.stats().size());
            if (cpu0 < 0) {
                System.out.println();
            }
        }
    }
}
