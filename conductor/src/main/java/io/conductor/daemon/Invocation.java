package io.conductor.daemon;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * What the command line asks for: run the daemon, print help or the version, or run a subcommand. Immutable and
 * thread-safe.
 */
sealed interface Invocation {
    /** Subcommands dispatched by {@link Main} before any daemon option is parsed. */
    Set<String> SUBCOMMANDS = Set.of("hash");

    /** {@link Run#port()} when {@code --port} is absent. */
    int NO_PORT = -1;

    /**
     * Run the daemon.
     *
     * @param configPath {@code --config}, or {@code null}
     * @param port       {@code --port}, or {@link #NO_PORT}
     * @param host       {@code --host}, default {@code 0.0.0.0}
     * @param lenient    {@code --lenient}
     */
    record Run(@Nullable String configPath, int port, String host, boolean lenient) implements Invocation {
    }

    /** Print the usage text. */
    record Help() implements Invocation {
    }

    /** Print the version. */
    record ShowVersion() implements Invocation {
    }

    /**
     * Run a subcommand.
     *
     * @param name the subcommand, one of {@link #SUBCOMMANDS}
     * @param args the arguments after it
     */
    record Subcommand(String name, List<String> args) implements Invocation {
        /** Copies the arguments. */
        public Subcommand {
            args = List.copyOf(args);
        }
    }

    /** The command line is wrong; the message is one line for the user. */
    final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    /**
     * Parses the arguments. {@code --opt value} and {@code --opt=value} are both accepted.
     *
     * @param args the process arguments
     * @return the invocation
     * @throws UsageException on an unknown option, a missing or invalid value, or a stray argument
     */
    static Invocation parse(String[] args) throws UsageException {
        if (args.length > 0 && SUBCOMMANDS.contains(args[0])) {
            return new Subcommand(args[0], Arrays.asList(args).subList(1, args.length));
        }
        String configPath = null;
        int port = NO_PORT;
        String host = DaemonSettings.DEFAULT_HOST;
        boolean lenient = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String name = arg;
            String inlineValue = null;
            int equals = arg.indexOf('=');
            if (arg.startsWith("--") && equals > 0) {
                name = arg.substring(0, equals);
                inlineValue = arg.substring(equals + 1);
            }
            switch (name) {
                case "-h", "--help" -> {
                    return new Help();
                }
                case "-V", "--version" -> {
                    return new ShowVersion();
                }
                case "--lenient" -> {
                    if (inlineValue != null) {
                        throw new UsageException("--lenient takes no value");
                    }
                    lenient = true;
                }
                case "--config", "--port", "--host" -> {
                    String value = inlineValue;
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException(name + " needs a value");
                        }
                        value = args[++i];
                    }
                    if (value.isEmpty()) {
                        throw new UsageException(name + " needs a non-empty value");
                    }
                    switch (name) {
                        case "--config" -> configPath = value;
                        case "--host" -> host = value;
                        default -> port = parsePort(value);
                    }
                }
                default -> throw new UsageException(arg.startsWith("-") ? "unknown option: " + arg
                    : "unexpected argument: " + arg + " (subcommands: hash; demo, engine and proxy are run by "
                        + "bin/mooncake_conductor)");
            }
        }
        return new Run(configPath, port, host, lenient);
    }

    private static int parsePort(String value) throws UsageException {
        boolean digits = !value.isEmpty() && value.length() <= 5;
        for (int i = 0; digits && i < value.length(); i++) {
            digits = value.charAt(i) >= '0' && value.charAt(i) <= '9';
        }
        int port = digits ? Integer.parseInt(value) : -1;
        if (port < 0 || port > 65_535) {
            throw new UsageException("--port: expected an integer in 0..65535 (0 = any free port), got \"" + value
                + "\"");
        }
        return port;
    }
}
