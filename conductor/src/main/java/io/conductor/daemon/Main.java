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
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;

/**
 * Entry point of {@code mooncake_conductor}: the one command-line front end (picocli) for {@code daemon} (the
 * default), {@code hash}, and the subcommands other jars contribute ({@link ConductorSubcommand}: {@code demo},
 * {@code engine}, {@code proxy} in a source checkout). For the daemon it configures logging, loads the
 * configuration, starts the {@link Daemon} and stops it in order on SIGTERM or SIGINT. Not instantiable;
 * {@link #main} runs once per process.
 *
 * <p>Exit status: 0 after a signal-triggered stop, {@code --help} or {@code --version}; 1 when the daemon cannot
 * start (e.g. the HTTP port is taken); 2 for a usage or configuration error (an unknown option, with a
 * suggestion; a {@code --config} file that does not exist; a {@code --host} that does not resolve).
 */
/*
 * Why a shutdown hook that ends in Runtime.halt: the JVM's own exit status after SIGTERM is 143 (128 + 15), while
 * the contract says exit 0 after an orderly stop. The hook stops the daemon on a separate thread with a budget
 * (so a stuck step cannot hold the process past ~5 s), then halts with the status the daemon asked for (0 unless an
 * extension requested a failing stop). The hook is installed only once the daemon runs; earlier failures exit
 * through System.exit with their own status.
 *
 * No static Logger field: logback reads its configuration when the first logger is created, and LogSettings
 * must set it from CONDUCTOR_LOG_LEVEL and CONDUCTOR_LOG_FORMAT before that.
 */
public final class Main {
    /** Normal end. */
    static final int EXIT_OK = 0;
    /** Runtime failure: cannot bind, an extension failed. */
    static final int EXIT_FAILURE = 1;
    /** Usage or configuration error (picocli's usage exit code too). */
    static final int EXIT_USAGE = 2;

    /** Environment variable of the ahead-of-time training run: {@code 1} = exit once the warm-up has run. */
    static final String ENV_EXIT_AFTER_WARMUP = "CONDUCTOR_EXIT_AFTER_WARMUP";

    /** How long the stop may take before the process exits anyway (the contract allows 5 s). */
    private static final long SHUTDOWN_BUDGET_MS = 4_000;

    /**
     * Every environment variable the conductor, its launcher and its subcommands read, for {@code --help}. A test
     * checks that each {@code CONDUCTOR_*} name in the sources is listed here.
     */
    static final String ENVIRONMENT = """
        Environment:
          CONDUCTOR_CONFIG_PATH           config file when --config is absent (default
                                          $HOME/.mooncake/conductor_config.json; missing = no subscriptions)
          CONDUCTOR_LOG_LEVEL             DEBUG, INFO (default), WARN or ERROR, case-insensitive
          CONDUCTOR_LOG_FORMAT            text (default, one human-readable line per event) or json (one JSON
                                          object per line)
          CONDUCTOR_ADMIN_API_KEY         when set, POST /register and /unregister need it (X-API-Key)
          CONDUCTOR_EVENT_POLLER_THREADS  ZMQ event poller threads
          CONDUCTOR_EVENT_RCVHWM          ZMQ receive high-water mark per subscription
          CONDUCTOR_EVENT_MAX_MESSAGE_BYTES  largest ZMQ frame accepted from a publisher (default 16 MiB)
          CONDUCTOR_JAVA_OPTS             extra JVM options (read by bin/mooncake_conductor)
          CONDUCTOR_SKIP_BUILD            1: a source checkout's launcher runs the jar it has, never rebuilds
          CONDUCTOR_WARMUP_SECONDS        start-up warm-up before /ready turns 200 (default 3; 0 = off)
          CONDUCTOR_EXIT_AFTER_WARMUP     1: exit after the warm-up (the ahead-of-time cache's training run)
          JAVA_HOME                       the JDK 25+ to run with (else /usr/lib/jvm/*25*)
          MALLOC_ARENA_MAX                glibc malloc arenas (the launcher's default: 2)
          MOONCAKE_CONFIG_PATH            Mooncake Store client config, for the native_store probe
          PYTHONHASHSEED                  engine: the simulated engine's hash seed (unset = vllm-none-hash)
        """;

    private Main() {
    }

    /** What the daemon reads from outside the command line: environment and the deferred log warning. */
    record Environment(Map<String, String> variables, @Nullable String logWarning) {
    }

    /** The root command: only {@code --help}, {@code --version} and the subcommands. */
    @Command(name = "mooncake_conductor", mixinStandardHelpOptions = true, versionProvider = Version.class,
            description = "KV-cache-aware conductor for LLM serving. Without a subcommand, runs the daemon "
                    + "(options as for 'mooncake_conductor daemon --help').",
            commandListHeading = "%nCommands:%n", footerHeading = "%n", footer = "${sys:conductor.help.footer}")
    static final class Root implements Callable<Integer> {
        @Override
        public Integer call() {
            return EXIT_USAGE; // unreachable: run() always selects a subcommand or help/version
        }
    }

    /** {@code --version}: the jar manifest's version (subcommands of other jars use it too). */
    public static final class Version implements IVersionProvider {
        /** For picocli. */
        public Version() {
        }


        @Override
        public String[] getVersion() {
            return new String[] {"mooncake_conductor " + version()};
        }
    }

    /**
     * Runs the command.
     *
     * @param args the command-line arguments
     */
    public static void main(String[] args) {
        @Nullable String logWarning = LogSettings.apply(System.getenv(LogSettings.ENV_LOG_LEVEL),
            System.getenv(LogSettings.ENV_LOG_FORMAT));
        System.exit(run(args, System.in, System.out, System.err, new Environment(System.getenv(), logWarning)));
    }

    /**
     * Builds the command line: the root, {@code daemon}, {@code hash}, and every {@link ConductorSubcommand} on
     * the class path.
     *
     * @param in standard input (the hash command reads tokens from it)
     * @param environment what the daemon reads besides its options
     * @return the command line, printing to the given streams
     */
    static CommandLine commandLine(InputStream in, PrintStream out, PrintStream err, Environment environment) {
        System.setProperty("conductor.help.footer", ENVIRONMENT
                + "Exit status: 0 ok or stopped by SIGTERM/SIGINT; 1 cannot start; 2 usage or config error.");
        CommandLine root = new CommandLine(new Root());
        root.addSubcommand(new CommandLine(new DaemonCommand(environment)));
        root.addSubcommand(new CommandLine(new HashSubcommand(in, out, err)));
        for (ConductorSubcommand extra : ServiceLoader.load(ConductorSubcommand.class)) {
            root.addSubcommand(new CommandLine(extra));
        }
        root.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        root.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        root.setUsageHelpAutoWidth(false);
        root.setUsageHelpWidth(120);
        root.setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF));
        return root;
    }

    /**
     * Runs a command line in this process with the process environment, up to (not including) the final
     * {@code System.exit}; for tests of subcommands that other modules contribute.
     *
     * @param args the command-line arguments
     * @param in standard input
     * @param out standard output
     * @param err standard error
     * @return the exit status
     */
    public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
        return run(args, in, out, err, new Environment(System.getenv(), null));
    }

    /**
     * Runs everything but the final {@code System.exit}. Arguments that start with an option other than help or
     * version (or no arguments at all) go to {@code daemon}, as the reference's {@code mooncake_conductor --config
     * ...} does; a first word that is not a subcommand is reported with a suggestion.
     */
    static int run(String[] args, InputStream in, PrintStream out, PrintStream err, Environment environment) {
        CommandLine cli = commandLine(in, out, err, environment);
        Set<String> helpOrVersion = Set.of("-h", "--help", "-V", "--version");
        boolean toDaemon = args.length == 0 || (args[0].startsWith("-") && !helpOrVersion.contains(args[0]));
        String[] effective = args;
        if (toDaemon) {
            effective = new String[args.length + 1];
            effective[0] = "daemon";
            System.arraycopy(args, 0, effective, 1, args.length);
        }
        return cli.execute(effective);
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

    /**
     * Runs the daemon until a signal or an extension stops it.
     *
     * @return the exit status
     */
    static int runDaemon(@Nullable String configPath, int port, String host, boolean lenient,
            Environment environment) {
        Map<String, String> env = environment.variables();
        Logger log = LoggerFactory.getLogger(Main.class);
        if (environment.logWarning() != null) {
            log.warn(environment.logWarning());
        }
        ConfigLocation location = ConfigLocation.resolve(configPath, env.get(ConfigLocation.ENV_CONFIG_PATH),
            env.get("HOME"));
        LoadedConfig loaded;
        NativeStoreConfig nativeStore;
        try {
            loaded = ConfigLoader.load(location.path(), lenient);
            nativeStore = NativeStoreBlock.read(loaded.config().nativeStore(), env::get);
        } catch (ConfigException e) {
            for (String problem : e.problems()) {
                log.error("config {}: {}", location.path(), problem);
            }
            boolean entryProblems = e.problems().stream().anyMatch(line -> line.startsWith("invalid entry")
                || line.startsWith("unknown top-level key"));
            log.error("event=refusing_to_start reason=config_error problems={} path={}{}", e.problems().size(),
                location.path(), entryProblems ? " (fix the entries, or pass --lenient to skip invalid ones)" : "");
            return EXIT_USAGE;
        }
        ConductorConfig config = loaded.config();
        if (port >= 0) {
            config = config.withHttpPort(port);
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
        DaemonSettings settings = new DaemonSettings(host, config.httpPort(), lenient, version());
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
