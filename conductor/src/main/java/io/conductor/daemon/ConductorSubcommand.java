package io.conductor.daemon;

import java.util.concurrent.Callable;

/**
 * A subcommand of {@code mooncake_conductor} contributed by another jar on the class path, found through
 * {@link java.util.ServiceLoader} ({@code META-INF/services/io.conductor.daemon.ConductorSubcommand}). The example
 * module contributes {@code demo}, {@code engine} and {@code proxy} this way, so the daemon's own jar (the
 * distribution) holds none of their classes while a source checkout's launcher offers all five commands through
 * one front end.
 *
 * <p>An implementation is a picocli {@code @Command} (its name is the subcommand's name) with a public no-argument
 * constructor; {@link #call()} runs it and returns the exit status. One instance per process run, used by the
 * main thread only.
 */
public interface ConductorSubcommand extends Callable<Integer> {
}
