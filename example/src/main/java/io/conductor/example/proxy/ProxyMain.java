package io.conductor.example.proxy;

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
        exitWithParent();
        System.out.println("READY " + proxy.readyJson());
        System.out.flush();
        stopped.await();
    }

    /**
     * When started by the demo (system property {@code conductor.parent.pid}), exits once that process is gone, so
     * that a killed demo or test JVM leaves no simulator behind.
     */
    private static void exitWithParent() {
        String pid = System.getProperty("conductor.parent.pid");
        if (pid == null) {
            return;
        }
        try {
            ProcessHandle.of(Long.parseLong(pid)).ifPresentOrElse(
                parent -> parent.onExit().thenRun(() -> System.exit(0)), () -> System.exit(0));
        } catch (NumberFormatException e) {
            System.err.println("ignoring conductor.parent.pid=" + pid + ": not a process id");
        }
    }
}
