package io.conductor.example.demo;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Finds free loopback TCP ports, including runs of consecutive ports (vLLM's DP ranks publish on {@code port +
 * rank}). A port found free may be taken by someone else before it is bound; callers bind soon after. Stateless and
 * thread-safe.
 */
public final class FreePorts {
    private FreePorts() {
    }

    /**
     * Returns one free port, below the OS's ephemeral range (see {@link #consecutive}).
     *
     * @return a port
     */
    public static int one() {
        return consecutive(1);
    }

    /**
     * Returns {@code preferred} when it is free on loopback, else another free port (see {@link #one}).
     *
     * @param preferred the port to try first
     * @return a port
     */
    public static int preferring(int preferred) {
        try (ServerSocket s = new ServerSocket(preferred, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException taken) {
            return one();
        }
    }

    /**
     * Returns the first of {@code count} consecutive free ports.
     *
     * @param count run length, {@code > 0}
     * @return the first port of the run
     */
    public static int consecutive(int count) {
        for (int attempt = 0; attempt < 200; attempt++) {
            // Below Linux's ephemeral range (32768-60999): a port the OS hands out for a port-0 bind or an outgoing
            // connection elsewhere on the machine cannot take ours between this probe and the child's bind.
            int base = ThreadLocalRandom.current().nextInt(20_000, 32_768 - count);
            List<ServerSocket> held = new ArrayList<>();
            boolean ok = true;
            try {
                for (int p = base; p < base + count; p++) {
                    held.add(new ServerSocket(p, 1, InetAddress.getLoopbackAddress()));
                }
            } catch (IOException e) {
                ok = false;
            } finally {
                for (ServerSocket s : held) {
                    try {
                        s.close();
                    } catch (IOException ignored) {
                        // closing a listening socket we own does not fail in practice
                    }
                }
            }
            if (ok) {
                return base;
            }
        }
        throw new IllegalStateException("no run of " + count + " free loopback ports found");
    }
}
