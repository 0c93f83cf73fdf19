/*
 * Test double of the Mooncake Store C ABI (store_c.h), written for conductor's native-store tests.
 * Compiled by the tests with gcc into a temporary shared library; the product ships no C.
 *
 * Exports the eight mooncake_store_* functions the probe binds, with the real library's return conventions:
 *   create -> handle or NULL; setup/init_all -> 0 or a negative error code; health_check -> 0 healthy,
 *   1 not initialised, 2 master unreachable; is_exist -> 1, 0 or negative; batch_is_exist -> 0 and one
 *   1/0/negative per key, or -1 on bad arguments; get_size -> size or negative.
 *
 * Control functions (prefix store_double_) let a test load the key set, inject failures and read what was
 * called. The key set comes from STORE_DOUBLE_KEYS_FILE (one key per line, read at each create) or from
 * store_double_set_keys. Every function takes one process-wide mutex, so concurrent callers are safe.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_SIZE 65536
#define LAST_KEYS_BYTES 1048576

struct entry {
    char *key;
    struct entry *next;
};

struct store {
    uint32_t magic;
    int setup_done;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table[TABLE_SIZE];
static long key_count;

static int fail_create;
static int setup_rc;
static int init_all_rc;
static int batch_rc;
static int health_rc;
static long calls_create, calls_destroy, calls_setup, calls_init_all, calls_health, calls_is_exist, calls_batch,
    calls_get_size;
static long keys_asked;
static long max_batch;
static long live_handles;
static char last_setup[4096];
static char last_keys[LAST_KEYS_BYTES];
static char error_substring[256];
static int error_code;

static uint64_t hash_key(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    while (*s) {
        h ^= (unsigned char) *s++;
        h *= 1099511628211ULL;
    }
    return h;
}

static int contains_locked(const char *key) {
    struct entry *e = table[hash_key(key) & (TABLE_SIZE - 1)];
    for (; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void add_locked(const char *key, size_t len) {
    char *copy = malloc(len + 1);
    memcpy(copy, key, len);
    copy[len] = '\0';
    if (len == 0 || contains_locked(copy)) {
        free(copy);
        return;
    }
    struct entry *e = malloc(sizeof *e);
    uint64_t slot = hash_key(copy) & (TABLE_SIZE - 1);
    e->key = copy;
    e->next = table[slot];
    table[slot] = e;
    key_count++;
}

static void clear_locked(void) {
    for (int i = 0; i < TABLE_SIZE; i++) {
        struct entry *e = table[i];
        while (e) {
            struct entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
        table[i] = NULL;
    }
    key_count = 0;
}

static void add_lines_locked(const char *text) {
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len > 0 && p[len - 1] == '\r') {
            add_locked(p, len - 1);
        } else {
            add_locked(p, len);
        }
        if (!end) {
            break;
        }
        p = end + 1;
    }
}

static void load_keys_file_locked(void) {
    const char *path = getenv("STORE_DOUBLE_KEYS_FILE");
    if (!path || !*path) {
        return;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        add_lines_locked(line);
    }
    fclose(f);
}

static int answer_locked(const char *key) {
    if (error_substring[0] && strstr(key, error_substring)) {
        return error_code;
    }
    return contains_locked(key);
}

/* ---- store_c.h ---- */

void *mooncake_store_create(void) {
    pthread_mutex_lock(&lock);
    calls_create++;
    struct store *s = NULL;
    if (!fail_create) {
        load_keys_file_locked();
        s = calloc(1, sizeof *s);
        s->magic = 0x5354u;
        live_handles++;
    }
    pthread_mutex_unlock(&lock);
    return s;
}

void mooncake_store_destroy(void *store) {
    if (!store) {
        return;
    }
    pthread_mutex_lock(&lock);
    calls_destroy++;
    live_handles--;
    ((struct store *) store)->magic = 0;
    pthread_mutex_unlock(&lock);
    free(store);
}

int mooncake_store_setup(void *store, const char *local_hostname, const char *metadata_server,
                         uint64_t global_segment_size, uint64_t local_buffer_size, const char *protocol,
                         const char *device_name, const char *master_server_addr) {
    if (!store) {
        return -1;
    }
    pthread_mutex_lock(&lock);
    calls_setup++;
    snprintf(last_setup, sizeof last_setup, "%s|%s|%llu|%llu|%s|%s|%s", local_hostname ? local_hostname : "(null)",
             metadata_server ? metadata_server : "(null)", (unsigned long long) global_segment_size,
             (unsigned long long) local_buffer_size, protocol ? protocol : "(null)",
             device_name ? device_name : "(null)", master_server_addr ? master_server_addr : "(null)");
    int rc = setup_rc;
    if (rc == 0) {
        ((struct store *) store)->setup_done = 1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int mooncake_store_init_all(void *store, const char *protocol, const char *device_name,
                            uint64_t mount_segment_size) {
    if (!store) {
        return -1;
    }
    pthread_mutex_lock(&lock);
    calls_init_all++;
    snprintf(last_setup, sizeof last_setup, "init_all|%s|%s|%llu", protocol ? protocol : "(null)",
             device_name ? device_name : "(null)", (unsigned long long) mount_segment_size);
    int rc = init_all_rc;
    if (rc == 0) {
        ((struct store *) store)->setup_done = 1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int mooncake_store_health_check(void *store) {
    if (!store) {
        return -1;
    }
    pthread_mutex_lock(&lock);
    calls_health++;
    int rc = ((struct store *) store)->setup_done ? health_rc : 1;
    pthread_mutex_unlock(&lock);
    return rc;
}

int mooncake_store_is_exist(void *store, const char *key) {
    if (!store || !key) {
        return -1;
    }
    pthread_mutex_lock(&lock);
    calls_is_exist++;
    keys_asked++;
    int rc = ((struct store *) store)->setup_done ? answer_locked(key) : -600;
    pthread_mutex_unlock(&lock);
    return rc;
}

int mooncake_store_batch_is_exist(void *store, const char **keys, size_t count, int *results_out) {
    if (!store || !keys || !results_out) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (!keys[i]) {
            return -1;
        }
    }
    pthread_mutex_lock(&lock);
    calls_batch++;
    keys_asked += (long) count;
    if ((long) count > max_batch) {
        max_batch = (long) count;
    }
    int rc = batch_rc;
    if (rc == 0) {
        size_t used = 0;
        last_keys[0] = '\0';
        for (size_t i = 0; i < count; i++) {
            results_out[i] = ((struct store *) store)->setup_done ? answer_locked(keys[i]) : -600;
            size_t len = strlen(keys[i]);
            if (used + len + 2 < LAST_KEYS_BYTES) {
                memcpy(last_keys + used, keys[i], len);
                used += len;
                last_keys[used++] = '\n';
                last_keys[used] = '\0';
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int64_t mooncake_store_get_size(void *store, const char *key) {
    if (!store || !key) {
        return -1;
    }
    pthread_mutex_lock(&lock);
    calls_get_size++;
    int64_t rc = answer_locked(key) == 1 ? (int64_t) strlen(key) * 1024 : -704;
    pthread_mutex_unlock(&lock);
    return rc;
}

/* ---- control functions for tests ---- */

void store_double_reset(void) {
    pthread_mutex_lock(&lock);
    clear_locked();
    fail_create = 0;
    setup_rc = init_all_rc = batch_rc = health_rc = 0;
    calls_create = calls_destroy = calls_setup = calls_init_all = calls_health = calls_is_exist = calls_batch =
        calls_get_size = 0;
    keys_asked = max_batch = 0;
    last_setup[0] = '\0';
    last_keys[0] = '\0';
    error_substring[0] = '\0';
    error_code = 0;
    pthread_mutex_unlock(&lock);
}

void store_double_set_keys(const char *newline_separated) {
    pthread_mutex_lock(&lock);
    clear_locked();
    if (newline_separated) {
        add_lines_locked(newline_separated);
    }
    pthread_mutex_unlock(&lock);
}

void store_double_add_keys(const char *newline_separated) {
    pthread_mutex_lock(&lock);
    if (newline_separated) {
        add_lines_locked(newline_separated);
    }
    pthread_mutex_unlock(&lock);
}

/* Sets the return code of one function: "create" (non-zero: return NULL), "setup", "init_all", "batch_is_exist",
 * "health_check". Returns 0, or -1 for an unknown name. */
int store_double_set_rc(const char *function, int rc) {
    int known = 0;
    pthread_mutex_lock(&lock);
    if (strcmp(function, "create") == 0) {
        fail_create = rc;
        known = 1;
    } else if (strcmp(function, "setup") == 0) {
        setup_rc = rc;
        known = 1;
    } else if (strcmp(function, "init_all") == 0) {
        init_all_rc = rc;
        known = 1;
    } else if (strcmp(function, "batch_is_exist") == 0) {
        batch_rc = rc;
        known = 1;
    } else if (strcmp(function, "health_check") == 0) {
        health_rc = rc;
        known = 1;
    }
    pthread_mutex_unlock(&lock);
    return known ? 0 : -1;
}

/* Keys containing substring answer code (a negative per-key error) instead of 1/0; empty substring turns it off. */
void store_double_set_key_error(const char *substring, int code) {
    pthread_mutex_lock(&lock);
    snprintf(error_substring, sizeof error_substring, "%s", substring ? substring : "");
    error_code = code;
    pthread_mutex_unlock(&lock);
}

/* Counter by name: calls of "create", "destroy", "setup", "init_all", "health_check", "is_exist",
 * "batch_is_exist", "get_size", or "keys_asked", "max_batch", "live_handles", "key_count"; -1 if unknown. */
long store_double_counter(const char *name) {
    long value = -1;
    pthread_mutex_lock(&lock);
    if (strcmp(name, "create") == 0) value = calls_create;
    else if (strcmp(name, "destroy") == 0) value = calls_destroy;
    else if (strcmp(name, "setup") == 0) value = calls_setup;
    else if (strcmp(name, "init_all") == 0) value = calls_init_all;
    else if (strcmp(name, "health_check") == 0) value = calls_health;
    else if (strcmp(name, "is_exist") == 0) value = calls_is_exist;
    else if (strcmp(name, "batch_is_exist") == 0) value = calls_batch;
    else if (strcmp(name, "get_size") == 0) value = calls_get_size;
    else if (strcmp(name, "keys_asked") == 0) value = keys_asked;
    else if (strcmp(name, "max_batch") == 0) value = max_batch;
    else if (strcmp(name, "live_handles") == 0) value = live_handles;
    else if (strcmp(name, "key_count") == 0) value = key_count;
    pthread_mutex_unlock(&lock);
    return value;
}

/* Copies the arguments of the last setup/init_all ("host|metadata|gseg|lbuf|protocol|device|master") into buf. */
void store_double_last_setup(char *buf, size_t len) {
    pthread_mutex_lock(&lock);
    snprintf(buf, len, "%s", last_setup);
    pthread_mutex_unlock(&lock);
}

/* Copies the keys of the last successful batch_is_exist, one per line, into buf (truncated to len). */
void store_double_last_keys(char *buf, size_t len) {
    pthread_mutex_lock(&lock);
    snprintf(buf, len, "%s", last_keys);
    pthread_mutex_unlock(&lock);
}
