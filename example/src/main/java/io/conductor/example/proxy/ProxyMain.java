package io.conductor.example.proxy;

import io.conductor.example.ParentProcessWatch;
import java.util.concurrent.CountDownLatch;

/**
 * {@code mooncake_conductor proxy}: runs the cache-aware P/D proxy until SIGINT/SIGTERM. Prints
 * {@code READY {json}} on stdout once listening. Not instantiable; {@link #main} runs once per process.
 */
public final class ProxyMain {
    private ProxyMain() {
    }

    /**
     * Starts the proxy.
     *
     * @param args flags, see {@link ProxyConfig#USAGE}
     * @throws InterruptedException if interrupted while serving
     */
    public static void main(String[] args) throws InterruptedException {
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h")) {
                System.out.print(ProxyConfig.USAGE);
                return;
            }
        }
        ProxyConfig config;
        try {
            config = ProxyConfig.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("proxy: " + e.getMessage());
            System.err.print(ProxyConfig.USAGE);
            System.exit(2);
            return;
        }
        PdProxy proxy;
        try {
            proxy = new PdProxy(config);
        } catch (RuntimeException e) {
            System.err.println("proxy: failed to start: " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            proxy.close();
            stopped.countDown();
        }, "proxy-shutdown"));
        ParentProcessWatch.exitWithParent();
        System.out.println("READY " + proxy.readyJson());
        System.out.flush();
        stopped.await();
    }
}
