package io.conductor.example.engine;

import io.conductor.example.ParentProcessWatch;
import java.util.concurrent.CountDownLatch;

/**
 * {@code mooncake_conductor engine}: runs one simulated vLLM engine until SIGINT/SIGTERM. Prints
 * {@code READY {json}} on stdout once every socket is bound, so scripts and tests can learn ephemeral ports.
 * Not instantiable; {@link #main} runs once per process.
 */
public final class SimulatedEngineMain {
    private SimulatedEngineMain() {
    }

    /**
     * Starts the engine.
     *
     * @param args {@code vllm serve}-style flags, see {@link EngineConfig#USAGE}
     * @throws InterruptedException if interrupted while serving
     */
    public static void main(String[] args) throws InterruptedException {
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h")) {
                System.out.print(EngineConfig.USAGE);
                return;
            }
        }
        EngineConfig config;
        try {
            config = EngineConfig.parse(args, System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println("engine: " + e.getMessage());
            System.err.print(EngineConfig.USAGE);
            System.exit(2);
            return;
        }
        if (!config.ignoredFlags().isEmpty()) {
            System.err.println("engine: ignoring vLLM flags without effect in a simulation: " + config.ignoredFlags());
        }
        SimulatedEngine engine;
        try {
            engine = new SimulatedEngine(config, BlockHashers::forConfig);
        } catch (RuntimeException e) {
            System.err.println("engine: failed to start: " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            engine.close();
            stopped.countDown();
        }, "engine-shutdown"));
        ParentProcessWatch.exitWithParent();
        System.out.println("READY " + engine.readyJson());
        System.out.flush();
        stopped.await();
    }
}
