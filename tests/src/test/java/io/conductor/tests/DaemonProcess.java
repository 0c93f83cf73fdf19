package io.conductor.tests;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A daemon process started the way an operator starts it: {@code bin/mooncake_conductor} of the distribution
 * ({@code conductor-<version>.tar.gz}, unpacked once per test JVM), in the distribution's directory, with its
 * combined output captured in a file. Not thread-safe: one test thread drives it. {@link #close()} always kills
 * what is still running.
 */
final class DaemonProcess implements AutoCloseable {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    /**
     * A command prefix that starts the daemon with SIGINT at its default disposition. The test JVM may have
     * inherited SIGINT ignored (a non-interactive shell ignores it for {@code cmd &}, and exec keeps that), and a
     * JVM started with SIGINT ignored keeps ignoring it, as Unix expects of a background job; the tests start the
     * daemon the way a user in a terminal does. Empty when coreutils' {@code env} cannot reset a signal.
     */
    private static final List<String> DEFAULT_SIGINT = defaultSigintPrefix();

    private final Process process;
    private final Path log;

    private DaemonProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    private static @org.jspecify.annotations.Nullable Path unpacked;

    /** The repository root, from the {@code conductor.home} system property that the tests POM sets. */
    static Path home() throws IOException {
        return Path.of(System.getProperty("conductor.home", "..")).toRealPath();
    }

    /**
     * The unpacked distribution's root directory ({@code conductor-<version>/}): the tarball named by the
     * {@code conductor.distribution} system property (set by the tests POM), unpacked with tar into a fresh
     * directory the first time it is asked for.
     */
    static synchronized Path distribution() throws IOException {
        if (unpacked == null) {
            Path tarball = Path.of(System.getProperty("conductor.distribution",
                "../conductor/target/conductor-0.1.0.tar.gz")).toRealPath();
            Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "conductor-dist-");
            try {
                Process tar = new ProcessBuilder("tar", "xzf", tarball.toString(), "-C", dir.toString())
                    .redirectErrorStream(true).start();
                String output = new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!tar.waitFor(120, TimeUnit.SECONDS) || tar.exitValue() != 0) {
                    throw new IOException("cannot unpack " + tarball + ": " + output);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while unpacking " + tarball, e);
            }
            try (var entries = Files.list(dir)) {
                unpacked = entries.filter(Files::isDirectory).findFirst()
                    .orElseThrow(() -> new IOException(tarball + " holds no top-level directory"));
            }
        }
        return unpacked;
    }

    /**
     * Starts the distribution's {@code bin/mooncake_conductor ARGS} in the distribution's directory.
     *
     * @param logDir where to write the process output
     * @param args   the command-line arguments
     * @return the started process
     */
    static DaemonProcess start(Path logDir, String... args) throws IOException {
        return start(logDir, java.util.Map.of(), args);
    }

    /**
     * Starts the distribution's {@code bin/mooncake_conductor ARGS} with extra environment variables.
     *
     * @param logDir where to write the process output
     * @param env    variables to set for the process
     * @param args   the command-line arguments
     * @return the started process
     */
    static DaemonProcess start(Path logDir, java.util.Map<String, String> env, String... args) throws IOException {
        return launch(distribution(), logDir, env, args);
    }

    /**
     * Starts the source checkout's {@code bin/mooncake_conductor ARGS} (for {@code demo}, {@code engine} and
     * {@code proxy}, which the distribution does not hold), running the jar the reactor built, never rebuilding.
     *
     * @param logDir where to write the process output
     * @param env    variables to set for the process
     * @param args   the command-line arguments
     * @return the started process
     */
    static DaemonProcess startFromCheckout(Path logDir, java.util.Map<String, String> env, String... args)
            throws IOException {
        java.util.Map<String, String> all = new java.util.HashMap<>(env);
        all.putIfAbsent("CONDUCTOR_SKIP_BUILD", "1");
        return launch(home(), logDir, all, args);
    }

    private static DaemonProcess launch(Path home, Path logDir, java.util.Map<String, String> env, String... args)
            throws IOException {
        List<String> command = new ArrayList<>(DEFAULT_SIGINT);
        command.add(home.resolve("bin/mooncake_conductor").toString());
        command.addAll(List.of(args));
        Path log = Files.createTempFile(logDir, "conductor-", ".log");
        ProcessBuilder builder = new ProcessBuilder(command)
            .directory(home.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
        builder.environment().remove("CONDUCTOR_CONFIG_PATH");
        builder.environment().put("CONDUCTOR_LOG_LEVEL", "info");
        // The start-up warm-up (StartupWarmupTest covers it) would add seconds to every start here.
        builder.environment().put("CONDUCTOR_WARMUP_SECONDS", "0");
        builder.environment().putAll(env);
        return new DaemonProcess(builder.start(), log);
    }

    private static List<String> defaultSigintPrefix() {
        List<String> prefix = List.of("env", "--default-signal=INT");
        try {
            List<String> probe = new ArrayList<>(prefix);
            probe.add("true");
            Process p = new ProcessBuilder(probe).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0 ? prefix : List.of();
        } catch (IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        }
    }

    /** A port that was free a moment ago on loopback. */
    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    Process process() {
        return process;
    }

    /** The process output so far, for assertions and failure messages. */
    String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /**
     * Polls {@code GET /health} until it answers 200.
     *
     * @throws AssertionError when the process dies first or the deadline passes; the message holds the output
     */
    void awaitHealthy(int port, Duration deadline) throws InterruptedException {
        long end = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < end) {
            if (!process.isAlive()) {
                throw new AssertionError("daemon exited with " + process.exitValue() + " before /health answered:\n"
                    + output());
            }
            try {
                if (get(port, "/health").statusCode() == 200) {
                    return;
                }
            } catch (IOException notYetListening) {
                // keep polling until the deadline
            }
            Thread.sleep(100);
        }
        throw new AssertionError("/health did not answer 200 within " + deadline + ":\n" + output());
    }

    /**
     * Waits for the process to exit.
     *
     * @return the exit status
     * @throws AssertionError when it is still running at the deadline; the message holds the output
     */
    int awaitExit(Duration deadline) throws InterruptedException {
        if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("daemon still running after " + deadline + ":\n" + output());
        }
        return process.exitValue();
    }

    static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(10)).build();
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
    }

    /** Kills the process if it still runs (and its children: the launcher execs java, so normally none). */
    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
