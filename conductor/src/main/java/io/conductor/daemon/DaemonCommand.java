package io.conductor.daemon;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code mooncake_conductor daemon}, also what runs when no subcommand is given: checks the options that can be
 * checked before anything starts (the {@code --config} file exists, the {@code --host} resolves), then hands over to
 * {@link Main#runDaemon}. Used once, by the main thread.
 */
@Command(name = "daemon", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Run the conductor daemon (the default when no subcommand is given): subscribe to the "
                + "KV-event streams of the config file and answer a proxy's cache-hit queries over HTTP "
                + "(GET /health, /ready, /metrics and the query API).",
            "Exit status: 0 stopped by SIGTERM/SIGINT; 1 cannot start (e.g. port in use); 2 usage or config error."})
final class DaemonCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "PATH",
            description = "config file (overrides CONDUCTOR_CONFIG_PATH); must exist")
    @Nullable Path config;

    @Option(names = "--port", paramLabel = "N", converter = PortConverter.class,
            description = "HTTP port, 0..65535 (overrides http_server_port; 0 = any free port)")
    @Nullable Integer port;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = DaemonSettings.DEFAULT_HOST,
            description = "HTTP bind address (default: ${DEFAULT-VALUE}, all interfaces)")
    String host = DaemonSettings.DEFAULT_HOST;

    @Option(names = "--lenient",
            description = "skip invalid config entries and unknown top-level keys with a warning instead of "
                    + "refusing to start")
    boolean lenient;

    private final Main.Environment environment;

    DaemonCommand(Main.Environment environment) {
        this.environment = environment;
    }

    @Override
    public Integer call() {
        if (config != null && !Files.exists(config)) {
            throw new ParameterException(spec.commandLine(), "--config " + config + ": no such file (without "
                    + "--config the daemon reads CONDUCTOR_CONFIG_PATH, else $HOME/.mooncake/conductor_config.json)");
        }
        try {
            InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new ParameterException(spec.commandLine(), "--host " + host + ": cannot resolve this address ("
                    + e.getMessage() + "); give an IP address or a resolvable host name, e.g. 127.0.0.1 or 0.0.0.0");
        }
        return Main.runDaemon(config == null ? null : config.toString(), port == null ? -1 : port, host, lenient,
                environment);
    }

    /** Converts {@code --port}, with a message that says the range. */
    static final class PortConverter implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            boolean digits = !value.isEmpty() && value.length() <= 5;
            for (int i = 0; digits && i < value.length(); i++) {
                digits = value.charAt(i) >= '0' && value.charAt(i) <= '9';
            }
            int port = digits ? Integer.parseInt(value) : -1;
            if (port < 0 || port > 65_535) {
                throw new TypeConversionException("expected an integer in 0..65535 (0 = any free port), got \""
                        + value + "\"");
            }
            return port;
        }
    }
}
