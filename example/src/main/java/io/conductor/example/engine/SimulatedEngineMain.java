package io.conductor.example.engine;

import io.conductor.daemon.ConductorSubcommand;
import io.conductor.daemon.Main;
import io.conductor.example.CommandLines;
import io.conductor.example.ParentProcessWatch;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code mooncake_conductor engine}: runs one simulated vLLM engine until SIGINT/SIGTERM. Prints
 * {@code READY {json}} on stdout once every socket is bound, so scripts and tests can learn ephemeral ports.
 * A subcommand of the conductor's front end ({@link ConductorSubcommand}); one instance runs once, on the main
 * thread.
 */
@Command(name = "engine", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    description = {"A simulated vLLM engine (no GPU needed): OpenAI-compatible HTTP, KV events over ZeroMQ.",
        "Prints one line \"READY {json}\" with the bound ports once serving.",
        "Environment: PYTHONHASHSEED (hash seed text; unset = vllm-none-hash)."})
public final class SimulatedEngineMain implements ConductorSubcommand {
    @Mixin
    EngineConfig.Flags flags = new EngineConfig.Flags();

    @Spec
    CommandSpec spec;

    /** For the service loader. */
    public SimulatedEngineMain() {
    }

    /**
     * Runs {@code mooncake_conductor engine ARGS} (the demo starts engines through this class).
     *
     * @param args {@code vllm serve}-style flags
     */
    public static void main(String[] args) {
        Main.main(CommandLines.prepend("engine", args));
    }

    @Override
    public Integer call() throws InterruptedException {
        EngineConfig config;
        try {
            config = EngineConfig.parse(flags, System.getenv());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (!config.ignoredFlags().isEmpty()) {
            System.err.println("engine: ignoring vLLM flags without effect in a simulation: " + config.ignoredFlags());
        }
        SimulatedEngine engine;
        try {
            engine = new SimulatedEngine(config, BlockHashers::forConfig);
        } catch (RuntimeException e) {
            System.err.println("engine: failed to start: " + e.getMessage());
            return 1;
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
        return 0;
    }
}
