package io.conductor.nativestore;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * One connected Mooncake Store client, bound through the Foreign Function &amp; Memory API to the C ABI described
 * in {@link MooncakeStoreDescriptor}: loads the library, creates a handle, runs {@code setup}, and then answers
 * existence queries until {@link #close()}.
 *
 * <p>Thread-safe. Queries ({@link #batchIsExist}, {@link #isExist}, {@link #getSize}, {@link #healthCheck}) may
 * run concurrently, as the native client allows (see the descriptor); they hold the read side of a lock whose
 * write side {@link #close()} takes, so the handle is never destroyed under a running call and no call starts on
 * a destroyed handle (it reports {@link #CLOSED} instead).
 */
final class MooncakeStoreClient implements AutoCloseable {
    /** Returned by a query on a closed client. */
    static final int CLOSED = Integer.MIN_VALUE;

    /*
     * Ownership: libraryArena keeps the dlopen'ed library mapped; it is closed after destroy so no code of the
     * library runs after unmapping. Strings passed to setup live in a confined arena closed before open()
     * returns (the library copies them). The store handle is a raw address; it is only used under the lock.
     */
    private final String library;
    private final Arena libraryArena;
    private final MethodHandle destroy;
    private final MethodHandle healthCheck;
    private final MethodHandle isExist;
    private final MethodHandle batchIsExist;
    private final MethodHandle getSize;
    private final MemorySegment store;
    private final ReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    private MooncakeStoreClient(String library, Arena libraryArena, Symbols symbols, MemorySegment store) {
        this.library = library;
        this.libraryArena = libraryArena;
        this.destroy = symbols.destroy();
        this.healthCheck = symbols.healthCheck();
        this.isExist = symbols.isExist();
        this.batchIsExist = symbols.batchIsExist();
        this.getSize = symbols.getSize();
        this.store = store;
    }

    /** Every bound function, looked up before anything is created so a missing symbol leaks nothing. */
    private record Symbols(MethodHandle create, MethodHandle destroy, MethodHandle setup, MethodHandle initAll,
            MethodHandle healthCheck, MethodHandle isExist, MethodHandle batchIsExist, MethodHandle getSize) {
        static Symbols bind(SymbolLookup lookup, String library) throws StoreSetupException {
            Linker linker = Linker.nativeLinker();
            return new Symbols(
                    find(linker, lookup, library, MooncakeStoreDescriptor.CREATE, MooncakeStoreDescriptor.CREATE_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.DESTROY,
                            MooncakeStoreDescriptor.DESTROY_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.SETUP, MooncakeStoreDescriptor.SETUP_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.INIT_ALL,
                            MooncakeStoreDescriptor.INIT_ALL_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.HEALTH_CHECK,
                            MooncakeStoreDescriptor.HEALTH_CHECK_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.IS_EXIST,
                            MooncakeStoreDescriptor.IS_EXIST_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.BATCH_IS_EXIST,
                            MooncakeStoreDescriptor.BATCH_IS_EXIST_DESC),
                    find(linker, lookup, library, MooncakeStoreDescriptor.GET_SIZE,
                            MooncakeStoreDescriptor.GET_SIZE_DESC));
        }

        @SuppressWarnings("restricted") // binding native code is this class's job; see the class javadoc
        private static MethodHandle find(Linker linker, SymbolLookup lookup, String library, String symbol,
                FunctionDescriptor descriptor) throws StoreSetupException {
            MemorySegment address = lookup.find(symbol).orElse(MemorySegment.NULL);
            if (address.equals(MemorySegment.NULL)) {
                throw new StoreSetupException(library + ": symbol " + symbol + " not found (is this "
                        + "libmooncake_store.so built with -DWITH_STORE_C_SHARED=ON?)");
            }
            return linker.downcallHandle(address, descriptor);
        }
    }

    /**
     * Loads the library, creates a handle and runs {@code mooncake_store_setup} (or {@code init_all} when
     * {@code useInitAll}); on any failure everything acquired so far is released.
     *
     * @param config connection fields and library path (empty path: {@link MooncakeStoreDescriptor#DEFAULT_LIBRARY_NAME}
     *               through the system library path)
     * @param localHostname the resolved local host name passed to setup
     * @param useInitAll call {@code mooncake_store_init_all(protocol, device_name, global_segment_size)} instead
     * @return a connected client
     * @throws StoreSetupException naming the library and the failing call (load, symbol lookup, create, setup)
     */
    static MooncakeStoreClient open(NativeStoreConfig config, String localHostname, boolean useInitAll)
            throws StoreSetupException {
        if (ValueLayout.ADDRESS.byteSize() != MooncakeStoreDescriptor.POINTER_BYTES) {
            throw new StoreSetupException("unsupported platform: pointers are " + ValueLayout.ADDRESS.byteSize()
                    + " bytes, the Mooncake C ABI binding needs 8");
        }
        String library = config.libraryPath().isEmpty() ? MooncakeStoreDescriptor.DEFAULT_LIBRARY_NAME
                : config.libraryPath();
        Arena libraryArena = Arena.ofShared();
        boolean handedOver = false;
        try {
            SymbolLookup lookup = load(library, config.libraryPath().isEmpty(), libraryArena);
            Symbols symbols = Symbols.bind(lookup, library);
            MemorySegment handle;
            try {
                handle = (MemorySegment) symbols.create().invokeExact();
            } catch (Throwable t) {
                throw new StoreSetupException(library + ": mooncake_store_create() threw " + t, t);
            }
            if (handle.equals(MemorySegment.NULL)) {
                throw new StoreSetupException(library + ": mooncake_store_create() returned NULL");
            }
            MooncakeStoreClient client = new MooncakeStoreClient(library, libraryArena, symbols, handle);
            try {
                if (useInitAll) {
                    client.initAll(symbols.initAll(), config);
                } else {
                    client.setup(symbols.setup(), config, localHostname);
                }
            } catch (StoreSetupException | RuntimeException e) {
                client.close();
                handedOver = true; // close() released the arena
                throw e;
            }
            handedOver = true;
            return client;
        } finally {
            if (!handedOver) {
                libraryArena.close();
            }
        }
    }

    @SuppressWarnings("restricted") // loading the configured library is this class's job
    private static SymbolLookup load(String library, boolean byName, Arena arena) throws StoreSetupException {
        try {
            if (byName) {
                return SymbolLookup.libraryLookup(library, arena);
            }
            Path path = Path.of(library);
            if (!Files.isRegularFile(path)) {
                throw new StoreSetupException(library
                        + ": cannot load the Mooncake Store library (dlopen): no such file");
            }
            return SymbolLookup.libraryLookup(path, arena);
        } catch (IllegalArgumentException | IllegalCallerException e) {
            throw new StoreSetupException(library + ": cannot load the Mooncake Store library (dlopen)"
                    + (byName ? " from the system library path (set native_store.library_path or LD_LIBRARY_PATH)"
                    : "") + ": " + e.getMessage(), e);
        }
    }

    private void setup(MethodHandle setup, NativeStoreConfig c, String localHostname) throws StoreSetupException {
        int rc;
        try (Arena args = Arena.ofConfined()) {
            rc = (int) setup.invokeExact(store, args.allocateFrom(localHostname),
                    args.allocateFrom(c.metadataServer()), c.globalSegmentSize(), c.localBufferSize(),
                    args.allocateFrom(c.protocol()), args.allocateFrom(c.deviceName()),
                    args.allocateFrom(c.masterServerAddress()));
        } catch (Throwable t) {
            throw new StoreSetupException(library + ": mooncake_store_setup threw " + t, t);
        }
        if (rc != MooncakeStoreDescriptor.OK) {
            throw new StoreSetupException(library + ": mooncake_store_setup(local_hostname=" + localHostname
                    + ", metadata_server=" + c.metadataServer() + ", master_server_address="
                    + c.masterServerAddress() + ", protocol=" + c.protocol() + ", device_name=" + c.deviceName()
                    + ") returned " + rc + describeErrorCode(rc));
        }
    }

    private void initAll(MethodHandle initAll, NativeStoreConfig c) throws StoreSetupException {
        int rc;
        try (Arena args = Arena.ofConfined()) {
            rc = (int) initAll.invokeExact(store, args.allocateFrom(c.protocol()), args.allocateFrom(c.deviceName()),
                    c.globalSegmentSize());
        } catch (Throwable t) {
            throw new StoreSetupException(library + ": mooncake_store_init_all threw " + t, t);
        }
        if (rc != MooncakeStoreDescriptor.OK) {
            throw new StoreSetupException(library + ": mooncake_store_init_all(protocol=" + c.protocol()
                    + ") returned " + rc + describeErrorCode(rc));
        }
    }

    /** A short gloss of the Mooncake ErrorCode values an operator is likely to meet during setup. */
    static String describeErrorCode(long rc) {
        return switch ((int) rc) {
            case -1 -> " (internal error or exception in the store client)";
            case -600 -> " (INVALID_PARAMS)";
            case -704 -> " (OBJECT_NOT_FOUND)";
            case -900 -> " (RPC_FAIL: is mooncake_master reachable at master_server_address?)";
            default -> "";
        };
    }

    /** Returns the library name or path this client was loaded from. */
    String library() {
        return library;
    }

    /**
     * Calls {@code mooncake_store_health_check}.
     *
     * @return {@link MooncakeStoreDescriptor#HEALTHY}, another health code, or {@link #CLOSED}
     */
    int healthCheck() {
        lock.readLock().lock();
        try {
            if (closed) {
                return CLOSED;
            }
            return (int) healthCheck.invokeExact(store);
        } catch (Throwable t) {
            throw nativeFailure(MooncakeStoreDescriptor.HEALTH_CHECK, t);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Calls {@code mooncake_store_batch_is_exist} on keys already laid out as {@link MooncakeStoreDescriptor}
     * shows; allocates nothing.
     *
     * @param keys {@code count} 8-byte key pointers
     * @param count number of keys, {@code >= 0}
     * @param results {@code count} int32 slots the library fills
     * @return {@link MooncakeStoreDescriptor#OK}, a negative library error (results untouched), or {@link #CLOSED}
     */
    int batchIsExist(MemorySegment keys, long count, MemorySegment results) {
        lock.readLock().lock();
        try {
            if (closed) {
                return CLOSED;
            }
            return (int) batchIsExist.invokeExact(store, keys, count, results);
        } catch (Throwable t) {
            throw nativeFailure(MooncakeStoreDescriptor.BATCH_IS_EXIST, t);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Calls {@code mooncake_store_is_exist} (diagnostics; the probe batches).
     *
     * @param key the object key
     * @return 1, 0, a negative error code, or {@link #CLOSED}
     */
    int isExist(String key) {
        lock.readLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            if (closed) {
                return CLOSED;
            }
            return (int) isExist.invokeExact(store, arena.allocateFrom(key));
        } catch (Throwable t) {
            throw nativeFailure(MooncakeStoreDescriptor.IS_EXIST, t);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Calls {@code mooncake_store_get_size} (diagnostics).
     *
     * @param key the object key
     * @return the size in bytes, a negative value when missing or failing, or {@link #CLOSED}
     */
    long getSize(String key) {
        lock.readLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            if (closed) {
                return CLOSED;
            }
            return (long) getSize.invokeExact(store, arena.allocateFrom(key));
        } catch (Throwable t) {
            throw nativeFailure(MooncakeStoreDescriptor.GET_SIZE, t);
        } finally {
            lock.readLock().unlock();
        }
    }

    private IllegalStateException nativeFailure(String symbol, Throwable t) {
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(library + ": " + symbol + " failed: " + t, t);
    }

    /** Destroys the handle (waiting for running calls) and unloads the library; idempotent. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            try {
                destroy.invokeExact(store);
            } catch (Throwable t) {
                if (t instanceof Error e) {
                    throw e;
                }
                throw new IllegalStateException(library + ": mooncake_store_destroy failed: " + t, t);
            } finally {
                libraryArena.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
