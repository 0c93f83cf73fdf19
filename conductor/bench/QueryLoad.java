// Keep-alive /query load in msgpack or JSON, to compare the daemon's CPU per request of the two encodings.
// Not part of the build (run with the JDK's source launcher); no dependencies.
//
//   java conductor/bench/QueryLoad.java PORT json|msgpack THREADS SECONDS DAEMON_PID
//
// Each thread holds one HTTP/1.1 keep-alive socket and sends 2048-token prompts of random tokens for model
// "bench-model", block size 16 (kvbench's defaults; with kvbench's engines registered the query hashes one block
// and misses, so the request's own decoding and encoding dominate: the worst case for the ratio). After 3 s of
// warmup it counts 200 responses for SECONDS and reads the daemon's CPU time from /proc/PID/stat.
import java.io.*;
import java.net.*;
import java.nio.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.atomic.*;

public class QueryLoad {
    public static void main(String[] a) throws Exception {
        int port = Integer.parseInt(a[0]); String fmt = a[1]; int threads = Integer.parseInt(a[2]);
        int seconds = Integer.parseInt(a[3]); int pid = Integer.parseInt(a[4]);
        Random rnd = new Random(7);
        int prompts = 64; byte[][] reqs = new byte[prompts][];
        for (int p = 0; p < prompts; p++) {
            int[] t = new int[2048]; for (int i = 0; i < t.length; i++) t[i] = rnd.nextInt(128256);
            byte[] body;
            if (fmt.equals("json")) {
                StringBuilder sb = new StringBuilder("{\"model\":\"bench-model\",\"block_size\":16,\"token_ids\":[");
                for (int i = 0; i < t.length; i++) { if (i > 0) sb.append(','); sb.append(t[i]); }
                body = sb.append("]}").toString().getBytes(StandardCharsets.UTF_8);
            } else {
                ByteArrayOutputStream o = new ByteArrayOutputStream();
                o.write(0x83); str(o, "model"); str(o, "bench-model"); str(o, "block_size"); o.write(16);
                str(o, "token_ids"); o.write(0xc5); o.write(8192 >>> 8); o.write(8192 & 0xff);
                ByteBuffer bb = ByteBuffer.allocate(8192).order(ByteOrder.LITTLE_ENDIAN); for (int x : t) bb.putInt(x);
                o.write(bb.array()); body = o.toByteArray();
            }
            String head = "POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/" + fmt
                + "\r\nContent-Length: " + body.length + "\r\n\r\n";
            byte[] h = head.getBytes(StandardCharsets.US_ASCII);
            reqs[p] = Arrays.copyOf(h, h.length + body.length); System.arraycopy(body, 0, reqs[p], h.length, body.length);
        }
        AtomicLong ok = new AtomicLong(), bad = new AtomicLong(); AtomicBoolean count = new AtomicBoolean(false);
        AtomicBoolean stop = new AtomicBoolean(false);
        List<Thread> ts = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            final int id = i;
            Thread th = new Thread(() -> {
                try (Socket s = new Socket("127.0.0.1", port)) {
                    s.setTcpNoDelay(true);
                    OutputStream out = s.getOutputStream(); InputStream in = new BufferedInputStream(s.getInputStream(), 65536);
                    int k = id;
                    while (!stop.get()) {
                        out.write(reqs[k++ % prompts]); out.flush();
                        int status = readResponse(in);
                        if (count.get()) { if (status == 200) ok.incrementAndGet(); else bad.incrementAndGet(); }
                    }
                } catch (IOException e) { throw new UncheckedIOException(e); }
            });
            th.start(); ts.add(th);
        }
        Thread.sleep(3000);
        long cpu0 = cpu(pid); long t0 = System.nanoTime(); count.set(true);
        Thread.sleep(seconds * 1000L);
        count.set(false); long cpu1 = cpu(pid); long t1 = System.nanoTime(); stop.set(true);
        for (Thread t : ts) t.join();
        double secs = (t1 - t0) / 1e9; long n = ok.get();
        double cpuS = (cpu1 - cpu0) / 100.0;
        System.out.printf("RESULT fmt=%s body=%dB qps=%.0f errors=%d server_cpu=%.2fs (%.0f%%) cpu_per_query_us=%.1f%n",
            fmt, reqs[0].length, n / secs, bad.get(), cpuS, 100 * cpuS / secs, cpuS * 1e6 / n);
    }
    static void str(ByteArrayOutputStream o, String s) { byte[] b = s.getBytes(StandardCharsets.UTF_8); o.write(0xa0 | b.length); o.write(b, 0, b.length); }
    static long cpu(int pid) throws IOException {
        String st = Files.readString(Path.of("/proc/" + pid + "/stat")); String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }
    static int readResponse(InputStream in) throws IOException {
        String line = readLine(in); int status = Integer.parseInt(line.split(" ")[1]); int len = 0;
        while (!(line = readLine(in)).isEmpty()) {
            if (line.regionMatches(true, 0, "content-length:", 0, 15)) len = Integer.parseInt(line.substring(15).trim());
        }
        in.readNBytes(len); return status;
    }
    static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder(); int c;
        while ((c = in.read()) != '\n') { if (c < 0) throw new EOFException(); if (c != '\r') sb.append((char) c); }
        return sb.toString();
    }
}
