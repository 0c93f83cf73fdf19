package io.conductor.example.demo;

import io.conductor.example.ParentProcessWatch;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * A child JVM running one of this distribution's main classes with the current classpath. Its stdout and stderr go
 * to a log file; the first stdout line starting with {@code READY } is captured for callers that need ephemeral
 * ports. {@link #close} stops it (SIGTERM, then SIGKILL after a grace period) and is idempotent.
 *
 * <p>Thread-safe for {@link #close} and {@link #isAlive}; {@link #awaitReady} may be called once.
 */
public final class ChildJvm implements AutoCloseable {
    private final String name;
    private final Process process;
    private final Path log;
    private final CompletableFuture<String> ready = new CompletableFuture<>();

    private ChildJvm(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    /**
     * Starts {@code mainClass} in a new JVM.
     *
     * @param name short name for logs and errors
     * @param mainClass fully qualified main class
     * @param args its arguments
     * @param env extra environment variables
     * @param logDir directory for {@code <name>.log}
     * @param lightweight use a small heap (fine for simulators)
     * @return the running child
     */
    public static ChildJvm start(String name, String mainClass, List<String> args, java.util.Map<String, String> env,
                                 Path logDir, boolean lightweight) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin",
            "java").toString()));
        cmd.add(lightweight ? "-Xmx192m" : "-Xmx512m");
        // Six JVMs start at once on a small machine: C1 only and the serial GC start fastest, and the simulation
        // is not compute-bound.
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-XX:-UsePerfData");
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("--sun-misc-unsafe-memory-access=allow");
        cmd.add("-D" + ParentProcessWatch.PARENT_PID_PROPERTY + "=" + ProcessHandle.current().pid());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        Path log = logDir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p;
        try {
            Files.writeString(log, "$ " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
        ChildJvm child = new ChildJvm(name, p, log);
        Thread.ofPlatform().daemon(true).name("log-" + name).start(child::pump);
        return child;
    }

    private void pump() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
             var out = Files.newBufferedWriter(log, StandardCharsets.UTF_8, StandardOpenOption.APPEND)) {
            String line;
            while ((line = in.readLine()) != null) {
                if (!ready.isDone() && line.startsWith("READY ")) {
                    ready.complete(line.substring(6));
                }
                out.write(line);
                out.newLine();
                out.flush();
            }
        } catch (IOException e) {
            // the child is gone; awaitReady reports it
        } finally {
            ready.completeExceptionally(new IllegalStateException(name + " exited before it was ready"));
        }
    }

    /**
     * Waits for the child's {@code READY} line.
     *
     * @param timeout how long to wait
     * @return the text after {@code READY }
     * @throws IllegalStateException if the child exits or does not get ready in time (with its log's tail)
     */
    public String awaitReady(Duration timeout) {
        try {
            return ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException(name + " did not start: " + e.getMessage() + "\n" + logTail(20), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + name, e);
        }
    }

    /**
     * Returns the last lines of the child's log.
     *
     * @param lines how many
     * @return the tail, prefixed with the child's name
     */
    public String logTail(int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder();
            for (String l : all.subList(Math.max(0, all.size() - lines), all.size())) {
                sb.append("  [").append(name).append("] ").append(l).append('\n');
            }
            return sb.toString();
        } catch (IOException e) {
            return "  [" + name + "] (no log: " + e.getMessage() + ")\n";
        }
    }

    /**
     * Returns the child's name.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * Returns the child's log file.
     *
     * @return the log path
     */
    public Path log() {
        return log;
    }

    /**
     * Returns whether the child runs.
     *
     * @return whether it is alive
     */
    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Returns the child's process id.
     *
     * @return the pid
     */
    public long pid() {
        return process.pid();
    }

    /** Kills the child at once (SIGKILL), as a crash would. */
    public void kill() {
        process.destroyForcibly();
        waitFor(Duration.ofSeconds(10));
    }

    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        if (!waitFor(Duration.ofSeconds(5))) {
            process.destroyForcibly();
            waitFor(Duration.ofSeconds(5));
        }
    }

    private boolean waitFor(Duration d) {
        try {
            return process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Returns the exit code, or {@code null} while running. @return the exit code */
    public @Nullable Integer exitCode() {
        return process.isAlive() ? null : process.exitValue();
    }
}
