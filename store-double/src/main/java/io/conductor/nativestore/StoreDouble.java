package io.conductor.nativestore;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Assumptions;

/**
 * The C test double of {@code store_c.h} ({@code src/test/resources/store_double.c}), compiled once per JVM with
 * gcc into a temporary shared library and driven through its {@code store_double_*} control functions over FFM.
 * Tests that use it are skipped, with a message, only when gcc is absent.
 *
 * <p>Thread-safe (the double serialises every call with one mutex); its state is process-wide, so tests reset it
 * first and never run two probes against it at once.
 */
public final class StoreDouble {
    private static final Linker LINKER = Linker.nativeLinker();
    private static @Nullable Path library;
    private static @Nullable String skipReason;
    private static @Nullable MethodHandle reset;
    private static @Nullable MethodHandle setKeys;
    private static @Nullable MethodHandle addKeys;
    private static @Nullable MethodHandle setRc;
    private static @Nullable MethodHandle setKeyError;
    private static @Nullable MethodHandle counter;
    private static @Nullable MethodHandle lastSetup;
    private static @Nullable MethodHandle lastKeys;

    private StoreDouble() {
    }

    /**
     * Compiles (once) and loads the double, resetting its state; skips the calling test when gcc is absent.
     *
     * @return the path of the compiled {@code .so}
     */
    public static synchronized Path load() {
        if (library == null && skipReason == null) {
            compile();
        }
        Assumptions.assumeTrue(skipReason == null, () -> skipReason);
        reset();
        return java.util.Objects.requireNonNull(library, "compile() sets the library or the skip reason");
    }

    /**
     * Compiles the double into {@code dir} (for other modules' end-to-end tests, e.g. a daemon subprocess that
     * loads it through {@code native_store.library_path} with {@code STORE_DOUBLE_KEYS_FILE} set).
     *
     * @param dir output directory
     * @return the {@code .so} path
     * @throws IOException if the source cannot be written or gcc fails
     */
    public static Path compileInto(Path dir) throws IOException {
        Path source = dir.resolve("store_double.c");
        try (InputStream in = StoreDouble.class.getResourceAsStream("/store_double.c")) {
            if (in == null) {
                throw new IOException("store_double.c not on the test classpath");
            }
            Files.write(source, in.readAllBytes());
        }
        Path so = dir.resolve("libmooncake_store_double.so");
        Process gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-pthread", "-o",
                so.toString(), source.toString()).redirectErrorStream(true).start();
        String output = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!gcc.waitFor(120, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
                throw new IOException("gcc failed on store_double.c: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while compiling the store double", e);
        }
        return so;
    }

    @SuppressWarnings("restricted")
    private static void compile() {
        if (!gccPresent()) {
            skipReason = "gcc not found on PATH: the store_c.h test double cannot be built, so native-store tests "
                    + "that need it are skipped (apt-get install -y build-essential)";
            return;
        }
        try {
            Path dir = Files.createTempDirectory("store-double");
            dir.toFile().deleteOnExit();
            library = compileInto(dir);
            library.toFile().deleteOnExit();
            dir.resolve("store_double.c").toFile().deleteOnExit();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        SymbolLookup lookup = SymbolLookup.libraryLookup(library, Arena.global());
        reset = bind(lookup, "store_double_reset", FunctionDescriptor.ofVoid());
        setKeys = bind(lookup, "store_double_set_keys", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        addKeys = bind(lookup, "store_double_add_keys", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        setRc = bind(lookup, "store_double_set_rc",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        setKeyError = bind(lookup, "store_double_set_key_error",
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        counter = bind(lookup, "store_double_counter",
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        lastSetup = bind(lookup, "store_double_last_setup",
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        lastKeys = bind(lookup, "store_double_last_keys",
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    }

    private static boolean gccPresent() {
        try {
            Process p = new ProcessBuilder("gcc", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @SuppressWarnings("restricted")
    private static MethodHandle bind(SymbolLookup lookup, String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(lookup.find(name).orElseThrow(), descriptor);
    }

    private static MethodHandle bound(@Nullable MethodHandle handle) {
        if (handle == null) {
            throw new IllegalStateException("the store double is not loaded: call StoreDouble.load() first");
        }
        return handle;
    }

    /** Clears keys, failure settings and counters. */
    public static void reset() {
        try {
            bound(reset).invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Replaces the key set.
     *
     * @param keys the keys the double holds
     */
    public static void setKeys(Collection<String> keys) {
        try (Arena arena = Arena.ofConfined()) {
            bound(setKeys).invokeExact(arena.allocateFrom(String.join("\n", keys)));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Adds keys to the key set.
     *
     * @param keys keys to add
     */
    public static void addKeys(Collection<String> keys) {
        try (Arena arena = Arena.ofConfined()) {
            bound(addKeys).invokeExact(arena.allocateFrom(String.join("\n", keys)));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Sets the return code of {@code create} (non-zero: NULL), {@code setup}, {@code init_all},
     * {@code batch_is_exist} or {@code health_check}.
     *
     * @param function the function
     * @param rc its return code
     */
    public static void setRc(String function, int rc) {
        try (Arena arena = Arena.ofConfined()) {
            int known = (int) bound(setRc).invokeExact(arena.allocateFrom(function), rc);
            if (known != 0) {
                throw new IllegalArgumentException("store double has no knob " + function);
            }
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    /**
     * Makes keys containing {@code substring} answer {@code code}.
     *
     * @param substring key substring, empty to turn off
     * @param code negative per-key error code
     */
    public static void setKeyError(String substring, int code) {
        try (Arena arena = Arena.ofConfined()) {
            bound(setKeyError).invokeExact(arena.allocateFrom(substring), code);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Reads a counter ({@code batch_is_exist}, {@code keys_asked}, {@code max_batch}, {@code live_handles} ...).
     *
     * @param name counter name
     * @return its value
     */
    public static long counter(String name) {
        try (Arena arena = Arena.ofConfined()) {
            long v = (long) bound(counter).invokeExact(arena.allocateFrom(name));
            if (v < 0) {
                throw new IllegalArgumentException("store double has no counter " + name);
            }
            return v;
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    /**
     * Returns the last setup's arguments as {@code host|metadata|gseg|lbuf|protocol|device|master}.
     *
     * @return the recorded arguments
     */
    public static String lastSetup() {
        return readString(bound(lastSetup), 4096);
    }

    /**
     * Returns the keys of the last batch, in order.
     *
     * @return the keys
     */
    public static java.util.List<String> lastKeys() {
        String text = readString(bound(lastKeys), 1 << 20);
        return text.isEmpty() ? java.util.List.of() : java.util.List.of(text.split("\n"));
    }

    private static String readString(MethodHandle handle, int capacity) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(capacity);
            handle.invokeExact(buf, (long) capacity);
            return buf.getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
