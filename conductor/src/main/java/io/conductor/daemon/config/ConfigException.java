package io.conductor.daemon.config;

import java.io.Serial;
import java.util.List;

/**
 * The configuration cannot be used: malformed JSON, an unreadable file, an invalid top-level field, or (unless
 * lenient) invalid entries. Carries one self-contained line per problem; the daemon prints them and exits with
 * status 2. Immutable and thread-safe.
 */
public final class ConfigException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    private final List<String> problems;

    /**
     * Creates the exception.
     *
     * @param problems one line per problem, each naming where it is and what was expected; not empty
     */
    public ConfigException(List<String> problems) {
        super(String.join(System.lineSeparator(), problems));
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("a ConfigException needs at least one problem");
        }
        this.problems = List.copyOf(problems);
    }

    /**
     * Returns the problems, one line each.
     *
     * @return the problem lines, in file order
     */
    public List<String> problems() {
        return problems;
    }
}
