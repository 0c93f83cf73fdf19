package io.conductor.nativestore;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.ValueLayout;

/**
 * The native side of the Mooncake Store C ABI ({@code store_c.h}, shipped as {@code libmooncake_store.so} when
 * Mooncake is built with {@code -DWITH_STORE_C_SHARED=ON}): symbol names, their {@link FunctionDescriptor}s,
 * return conventions, and the memory layout of the one batch call the probe makes per query.
 *
 * <p>Stateless constants; thread-safe.
 *
 * <h2>Functions bound (C signature, then return convention)</h2>
 * <pre>
 * mooncake_store_t mooncake_store_create(void)              handle, or NULL on failure
 * void    mooncake_store_destroy(mooncake_store_t)          tears the client down; NULL is a no-op
 * int     mooncake_store_setup(store, const char *local_hostname, const char *metadata_server,
 *                              uint64_t global_segment_size, uint64_t local_buffer_size,
 *                              const char *protocol, const char *device_name,
 *                              const char *master_server_addr)
 *                                                           0, or a negative Mooncake ErrorCode (-1 NULL handle
 *                                                           or exception, -600 INVALID_PARAMS, -900 RPC_FAIL ...)
 * int     mooncake_store_init_all(store, const char *protocol, const char *device_name,
 *                                 uint64_t mount_segment_size)
 *                                                           as setup (fixed localhost defaults; not used by the
 *                                                           probe)
 * int     mooncake_store_health_check(store)                0 healthy, 1 not initialised or closed,
 *                                                           2 master unreachable, -1 NULL handle or exception
 * int     mooncake_store_is_exist(store, const char *key)   1 present, 0 absent, negative ErrorCode
 * int     mooncake_store_batch_is_exist(store, const char **keys, size_t count, int *results_out)
 *                                                           0 with results_out[i] = 1 / 0 / negative ErrorCode,
 *                                                           or -1 (NULL argument, NULL key, exception) with
 *                                                           results_out untouched
 * int64_t mooncake_store_get_size(store, const char *key)   size in bytes, or negative (missing and failing are
 *                                                           not told apart)
 * </pre>
 * Strings are NUL-terminated UTF-8; the library copies them before returning, so caller memory may be reused at
 * once. {@code mooncake_store_t} is {@code void *}; {@code size_t} and {@code uint64_t} are 64-bit on every
 * platform Mooncake builds for (x86-64, aarch64), and the binding refuses to load elsewhere.
 *
 * <h2>Batch layout (one per query and key layout)</h2>
 * <pre>
 *   keys (char *[count], 8-byte slots)      key slab (count x stride bytes)              results (int32[count])
 *  +-----------------+                     +--------------------------------------+     +-------+
 *  | slab + 0*stride | ------------------> | rank0-prefix @ hex(digest b) NUL ... |     | 1/0/- |
 *  | slab + 1*stride | ------------------> | rank1-prefix @ hex(digest b) NUL ... |     | 1/0/- |
 *  |       ...       |                     |                 ...                  |     |  ...  |
 *  +-----------------+                     +--------------------------------------+     +-------+
 *   key i = block (i / ranks), rank namespace (i % ranks); stride = KEY_STRIDE_BYTES (fixed per probe)
 * </pre>
 * All three regions live in one per-scratch {@link java.lang.foreign.Arena}; pointers are written as 64-bit
 * addresses (see {@link #POINTER_BYTES}).
 *
 * <h2>Thread-safety of the native library (from Mooncake's source)</h2>
 * The handle wraps one {@code RealClient}; existence queries go to the master through an RPC client pool, and
 * Mooncake's own Rust wrapper declares the handle {@code Send + Sync}. Concurrent {@code is_exist} /
 * {@code batch_is_exist} / {@code get_size} / {@code health_check} on one handle are therefore allowed.
 * {@code setup} and {@code destroy} are not: they must not overlap any other call on the same handle, which the
 * binding enforces with a read-write lock.
 */
public final class MooncakeStoreDescriptor {
    /** Symbol of {@code mooncake_store_create}. */
    public static final String CREATE = "mooncake_store_create";
    /** Symbol of {@code mooncake_store_destroy}. */
    public static final String DESTROY = "mooncake_store_destroy";
    /** Symbol of {@code mooncake_store_setup}. */
    public static final String SETUP = "mooncake_store_setup";
    /** Symbol of {@code mooncake_store_init_all}. */
    public static final String INIT_ALL = "mooncake_store_init_all";
    /** Symbol of {@code mooncake_store_health_check}. */
    public static final String HEALTH_CHECK = "mooncake_store_health_check";
    /** Symbol of {@code mooncake_store_is_exist}. */
    public static final String IS_EXIST = "mooncake_store_is_exist";
    /** Symbol of {@code mooncake_store_batch_is_exist}. */
    public static final String BATCH_IS_EXIST = "mooncake_store_batch_is_exist";
    /** Symbol of {@code mooncake_store_get_size}. */
    public static final String GET_SIZE = "mooncake_store_get_size";

    /** Default library name, resolved by the system loader ({@code LD_LIBRARY_PATH}, ld.so cache). */
    public static final String DEFAULT_LIBRARY_NAME = "libmooncake_store.so";

    /** Return value of setup / init_all / batch_is_exist on success. */
    public static final int OK = 0;
    /** Per-key result of is_exist / batch_is_exist: the object exists. */
    public static final int EXISTS = 1;
    /** Per-key result of is_exist / batch_is_exist: the object does not exist. */
    public static final int ABSENT = 0;
    /** health_check: connected and the master answers pings. */
    public static final int HEALTHY = 0;
    /** health_check: setup not done, or the client was closed. */
    public static final int HEALTH_NOT_INITIALIZED = 1;
    /** health_check: the master does not answer. */
    public static final int HEALTH_MASTER_UNREACHABLE = 2;

    /** Bytes of one {@code char *} slot in the keys array. */
    public static final int POINTER_BYTES = 8;
    /** Bytes of one {@code int} result. */
    public static final int RESULT_BYTES = 4;

    static final ValueLayout.OfLong SIZE_T = ValueLayout.JAVA_LONG;
    static final ValueLayout.OfLong UINT64 = ValueLayout.JAVA_LONG;

    /** {@code void *create(void)}. */
    public static final FunctionDescriptor CREATE_DESC = FunctionDescriptor.of(ValueLayout.ADDRESS);
    /** {@code void destroy(void *)}. */
    public static final FunctionDescriptor DESTROY_DESC = FunctionDescriptor.ofVoid(ValueLayout.ADDRESS);
    /** {@code int setup(void *, char *, char *, uint64_t, uint64_t, char *, char *, char *)}. */
    public static final FunctionDescriptor SETUP_DESC = FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, UINT64, UINT64,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS);
    /** {@code int init_all(void *, char *, char *, uint64_t)}. */
    public static final FunctionDescriptor INIT_ALL_DESC = FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, UINT64);
    /** {@code int health_check(void *)}. */
    public static final FunctionDescriptor HEALTH_CHECK_DESC =
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS);
    /** {@code int is_exist(void *, char *)}. */
    public static final FunctionDescriptor IS_EXIST_DESC =
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS);
    /** {@code int batch_is_exist(void *, char **, size_t, int *)}. */
    public static final FunctionDescriptor BATCH_IS_EXIST_DESC = FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, SIZE_T, ValueLayout.ADDRESS);
    /** {@code int64_t get_size(void *, char *)}. */
    public static final FunctionDescriptor GET_SIZE_DESC =
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.ADDRESS);

    private MooncakeStoreDescriptor() {
    }
}
