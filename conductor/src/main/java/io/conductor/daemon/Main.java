package io.conductor.daemon;

import io.conductor.daemon.config.ConductorConfig;
import io.conductor.daemon.config.ConfigException;
import io.conductor.daemon.config.ConfigFormat;
import io.conductor.daemon.config.ConfigLoader;
import io.conductor.daemon.config.ConfigLocation;
import io.conductor.daemon.config.LoadedConfig;
import io.conductor.daemon.config.SubscriptionConfig;
import io.conductor.daemon.service.ConductorApiExtension;
import io.conductor.daemon.service.ZmqEventStreams;
import io.conductor.daemon.store.NativeStoreBlock;
import io.conductor.daemon.store.StoreProbeExtension;
import io.conductor.daemon.store.StoreTier;
import io.conductor.daemon.warmup.StartupWarmup;
import io.conductor.index.hash.HashCommand;
import io.conductor.nativestore.NativeStoreConfig;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entry point of {@code mooncake_conductor}: parses the command line, configures logging, loads the configuration,
 * starts the {@link Daemon} and stops it in order on SIGTERM or SIGINT. Not instantiable; {@link #main} runs once
 * per process.
 *
 * <p>Exit status: 0 after a signal-triggered stop, {@code --help} or {@code --version}; 1 when the daemon cannot
 * start (e.g. the HTTP port is taken) or a subcommand is unavailable; 2 for a usage or configuration error.
 */
/*
 * Why a shutdown hook that ends in Runtime.halt: the JVM's own exit status after SIGTERM is 143 (128 + 15), while
 * the contract says exit 0 after an orderly stop. The hook stops the daemon on a separate thread with a budget
 * (so a stuck step cannot hold the process past ~5 s), then halts with the status the daemon asked for (0 unless an
 * extension requested a failing stop). The hook is installed only once the daemon runs; earlier failures exit
 * through System.exit with their own status.
 *
 * No static Logger field: slf4j-simple reads its configuration when the first logger is created, and LogSettings
 * must set it from CONDUCTOR_LOG_LEVEL before that.
 */
public final class Main {
    /** Normal end. */
    static final int EXIT_OK = 0;
    /** Runtime failure: cannot bind, an extension failed, a subcommand is unavailable. */
    static final int EXIT_FAILURE = 1;
    /** Usage or configuration error. */
    static final int EXIT_USAGE = 2;

    /** Environment variable of the ahead-of-time training run: {@code 1} = exit once the warm-up has run. */
    static final String ENV_EXIT_AFTER_WARMUP = "CONDUCTOR_EXIT_AFTER_WARMUP";

    /** How long the stop may take before the process exits anyway (the contract allows 5 s). */
    private static final long SHUTDOWN_BUDGET_MS = 4_000;

    private static final String USAGE = """
        Usage: mooncake_conductor [--config PATH] [--port N] [--host ADDR] [--lenient]
               mooncake_conductor hash [ARGS...]      block-hash calculator (see README)
               mooncake_conductor --help | --version

        KV-cache-aware conductor: subscribes to the KV-event streams listed in the config file and answers a
        proxy's cache-hit queries over HTTP.

        Options:
          --config PATH   config file (overrides CONDUCTOR_CONFIG_PATH)
          --port N        HTTP port, 0..65535 (overrides http_server_port; 0 = any free port)
          --host ADDR     HTTP bind address (default 0.0.0.0, all interfaces)
          --lenient       skip invalid config entries with a warning instead of refusing to start
          -h, --help      print this text
          -V, --version   print the version

        Environment:
          CONDUCTOR_CONFIG_PATH  config file (default $HOME/.mooncake/conductor_config.json)
          CONDUCTOR_LOG_LEVEL    DEBUG, INFO (default), WARN or ERROR, case-insensitive
          CONDUCTOR_JAVA_OPTS    extra JVM options (read by bin/mooncake_conductor)

        HTTP: GET /health, GET /ready, GET /metrics (Prometheus) and the query API.
        Exit status: 0 stopped by SIGTERM/SIGINT; 1 cannot start (e.g. port in use); 2 usage or config error.
        """;

    private Main() {
    }

    /**
     * Runs the command.
     *
     * @param args the command-line arguments
     */
    public static void main(String[] args) {
        @Nullable String logWarning = LogSettings.apply(System.getenv(LogSettings.ENV_LOG_LEVEL));
        System.exit(run(args, System.getenv(), logWarning));
    }

    /**
     * Runs everything but the final {@code System.exit}: returns at once for help, version, subcommands and errors,
     * and only when an extension requests a stop for a running daemon.
     */
    private static int run(String[] args, Map<String, String> env, @Nullable String logWarning) {
        Invocation invocation;
        try {
            invocation = Invocation.parse(args);
        } catch (Invocation.UsageException e) {
            System.err.println("mooncake_conductor: " + e.getMessage());
            System.err.println("Try 'mooncake_conductor --help'.");
            return EXIT_USAGE;
        }
        return switch (invocation) {
            case Invocation.Help help -> {
                System.out.print(USAGE);
                yield EXIT_OK;
            }
            case Invocation.ShowVersion showVersion -> {
                System.out.println("mooncake_conductor " + version());
                yield EXIT_OK;
            }
            case Invocation.Subcommand sub -> runSubcommand(sub.name(), sub.args(), System.in, System.out,
                System.err);
            case Invocation.Run runArgs -> runDaemon(runArgs, env, logWarning);
        };
    }

    /**
     * Dispatches a subcommand. Each case calls the subcommand's own entry point, which returns the exit status.
     *
     * @param name the subcommand, one of {@link Invocation#SUBCOMMANDS}
     * @param args its arguments
     * @param in   standard input (the hash command reads tokens from it)
     * @param out  standard output
     * @param err  standard error
     * @return the exit status
     */
    static int runSubcommand(String name, List<String> args, InputStream in, PrintStream out, PrintStream err) {
        return switch (name) {
            case "hash" -> HashCommand.run(args.toArray(String[]::new), in, out, err);
            default -> throw new IllegalArgumentException("not a subcommand: " + name);
        };
    }

    /**
     * The parts of the daemon installed at startup, in order: the store probe first (it attaches to the tier the
     * API's queries consult), then the API with the event subscriptions.
     */
    private static List<DaemonExtension> extensions(NativeStoreConfig nativeStore) {
        StoreTier store = new StoreTier();
        return List.of(new StoreProbeExtension(nativeStore, store),
            ConductorApiExtension.withEnvironment(ZmqEventStreams::withDefaults, store));
    }

    private static int runDaemon(Invocation.Run runArgs, Map<String, String> env, @Nullable String logWarning) {
        Logger log = LoggerFactory.getLogger(Main.class);
        if (logWarning != null) {
            log.warn(logWarning);
        }
        ConfigLocation location = ConfigLocation.resolve(
            runArgs.configPath(), env.get(ConfigLocation.ENV_CONFIG_PATH), env.get("HOME"));
        LoadedConfig loaded;
        NativeStoreConfig nativeStore;
        try {
            loaded = ConfigLoader.load(location.path(), runArgs.lenient());
            nativeStore = NativeStoreBlock.read(loaded.config().nativeStore(), env::get);
        } catch (ConfigException e) {
            for (String problem : e.problems()) {
                log.error("config {}: {}", location.path(), problem);
            }
            boolean entryProblems = e.problems().stream().anyMatch(line -> line.startsWith("invalid entry"));
            log.error("event=refusing_to_start reason=config_error problems={} path={}{}", e.problems().size(),
                location.path(), entryProblems ? " (fix the entries, or pass --lenient to skip invalid ones)" : "");
            return EXIT_USAGE;
        }
        ConductorConfig config = loaded.config();
        if (runArgs.port() != Invocation.NO_PORT) {
            config = config.withHttpPort(runArgs.port());
        }
        log.info("event=config_loaded path={} origin={} found={} subscriptions={} formats={} http_port={}",
            location.path(), location.origin().name().toLowerCase(java.util.Locale.ROOT), config.fileFound(),
            config.subscriptions().size(), formatCounts(config.subscriptions()), config.httpPort());

        StartupWarmup warmup;
        try {
            warmup = StartupWarmup.fromEnvironment(env.get(StartupWarmup.ENV_SECONDS));
        } catch (IllegalArgumentException e) {
            log.error("event=refusing_to_start reason=config_error detail=\"{}\"", e.getMessage());
            return EXIT_USAGE;
        }
        DaemonSettings settings = new DaemonSettings(runArgs.host(), config.httpPort(), runArgs.lenient(), version());
        Daemon daemon;
        try {
            List<DaemonExtension> parts = new ArrayList<>(extensions(nativeStore));
            parts.add(context -> context.addReadinessCheck("warmup", warmup.readinessCheck()));
            daemon = Daemon.start(settings, config, parts);
        } catch (DaemonStartException e) {
            log.error("event=refusing_to_start reason=\"{}\"", e.getMessage());
            return EXIT_FAILURE;
        }
        warmup.start(loopbackFor(settings.host()), daemon.port());
        if ("1".equals(env.get(ENV_EXIT_AFTER_WARMUP))) {
            // The build's ahead-of-time training run: warm up, then stop as on SIGTERM (the JVM writes its cache).
            Runtime.getRuntime().addShutdownHook(new Thread(() -> stopAndHalt(daemon, log), "conductor-shutdown-hook"));
            try {
                warmup.await(java.time.Duration.ofMinutes(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return EXIT_OK;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stopAndHalt(daemon, log), "conductor-shutdown-hook"));
        try {
            return daemon.awaitStopRequest();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return EXIT_FAILURE;
        }
    }

    /** Runs in the shutdown hook: stop within the budget, then end the process with the daemon's exit status. */
    private static void stopAndHalt(Daemon daemon, Logger log) {
        log.info("event=shutdown_requested");
        Thread stopper = new Thread(daemon::stop, "conductor-shutdown");
        stopper.start();
        try {
            stopper.join(SHUTDOWN_BUDGET_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (stopper.isAlive()) {
            log.warn("event=shutdown_overrun budget_ms={} detail=\"exiting with steps still running\"",
                SHUTDOWN_BUDGET_MS);
        }
        System.err.flush();
        System.out.flush();
        Runtime.getRuntime().halt(daemon.requestedExitStatus());
    }

    /** Where this process reaches its own HTTP server: loopback for a wildcard bind, else the bound address. */
    static String loopbackFor(String host) {
        return switch (host) {
            case "0.0.0.0", "" -> "127.0.0.1";
            case "::", "[::]" -> "::1";
            default -> host;
        };
    }

    private static String formatCounts(List<SubscriptionConfig> subscriptions) {
        Map<ConfigFormat, Integer> counts = new EnumMap<>(ConfigFormat.class);
        for (SubscriptionConfig subscription : subscriptions) {
            counts.merge(subscription.format(), 1, Integer::sum);
        }
        StringBuilder text = new StringBuilder();
        for (Map.Entry<ConfigFormat, Integer> entry : counts.entrySet()) {
            if (!text.isEmpty()) {
                text.append(',');
            }
            text.append(entry.getKey().name().toLowerCase(java.util.Locale.ROOT)).append(':').append(entry.getValue());
        }
        return text.isEmpty() ? "none" : text.toString();
    }

    /**
     * Returns the version: the jar manifest's {@code Implementation-Version}, or {@code dev} when run from classes.
     *
     * @return the version text
     */
    static String version() {
        String version = Main.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }
}
