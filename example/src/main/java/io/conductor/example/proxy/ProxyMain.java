package io.conductor.example.proxy;

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
 * {@code mooncake_conductor proxy}: runs the cache-aware P/D proxy until SIGINT/SIGTERM. Prints
 * {@code READY {json}} on stdout once listening. A subcommand of the conductor's front end
 * ({@link ConductorSubcommand}); one instance runs once, on the main thread.
 */
@Command(name = "proxy", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    description = {"The cache-aware prefill/decode proxy (OpenAI-compatible).",
        "A prefill instance's conductor instance_id is \"host:port\" unless the JSON config names it.",
        "Prints one line \"READY {json}\" once serving."})
public final class ProxyMain implements ConductorSubcommand {
    @Mixin
    ProxyConfig.Flags flags = new ProxyConfig.Flags();

    @Spec
    CommandSpec spec;

    /** For the service loader. */
    public ProxyMain() {
    }

    /**
     * Runs {@code mooncake_conductor proxy ARGS} (the demo starts the proxy through this class).
     *
     * @param args the proxy's flags
     */
    public static void main(String[] args) {
        Main.main(CommandLines.prepend("proxy", args));
    }

    @Override
    public Integer call() throws InterruptedException {
        ProxyConfig config;
        try {
            config = ProxyConfig.parse(flags);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PdProxy proxy;
        try {
            proxy = new PdProxy(config);
        } catch (RuntimeException e) {
            System.err.println("proxy: failed to start: " + e.getMessage());
            return 1;
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
        return 0;
    }
}
