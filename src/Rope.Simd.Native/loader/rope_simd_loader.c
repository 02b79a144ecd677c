/*
 * librope_simd.so: picks the engine build for this CPU and forwards every rope_simd_* call to it.
 *
 * NativeAOT fixes the instruction set at build time, and a build for a level the CPU lacks refuses to start, so
 * build.sh publishes the engine once per x86-64 level and this loader chooses on first use, from the CPU's
 * features (or ROPE_SIMD_LEVEL), the highest level the CPU runs: x86-64-v4 (AVX-512), v3 (AVX2+FMA) or v2.
 * On ARM64 there is one build (NEON is baseline), librope_simd_arm64.so.
 */
#define _GNU_SOURCE
#include "rope_simd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* return type, name, parameter list, argument list: every function of rope_simd.h that returns a status. */
#define ROPE_SIMD_STATUS_FUNCTIONS(X)                                                                              \
    X(table_create, (int32_t rotary_dim, double base, int32_t first_position, int32_t position_count,              \
                     rope_simd_table* out_table),                                                                   \
      (rotary_dim, base, first_position, position_count, out_table))                                              \
    X(table_create_from_frequencies, (const double* inverse_frequencies, int32_t pair_count, double attention_factor, \
                                      int32_t first_position, int32_t position_count, rope_simd_table* out_table),  \
      (inverse_frequencies, pair_count, attention_factor, first_position, position_count, out_table))             \
    X(table_free, (rope_simd_table table), (table))                                                                \
    X(table_info, (rope_simd_table table, int32_t* rotary_dim, int32_t* first_position, int32_t* position_count),  \
      (table, rotary_dim, first_position, position_count))                                                        \
    X(table_rows, (rope_simd_table table, const float** out_rows, int64_t* out_length), (table, out_rows, out_length)) \
    X(rotate, (rope_simd_table table, rope_simd_dtype dtype, rope_simd_layout layout, int32_t flags,               \
               rope_simd_positions positions, const rope_simd_tensor* queries, const rope_simd_tensor* keys),      \
      (table, dtype, layout, flags, positions, queries, keys))                                                    \
    X(rotate_ex, (const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout, int32_t flags,       \
                  const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,               \
                  const rope_simd_batch_tensor* keys),                                                              \
      (rows, dtype, layout, flags, positions, queries, keys))                                                     \
    X(rotate_norm, (const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout,                    \
                    const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,             \
                    const rope_simd_head_norm* query_norm, const rope_simd_batch_tensor* keys,                     \
                    const rope_simd_head_norm* key_norm),                                                           \
      (rows, dtype, layout, positions, queries, query_norm, keys, key_norm))                                      \
    X(rotate_append, (const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout,                  \
                      const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,           \
                      const rope_simd_batch_tensor* keys, const rope_simd_batch_tensor* values,                    \
                      const rope_simd_kv_cache* cache),                                                             \
      (rows, dtype, layout, positions, queries, keys, values, cache))                                             \
    X(rotate_norm_append, (const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout,             \
                           const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,      \
                           const rope_simd_head_norm* query_norm, const rope_simd_batch_tensor* keys,              \
                           const rope_simd_head_norm* key_norm, const rope_simd_batch_tensor* values,              \
                           const rope_simd_kv_cache* cache),                                                        \
      (rows, dtype, layout, positions, queries, query_norm, keys, key_norm, values, cache))

static struct {
#define DECLARE_POINTER(name, params, args) int (*name) params;
    ROPE_SIMD_STATUS_FUNCTIONS(DECLARE_POINTER)
#undef DECLARE_POINTER
    int32_t (*abi_version)(void);
    const char* (*path)(void);
    const char* (*last_error)(void);
} engine;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[8192];

#if defined(__x86_64__)
#define ENGINE_FILE "librope_simd_x86_64_%s.so"

/* The highest level this CPU runs, or the one ROPE_SIMD_LEVEL names if the CPU runs it; NULL (and a message) if none. */
static const char* choose_level(void) {
    __builtin_cpu_init();
    int runs_v4 = !!__builtin_cpu_supports("x86-64-v4"), runs_v3 = !!__builtin_cpu_supports("x86-64-v3");
    int runs_v2 = !!__builtin_cpu_supports("x86-64-v2");
    const char* wanted = getenv("ROPE_SIMD_LEVEL");
    if (wanted != NULL && *wanted != '\0') {
        int runs = strcmp(wanted, "v4") == 0 ? runs_v4 : strcmp(wanted, "v3") == 0 ? runs_v3 : strcmp(wanted, "v2") == 0 ? runs_v2 : -1;
        if (runs == 1) return wanted;
        snprintf(load_error, sizeof load_error,
                 runs < 0 ? "ROPE_SIMD_LEVEL=%s is not one of v2, v3, v4." : "ROPE_SIMD_LEVEL=%s: this CPU lacks x86-64-%s.",
                 wanted, wanted);
        return NULL;
    }
    if (runs_v4) return "v4";
    if (runs_v3) return "v3";
    if (runs_v2) return "v2";
    snprintf(load_error, sizeof load_error, "This CPU lacks x86-64-v2 (SSE4.2, POPCNT), the lowest level built.");
    return NULL;
}
#elif defined(__aarch64__)
#define ENGINE_FILE "librope_simd_%s.so"

/* ARM64 has one build: NEON (AdvSimd) is part of the baseline. */
static const char* choose_level(void) {
    const char* wanted = getenv("ROPE_SIMD_LEVEL");
    if (wanted != NULL && *wanted != '\0' && strcmp(wanted, "arm64") != 0) {
        snprintf(load_error, sizeof load_error, "ROPE_SIMD_LEVEL=%s: ARM64 has one build, arm64.", wanted);
        return NULL;
    }
    return "arm64";
}
#else
#error "The rope_simd loader knows x86-64 and ARM64."
#endif

static void load(void) {
    const char* level = choose_level();
    if (level == NULL) return;

    /* The engine builds lie next to this library. */
    Dl_info self;
    if (dladdr((void*)&load, &self) == 0 || self.dli_fname == NULL) {
        snprintf(load_error, sizeof load_error, "Cannot locate librope_simd.so to find the engine builds beside it.");
        return;
    }
    char path[4096];
    const char* slash = strrchr(self.dli_fname, '/');
    int directory_length = slash == NULL ? 1 : (int)(slash - self.dli_fname);
    char file[64];
    snprintf(file, sizeof file, ENGINE_FILE, level);
    snprintf(path, sizeof path, "%.*s/%s", directory_length, slash == NULL ? "." : self.dli_fname, file);

    void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(load_error, sizeof load_error, "Cannot load %s: %s", path, dlerror());
        return;
    }

    int missing = 0;
#define RESOLVE(name, params, args) missing |= (*(void**)&engine.name = dlsym(library, "rope_simd_impl_" #name)) == NULL;
    ROPE_SIMD_STATUS_FUNCTIONS(RESOLVE)
    RESOLVE(abi_version, , )
    RESOLVE(path, , )
    RESOLVE(last_error, , )
#undef RESOLVE
    if (missing) {
        snprintf(load_error, sizeof load_error, "%s lacks rope_simd_impl_* functions; rebuild it with build.sh.", path);
        return;
    }
    if (engine.abi_version() != ROPE_SIMD_ABI_VERSION) {
        snprintf(load_error, sizeof load_error, "%s implements ABI version %d; this loader and rope_simd.h are version %d.",
                 path, engine.abi_version(), ROPE_SIMD_ABI_VERSION);
        return;
    }
    loaded = 1;
}

static int ensure_loaded(void) {
    pthread_once(&load_once, load);
    return loaded;
}

#define FORWARD(name, params, args)                                  \
    int rope_simd_##name params {                                    \
        return ensure_loaded() ? engine.name args : ROPE_SIMD_ERROR_UNSUPPORTED; \
    }
ROPE_SIMD_STATUS_FUNCTIONS(FORWARD)
#undef FORWARD

int32_t rope_simd_abi_version(void) { return ensure_loaded() ? engine.abi_version() : 0; }

const char* rope_simd_path(void) { return ensure_loaded() ? engine.path() : NULL; }

const char* rope_simd_last_error(void) { return ensure_loaded() ? engine.last_error() : load_error; }
