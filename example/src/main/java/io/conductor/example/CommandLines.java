package io.conductor.example;

import picocli.CommandLine;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * Parses a command line into a picocli-annotated flags object for callers that build a configuration from
 * arguments without running a command (tests, the demo's child processes). Stateless; thread-safe.
 */
public final class CommandLines {
    private CommandLines() {
    }

    /**
     * Fills {@code flags} from {@code args}.
     *
     * @param flags an object with picocli {@code @Option}/{@code @Parameters} fields
     * @param args the arguments
     * @throws IllegalArgumentException with picocli's message, and for an unknown option the closest known one
     */
    public static void parse(Object flags, String[] args) {
        try {
            new CommandLine(flags).parseArgs(args);
        } catch (UnmatchedArgumentException e) {
            String suggestion = e.getSuggestions().isEmpty() ? "" : " (did you mean " + e.getSuggestions().getFirst()
                + "?)";
            throw new IllegalArgumentException(e.getMessage() + suggestion, e);
        } catch (ParameterException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /**
     * Returns {@code first} followed by {@code args}.
     *
     * @param first the subcommand name
     * @param args its arguments
     * @return the full command line
     */
    public static String[] prepend(String first, String[] args) {
        String[] all = new String[args.length + 1];
        all[0] = first;
        System.arraycopy(args, 0, all, 1, args.length);
        return all;
    }
}
