package io.conductor.tests;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A single-member etcd (Debian's {@code etcd-server}, {@code /usr/bin/etcd}, or {@code $ETCD_BIN}) on loopback
 * ephemeral ports with a temporary data directory, killed and restarted in place by tests. Missing etcd fails
 * the test when {@code CI=true} (CI installs it) and skips it elsewhere. Not thread-safe.
 */
final class EtcdProcess implements AutoCloseable {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private final Path binary;
    private final Path dataDir;
    private final Path log;
    private final int clientPort;
    private final int peerPort;
    private Process process;

    private EtcdProcess(Path binary, Path dir) throws IOException {
        this.binary = binary;
        this.dataDir = dir.resolve("etcd-data");
        this.log = dir.resolve("etcd.log");
        this.clientPort = DaemonProcess.freePort();
        this.peerPort = DaemonProcess.freePort();
    }

    /** Finds etcd, or fails (CI) / skips (elsewhere) the calling test. */
    static Path binary() {
        String configured = System.getenv("ETCD_BIN");
        Path p = Path.of(configured != null && !configured.isBlank() ? configured : "/usr/bin/etcd");
        if (!Files.isExecutable(p)) {
            String why = "etcd not found at " + p + " (Debian package etcd-server; .ci/run installs it)";
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(why);
            }
            Assumptions.abort(why);
        }
        return p;
    }

    static EtcdProcess start(Path dir) throws IOException, InterruptedException {
        EtcdProcess e = new EtcdProcess(binary(), dir);
        e.launch();
        return e;
    }

    String endpoint() {
        return "http://127.0.0.1:" + clientPort;
    }

    void launch() throws IOException, InterruptedException {
        String peer = "http://127.0.0.1:" + peerPort;
        process = new ProcessBuilder(List.of(binary.toString(), "--name", "n0", "--data-dir", dataDir.toString(),
            "--listen-client-urls", endpoint(), "--advertise-client-urls", endpoint(),
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "n0=" + peer))
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new AssertionError("etcd exited with " + process.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(endpoint() + "/health"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200 && r.body().contains("true")) {
                    return;
                }
            } catch (IOException notYet) {
                // keep polling
            }
            Thread.sleep(50);
        }
        throw new AssertionError("etcd did not become healthy:\n" + Files.readString(log));
    }

    /** SIGKILL, as a crash would. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            kill();
        }
    }
}
