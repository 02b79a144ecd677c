/*
 * Tests of the C ABI (rope_simd.h), built with gcc and run against the native library.
 *
 *   test_rope_simd GOLDEN_DIR
 *
 * GOLDEN_DIR holds the PyTorch vectors of tests/Rope.Simd.Tests/Golden. The oracle here is independent of the
 * library: cos/sin and rotations in long double from libm. ROPE_SIMD_EXPECTED_PATH, when set, is the path the
 * loaded engine must report. Prints one line per test and a summary "total: N, failed: N, succeeded: N, skipped: 0".
 */
#define _GNU_SOURCE
#include "rope_simd.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tests_run, tests_failed, checks_failed_in_test;
static const char* golden_directory;

#define CHECK(condition, ...)                                                       \
    do {                                                                            \
        if (!(condition)) {                                                         \
            if (checks_failed_in_test++ < 5) {                                      \
                printf("    %s:%d: check failed: %s: ", __FILE__, __LINE__, #condition); \
                printf(__VA_ARGS__);                                                \
                printf("\n");                                                       \
            }                                                                       \
        }                                                                           \
    } while (0)

#define CHECK_OK(call) CHECK((call) == ROPE_SIMD_OK, "%s", rope_simd_last_error())

static void run(const char* name, void (*test)(void)) {
    checks_failed_in_test = 0;
    test();
    tests_run++;
    if (checks_failed_in_test) tests_failed++;
    printf("%s %s\n", checks_failed_in_test ? "failed" : "passed", name);
}

/* ---- the oracle ---- */

static uint64_t random_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* [0, 1) */
    random_state ^= random_state << 13, random_state ^= random_state >> 7, random_state ^= random_state << 17;
    return (double)(random_state >> 11) / 9007199254740992.0;
}
static float activation(void) { return (float)(uniform() * 8 - 4); }

static double inverse_frequency(int pair, int rotary_dim, double base) { return 1.0 / pow(base, 2.0 * pair / rotary_dim); }

/* Element index of pair `pair` (first and second member) in a head. */
static void pair_members(rope_simd_layout layout, int rotary_dim, int pair, int* first, int* second) {
    *first = layout == ROPE_SIMD_INTERLEAVED ? 2 * pair : pair;
    *second = layout == ROPE_SIMD_INTERLEAVED ? 2 * pair + 1 : pair + rotary_dim / 2;
}

/* Exact rotation of (a, b) by position * w (negated when inverse), in long double. */
static void rotate_exactly(double a, double b, int64_t position, double w, int inverse, long double* a_out, long double* b_out) {
    long double angle = (long double)position * (long double)w;
    long double c = cosl(angle), s = sinl(angle) * (inverse ? -1 : 1);
    *a_out = a * c - b * s;
    *b_out = a * s + b * c;
}

/* The float32 guarantee: within 2 * 2^-23 * max(|a|, |b|). */
static int float32_close(float actual, long double exact, double a, double b) {
    double bound = 2 * 0x1p-23 * fmax(fabs(a), fabs(b)) + 0x1p-140;
    return fabsl((long double)actual - exact) <= bound;
}

static float bfloat16_to_float(uint16_t bits) {
    uint32_t wide = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &wide, 4);
    return value;
}
static uint16_t float_to_bfloat16(float value) { /* round to nearest even (inputs here are finite) */
    uint32_t bits;
    memcpy(&bits, &value, 4);
    return (uint16_t)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}
static float float16_to_float(uint16_t bits) {
    _Float16 half;
    memcpy(&half, &bits, 2);
    return (float)half;
}
static uint16_t float_to_float16(float value) {
    _Float16 half = (_Float16)value;
    uint16_t bits;
    memcpy(&bits, &half, 2);
    return bits;
}
static float widen(rope_simd_dtype dtype, uint16_t bits) { return dtype == ROPE_SIMD_BFLOAT16 ? bfloat16_to_float(bits) : float16_to_float(bits); }
static uint16_t narrow(rope_simd_dtype dtype, float value) { return dtype == ROPE_SIMD_BFLOAT16 ? float_to_bfloat16(value) : float_to_float16(value); }

/* The 16-bit guarantee: within half an ulp of the type plus E = 3 * 2^-23 * max(|a|, |b|) + 2^-147. */
static int packed_close(rope_simd_dtype dtype, float actual, long double exact, double a, double b) {
    if (isnan((double)exact)) return isnan(actual);
    double slack = 3 * 0x1p-23 * fmax(fabs(a), fabs(b)) + 0x1p-147;
    int mantissa_bits = dtype == ROPE_SIMD_BFLOAT16 ? 7 : 10, min_exponent = dtype == ROPE_SIMD_BFLOAT16 ? -126 : -14;
    double largest = dtype == ROPE_SIMD_BFLOAT16 ? 0x1.FEp127 : 65504.0;
    int exponent;
    frexp((double)fabsl(exact), &exponent);
    double ulp = ldexp(1.0, (exponent - 1 < min_exponent ? min_exponent : exponent - 1) - mantissa_bits);
    if (isinf(actual)) return fabsl(exact) + slack >= largest + ulp / 2 && signbit(actual) == signbit((double)exact);
    return fabsl((long double)actual - exact) <= ulp / 2 + slack;
}

/* ---- tensors ---- */

typedef struct {
    rope_simd_tensor view;
    int64_t padding;
    void* buffer; /* view.data sits `padding` elements in; the rest holds canaries */
    size_t element_size;
} tensor;

static const uint32_t float_canary = 0x7FC05A5Au;
static const uint16_t packed_canary = 0x7E5A;

/* A tensor with the given strides (0: packed) and canaries before, between and after the heads. */
static tensor make_tensor(rope_simd_dtype dtype, int64_t tokens, int64_t heads, int64_t head_dim, int64_t token_stride, int64_t head_stride) {
    tensor t = {0};
    t.element_size = dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
    if (token_stride == 0) token_stride = heads * head_dim;
    if (head_stride == 0) head_stride = head_dim;
    int64_t length = tokens == 0 || heads == 0 ? 0 : (tokens - 1) * token_stride + (heads - 1) * head_stride + head_dim;
    t.padding = 7;
    int64_t total = length + 2 * t.padding;
    t.buffer = malloc((size_t)total * t.element_size);
    for (int64_t i = 0; i < total; i++) {
        if (dtype == ROPE_SIMD_FLOAT32) memcpy((char*)t.buffer + i * 4, &float_canary, 4);
        else memcpy((char*)t.buffer + i * 2, &packed_canary, 2);
    }
    t.view = (rope_simd_tensor){(char*)t.buffer + t.padding * t.element_size, length, tokens, heads, head_dim, token_stride, head_stride};
    for (int64_t token = 0; token < tokens; token++)
        for (int64_t head = 0; head < heads; head++)
            for (int64_t i = 0; i < head_dim; i++) {
                int64_t index = token * token_stride + head * head_stride + i;
                float value = activation();
                if (dtype == ROPE_SIMD_FLOAT32) ((float*)t.view.data)[index] = value;
                else ((uint16_t*)t.view.data)[index] = narrow(dtype, value);
            }
    return t;
}

static double element(rope_simd_dtype dtype, const void* data, int64_t index) {
    return dtype == ROPE_SIMD_FLOAT32 ? ((const float*)data)[index] : widen(dtype, ((const uint16_t*)data)[index]);
}

static size_t tensor_bytes(const tensor* t) { return (size_t)(t->view.length + 2 * t->padding) * t->element_size; }

static void* snapshot(const tensor* t) {
    void* copy = malloc(tensor_bytes(t));
    memcpy(copy, t->buffer, tensor_bytes(t));
    return copy;
}

/* Checks every element of `after` against the oracle: rotated pairs by the guarantee, everything else unchanged. */
static void check_rotated(const tensor* t, const void* before_buffer, rope_simd_dtype dtype, rope_simd_layout layout, int inverse,
                          int rotary_dim, double base, const int32_t* positions, int64_t start, const char* context) {
    const void* before = (const char*)before_buffer + t->padding * t->element_size;
    const rope_simd_tensor* v = &t->view;
    char* touched = calloc((size_t)v->length + 1, 1);
    for (int64_t token = 0; token < v->tokens; token++) {
        int64_t position = positions ? positions[token] : start + token;
        for (int64_t head = 0; head < v->heads; head++) {
            int64_t origin = token * v->token_stride + head * v->head_stride;
            for (int pair = 0; pair < rotary_dim / 2; pair++) {
                int first, second;
                pair_members(layout, rotary_dim, pair, &first, &second);
                double a = element(dtype, before, origin + first), b = element(dtype, before, origin + second);
                long double a_exact, b_exact;
                rotate_exactly(a, b, position, inverse_frequency(pair, rotary_dim, base), inverse, &a_exact, &b_exact);
                float a_actual = (float)element(dtype, v->data, origin + first), b_actual = (float)element(dtype, v->data, origin + second);
                int ok = dtype == ROPE_SIMD_FLOAT32
                    ? float32_close(a_actual, a_exact, a, b) && float32_close(b_actual, b_exact, a, b)
                    : packed_close(dtype, a_actual, a_exact, a, b) && packed_close(dtype, b_actual, b_exact, a, b);
                CHECK(ok, "%s: token %ld head %ld pair %d: (%.9g, %.9g) vs exact (%.9Lg, %.9Lg)", context, (long)token, (long)head, pair,
                      a_actual, b_actual, a_exact, b_exact);
                touched[origin + first] = touched[origin + second] = 1;
            }
        }
    }
    /* Pass-through elements, gaps between heads and the canaries around the span are unchanged. */
    for (int64_t i = -t->padding; i < v->length + t->padding; i++) {
        if (i >= 0 && i < v->length && touched[i]) continue;
        size_t offset = (size_t)(i + t->padding) * t->element_size;
        CHECK(memcmp((const char*)t->buffer + offset, (const char*)before_buffer + offset, t->element_size) == 0,
              "%s: element %ld outside the rotated pairs changed", context, (long)i);
    }
    free(touched);
}

static void free_tensor(tensor* t) { free(t->buffer); }

/* ---- tests ---- */

static void test_engine_loads_and_reports_its_path(void) {
    const char* path = rope_simd_path();
    CHECK(path != NULL, "no engine loaded: %s", rope_simd_last_error());
    const char* expected = getenv("ROPE_SIMD_EXPECTED_PATH");
    if (path != NULL && expected != NULL && *expected != '\0') CHECK(strcmp(path, expected) == 0, "path %s, expected %s", path, expected);
    printf("    engine path: %s\n", path ? path : "(none)");
    CHECK(rope_simd_abi_version() == ROPE_SIMD_ABI_VERSION, "ABI %d", rope_simd_abi_version());
}

static void test_table_rows_are_within_one_ulp(void) {
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(128, 500000, 100, 4000, &table));
    const float* rows;
    int64_t length;
    CHECK_OK(rope_simd_table_rows(table, &rows, &length));
    CHECK(length == 4000 * 128, "length %ld", (long)length);
    int32_t rotary_dim, first, count;
    CHECK_OK(rope_simd_table_info(table, &rotary_dim, &first, &count));
    CHECK(rotary_dim == 128 && first == 100 && count == 4000, "info %d %d %d", rotary_dim, first, count);
    for (int row = 0; row < 4000; row++)
        for (int pair = 0; pair < 64; pair++) {
            long double angle = (long double)(100 + row) * inverse_frequency(pair, 128, 500000);
            long double exact[2] = {cosl(angle), sinl(angle)};
            for (int k = 0; k < 2; k++) {
                float value = rows[row * 128 + 2 * pair + k];
                float ulp = nextafterf(fabsf((float)exact[k]), INFINITY) - fabsf((float)exact[k]);
                CHECK(fabsl(value - exact[k]) <= ulp, "position %d pair %d %s: %.9g vs %.12Lg", 100 + row, pair, k ? "sin" : "cos", value, exact[k]);
            }
        }
    CHECK_OK(rope_simd_table_free(table));
}

static void test_float32_features_match_the_oracle(void) {
    for (int trial = 0; trial < 60; trial++) {
        int rotary_dim = 2 * (1 + (int)(uniform() * 80)), head_dim = rotary_dim + 2 * (int)(uniform() * 3);
        int tokens = 1 + (int)(uniform() * 6), query_heads = 1 + (int)(uniform() * 5), key_heads = (int)(uniform() * 3);
        rope_simd_layout layout = uniform() < 0.5 ? ROPE_SIMD_INTERLEAVED : ROPE_SIMD_HALF_SPLIT;
        int inverse = uniform() < 0.5, explicit_positions = uniform() < 0.5, head_major = uniform() < 0.3;
        double base = uniform() < 0.5 ? 10000 : 500000;
        int first = uniform() < 0.5 ? 0 : (1 << 20) - 40;
        rope_simd_table table;
        CHECK_OK(rope_simd_table_create(rotary_dim, base, first, 48, &table));
        int32_t positions[8];
        for (int t = 0; t < tokens; t++) positions[t] = first + (int)(uniform() * 48);
        int64_t start = first + (int64_t)(uniform() * (48 - tokens));
        /* Token-major with gaps, or head-major (BHSD). */
        int gap = 2 * (int)(uniform() * 2);
        tensor q = head_major ? make_tensor(ROPE_SIMD_FLOAT32, tokens, query_heads, head_dim, head_dim + gap, tokens * (head_dim + gap) + 3)
                              : make_tensor(ROPE_SIMD_FLOAT32, tokens, query_heads, head_dim, query_heads * (head_dim + gap) + 1, head_dim + gap);
        tensor k = make_tensor(ROPE_SIMD_FLOAT32, tokens, key_heads, head_dim, 0, 0);
        void *q_before = snapshot(&q), *k_before = snapshot(&k);
        rope_simd_positions where = {explicit_positions ? positions : NULL, start};
        CHECK_OK(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, layout, inverse ? ROPE_SIMD_INVERSE : 0, where, &q.view, key_heads ? &k.view : NULL));
        char context[160];
        snprintf(context, sizeof context, "trial %d rotary %d/%d %s tokens %d heads %d/%d", trial, rotary_dim, head_dim,
                 layout == ROPE_SIMD_INTERLEAVED ? "interleaved" : "half-split", tokens, query_heads, key_heads);
        check_rotated(&q, q_before, ROPE_SIMD_FLOAT32, layout, inverse, rotary_dim, base, where.values, start, context);
        check_rotated(&k, k_before, ROPE_SIMD_FLOAT32, layout, inverse, key_heads ? rotary_dim : 0, base, where.values, start, context);
        free(q_before), free(k_before), free_tensor(&q), free_tensor(&k);
        CHECK_OK(rope_simd_table_free(table));
    }
}

static void test_sixteen_bit_types_match_the_oracle(void) {
    rope_simd_dtype types[2] = {ROPE_SIMD_BFLOAT16, ROPE_SIMD_FLOAT16};
    for (int trial = 0; trial < 40; trial++) {
        rope_simd_dtype dtype = types[trial % 2];
        int rotary_dim = 2 * (1 + (int)(uniform() * 70)), head_dim = rotary_dim + 2 * (int)(uniform() * 2);
        int tokens = 1 + (int)(uniform() * 5), heads = 1 + (int)(uniform() * 4);
        rope_simd_layout layout = uniform() < 0.5 ? ROPE_SIMD_INTERLEAVED : ROPE_SIMD_HALF_SPLIT;
        int inverse = uniform() < 0.5;
        rope_simd_table table;
        CHECK_OK(rope_simd_table_create(rotary_dim, 10000, 0, 4096, &table));
        tensor q = make_tensor(dtype, tokens, heads, head_dim, heads * head_dim + 1, head_dim);
        tensor k = make_tensor(dtype, tokens, 1, head_dim, 0, 0);
        void *q_before = snapshot(&q), *k_before = snapshot(&k);
        int64_t start = (int64_t)(uniform() * 4000);
        rope_simd_positions where = {NULL, start};
        CHECK_OK(rope_simd_rotate(table, dtype, layout, inverse ? ROPE_SIMD_INVERSE : 0, where, &q.view, &k.view));
        char context[120];
        snprintf(context, sizeof context, "trial %d %s rotary %d/%d", trial, dtype == ROPE_SIMD_BFLOAT16 ? "bf16" : "fp16", rotary_dim, head_dim);
        check_rotated(&q, q_before, dtype, layout, inverse, rotary_dim, 10000, NULL, start, context);
        check_rotated(&k, k_before, dtype, layout, inverse, rotary_dim, 10000, NULL, start, context);
        free(q_before), free(k_before), free_tensor(&q), free_tensor(&k);
        CHECK_OK(rope_simd_table_free(table));
    }
}

static void test_computed_rows_equal_stored_rows_bit_for_bit(void) {
    rope_simd_table stored, computed;
    CHECK_OK(rope_simd_table_create(96, 1000000, 0, 5000, &stored));
    CHECK_OK(rope_simd_table_create(96, 1000000, 0, 0, &computed));
    int32_t count = -1;
    CHECK_OK(rope_simd_table_info(computed, NULL, NULL, &count));
    CHECK(count == 0, "computed table reports %d stored positions", count);
    const float* rows;
    int64_t length;
    CHECK(rope_simd_table_rows(computed, &rows, &length) == ROPE_SIMD_ERROR_INVALID_ARGUMENT, "rows of a computed table");
    rope_simd_dtype types[3] = {ROPE_SIMD_FLOAT32, ROPE_SIMD_BFLOAT16, ROPE_SIMD_FLOAT16};
    int32_t positions[7] = {0, 1, 4999, 77, 77, 2048, 3};
    for (int type = 0; type < 3; type++)
        for (int layout = 0; layout < 2; layout++) {
            tensor q = make_tensor(types[type], 7, 5, 96, 0, 0), k = make_tensor(types[type], 7, 2, 96, 0, 0);
            void *q_copy = snapshot(&q), *k_copy = snapshot(&k);
            rope_simd_positions where = {positions, 0};
            CHECK_OK(rope_simd_rotate(stored, types[type], (rope_simd_layout)layout, 0, where, &q.view, &k.view));
            memcpy(q.buffer, q_copy, tensor_bytes(&q));
            memcpy(k.buffer, k_copy, tensor_bytes(&k));
            tensor q2 = q, k2 = k;
            q2.buffer = q_copy, k2.buffer = k_copy;
            q2.view.data = (char*)q_copy + q.padding * q.element_size, k2.view.data = (char*)k_copy + k.padding * k.element_size;
            CHECK_OK(rope_simd_rotate(computed, types[type], (rope_simd_layout)layout, 0, where, &q2.view, &k2.view));
            CHECK_OK(rope_simd_rotate(stored, types[type], (rope_simd_layout)layout, 0, where, &q.view, &k.view));
            CHECK(memcmp(q.buffer, q_copy, tensor_bytes(&q)) == 0 && memcmp(k.buffer, k_copy, tensor_bytes(&k)) == 0,
                  "type %d layout %d: computed rows rotate differently", type, layout);
            free(q_copy), free(k_copy), free_tensor(&q), free_tensor(&k);
        }
    CHECK_OK(rope_simd_table_free(stored));
    CHECK_OK(rope_simd_table_free(computed));
}

static void test_inverse_undoes_the_rotation(void) {
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(128, 10000, 0, 1024, &table));
    tensor q = make_tensor(ROPE_SIMD_FLOAT32, 9, 4, 128, 0, 0);
    void* before = snapshot(&q);
    rope_simd_positions where = {NULL, 1000};
    CHECK_OK(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, where, &q.view, NULL));
    CHECK_OK(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, ROPE_SIMD_INVERSE, where, &q.view, NULL));
    const float *restored = q.view.data, *original = (const float*)before + q.padding;
    for (int64_t i = 0; i < q.view.length; i++)
        CHECK(fabsf(restored[i] - original[i]) <= 8 * 0x1p-23 * 4, "element %ld: %.9g vs %.9g", (long)i, restored[i], original[i]);
    free(before), free_tensor(&q);
    CHECK_OK(rope_simd_table_free(table));
}

static void test_nan_and_infinity_propagate(void) {
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(8, 10000, 0, 16, &table));
    float values[8] = {NAN, 1, INFINITY, 0, 1, 2, 3, 4};
    rope_simd_tensor v = {values, 8, 1, 1, 8, 0, 0};
    rope_simd_positions where = {NULL, 5};
    CHECK_OK(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, where, &v, NULL));
    CHECK(isnan(values[0]) && isnan(values[1]), "NaN pair: %g %g", values[0], values[1]);
    CHECK(isinf(values[2]) || isnan(values[2]), "infinite pair: %g %g", values[2], values[3]);
    CHECK(isfinite(values[4]) && isfinite(values[7]), "finite pairs stay finite");
    CHECK_OK(rope_simd_table_free(table));
}

/* ---- golden vectors written by PyTorch (tests/Rope.Simd.Tests/Golden) ---- */

typedef struct {
    char dtype[16], layout[16];
    int heads, head_dim, rotary_dim, tokens;
    double theta;
    int32_t positions[16];
    double input[4096], output[4096];
    int values;
} golden_case;

static int read_golden(const char* file, golden_case* g) {
    FILE* in = fopen(file, "r");
    if (!in) return 0;
    memset(g, 0, sizeof *g);
    strcpy(g->dtype, "float32");
    size_t capacity = 1 << 20;
    char* line = malloc(capacity);
    while (fgets(line, (int)capacity, in)) {
        char key[32];
        int used;
        if (sscanf(line, "%31s%n", key, &used) != 1) continue;
        char* rest = line + used;
        if (!strcmp(key, "dtype")) sscanf(rest, "%15s", g->dtype);
        else if (!strcmp(key, "layout")) sscanf(rest, "%15s", g->layout);
        else if (!strcmp(key, "heads")) g->heads = atoi(rest);
        else if (!strcmp(key, "head_dim")) g->head_dim = atoi(rest);
        else if (!strcmp(key, "rotary_dim")) g->rotary_dim = atoi(rest);
        else if (!strcmp(key, "theta")) g->theta = strtod(rest, NULL);
        else if (!strcmp(key, "positions") || !strcmp(key, "input") || !strcmp(key, "output")) {
            int count = 0;
            for (char* token = strtok(rest, " \n"); token; token = strtok(NULL, " \n")) {
                double value = !strcmp(token, "nan") ? NAN : !strcmp(token, "inf") ? INFINITY : !strcmp(token, "-inf") ? -INFINITY : strtod(token, NULL);
                if (!strcmp(key, "positions") && count < 16) g->positions[count] = (int32_t)value;
                else if (!strcmp(key, "input") && count < 4096) g->input[count] = value;
                else if (!strcmp(key, "output") && count < 4096) g->output[count] = value;
                count++;
            }
            if (!strcmp(key, "positions")) g->tokens = count;
            else g->values = count;
        }
    }
    free(line);
    fclose(in);
    return g->tokens > 0 && g->values == g->tokens * g->heads * g->head_dim;
}

static void check_golden_file(const char* name) {
    char file[1024];
    snprintf(file, sizeof file, "%s/%s.txt", golden_directory, name);
    static golden_case g;
    CHECK(read_golden(file, &g), "cannot read %s", file);
    if (checks_failed_in_test) return;
    rope_simd_dtype dtype = !strcmp(g.dtype, "bfloat16") ? ROPE_SIMD_BFLOAT16 : !strcmp(g.dtype, "float16") ? ROPE_SIMD_FLOAT16 : ROPE_SIMD_FLOAT32;
    rope_simd_layout layout = !strcmp(g.layout, "Interleaved") ? ROPE_SIMD_INTERLEAVED : ROPE_SIMD_HALF_SPLIT;
    size_t element_size = dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
    void* values = malloc((size_t)g.values * element_size);
    for (int i = 0; i < g.values; i++) {
        if (dtype == ROPE_SIMD_FLOAT32) ((float*)values)[i] = (float)g.input[i];
        else ((uint16_t*)values)[i] = (uint16_t)g.input[i]; /* 16-bit files hold the bit patterns */
    }
    /* Positions reach 2^20: rows computed per call, all tokens in one call with explicit positions. */
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(g.rotary_dim, g.theta, 0, 0, &table));
    rope_simd_tensor v = {values, g.values, g.tokens, g.heads, g.head_dim, 0, 0};
    rope_simd_positions where = {g.positions, 0};
    CHECK_OK(rope_simd_rotate(table, dtype, layout, 0, where, &v, NULL));
    for (int token = 0; token < g.tokens; token++)
        for (int head = 0; head < g.heads; head++)
            for (int pair = 0; pair < g.rotary_dim / 2; pair++) {
                int first, second;
                pair_members(layout, g.rotary_dim, pair, &first, &second);
                int origin = (token * g.heads + head) * g.head_dim;
                double a = dtype == ROPE_SIMD_FLOAT32 ? g.input[origin + first] : widen(dtype, (uint16_t)g.input[origin + first]);
                double b = dtype == ROPE_SIMD_FLOAT32 ? g.input[origin + second] : widen(dtype, (uint16_t)g.input[origin + second]);
                for (int k = 0; k < 2; k++) {
                    int index = origin + (k ? second : first);
                    float actual = dtype == ROPE_SIMD_FLOAT32 ? ((float*)values)[index] : widen(dtype, ((uint16_t*)values)[index]);
                    long double expected = g.output[index];
                    int ok = !isfinite(a) || !isfinite(b) ? isnan(actual) == isnan((double)expected) || isinf(actual)
                             : dtype == ROPE_SIMD_FLOAT32 ? float32_close(actual, expected, a, b)
                                                           : packed_close(dtype, actual, expected, a, b);
                    CHECK(ok, "%s: token %d head %d element %d: %.9g vs torch %.17Lg", name, token, head, index - origin, actual, expected);
                }
            }
    CHECK_OK(rope_simd_table_free(table));
    free(values);
}

static void test_golden_meta_llama3(void) { check_golden_file("meta_llama3_dim128"); }
static void test_golden_meta_odd_pairs(void) { check_golden_file("meta_dim6_odd_pairs"); }
static void test_golden_hf_llama(void) { check_golden_file("hf_llama_dim128"); }
static void test_golden_hf_neox_partial(void) { check_golden_file("hf_neox_partial_25pct"); }
static void test_golden_bf16(void) { check_golden_file("bf16_meta_dim128"); }
static void test_golden_fp16(void) { check_golden_file("fp16_hf_dim128"); }

/* ---- bad input: a status, a message, nothing written, no crash ---- */

static void expect_failure(int status, int expected, const char* what, const char* keyword) {
    CHECK(status == expected, "%s: status %d, expected %d (%s)", what, status, expected, rope_simd_last_error());
    const char* message = rope_simd_last_error();
    CHECK(message != NULL && strstr(message, keyword) != NULL, "%s: message \"%s\" does not mention \"%s\"", what, message ? message : "(null)", keyword);
}

static void test_bad_input_is_reported_not_crashed_on(void) {
    rope_simd_table table = 123;
    expect_failure(rope_simd_table_create(7, 10000, 0, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "odd rotary dim", "rotary_dim");
    CHECK(table == 0, "failed create leaves handle %llu", (unsigned long long)table);
    expect_failure(rope_simd_table_create(8, NAN, 0, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "NaN base", "base");
    expect_failure(rope_simd_table_create(8, 10000, -1, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "negative first position", "first_position");
    expect_failure(rope_simd_table_create(8, 10000, 0, -5, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "negative count", "position_count");
    expect_failure(rope_simd_table_create(8, 10000, 2147483000, 1000, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "positions past 2^31", "position_count");
    expect_failure(rope_simd_table_create(8, 10000, 0, 16, NULL), ROPE_SIMD_ERROR_NULL_POINTER, "null out_table", "out_table");
    expect_failure(rope_simd_table_create_from_frequencies(NULL, 4, 1, 0, 16, &table), ROPE_SIMD_ERROR_NULL_POINTER, "null frequencies", "inverse_frequencies");
    double frequencies[2] = {1, -1};
    expect_failure(rope_simd_table_create_from_frequencies(frequencies, 2, 1, 0, 16, &table), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "negative frequency", "inverse_frequencies");
    expect_failure(rope_simd_table_create_from_frequencies(frequencies, 0, 1, 0, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "no pairs", "pair_count");
    frequencies[1] = 0.5;
    expect_failure(rope_simd_table_create_from_frequencies(frequencies, 2, 0, 0, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "zero attention factor", "attention_factor");

    CHECK_OK(rope_simd_table_create(8, 10000, 0, 16, &table));
    float values[64];
    for (int i = 0; i < 64; i++) values[i] = (float)i;
    float original[64];
    memcpy(original, values, sizeof values);
    rope_simd_tensor good = {values, 64, 4, 2, 8, 0, 0};
    rope_simd_positions at0 = {NULL, 0};

    expect_failure(rope_simd_rotate(0, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &good, NULL), ROPE_SIMD_ERROR_INVALID_HANDLE, "zero handle", "handle");
    expect_failure(rope_simd_rotate(table ^ 0xFFFF00000000ull, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &good, NULL), ROPE_SIMD_ERROR_INVALID_HANDLE, "forged handle", "handle");
    expect_failure(rope_simd_rotate(table, 3, ROPE_SIMD_INTERLEAVED, 0, at0, &good, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "bad dtype", "dtype");
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, 2, 0, at0, &good, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "bad layout", "layout");
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 6, at0, &good, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "bad flags", "flags");
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, NULL, NULL), ROPE_SIMD_ERROR_NULL_POINTER, "null queries", "queries");

    rope_simd_tensor bad = good;
    bad.data = NULL;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_NULL_POINTER, "null data", "data");
    bad = good, bad.tokens = -1;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "negative tokens", "tokens");
    bad = good, bad.heads = 1ll << 40;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "heads beyond 32 bits", "heads");
    bad = good, bad.tokens = 1 << 30, bad.token_stride = 1 << 30;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "size overflowing 2^31", "elements");
    bad = good, bad.length = 63;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "short buffer", "queries");
    bad = good, bad.length = -1;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "negative length", "length");
    bad = good, bad.head_stride = 4;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "overlapping heads", "overlap");
    bad = good, bad.head_dim = 7;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "odd head dim", "head_dim");
    bad = good, bad.head_dim = 4, bad.heads = 4;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &bad, NULL), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "head dim below rotary dim", "rotary dim");
    rope_simd_tensor keys = good;
    keys.tokens = 3;
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &good, &keys), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "token counts differ", "keys");
    rope_simd_positions past_end = {NULL, 13};
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, past_end, &good, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "positions past the table", "outside");
    rope_simd_positions huge_start = {NULL, 1ll << 40};
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, huge_start, &good, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "start beyond 32 bits", "start");
    int32_t positions[4] = {0, 1, 99, 2};
    rope_simd_positions explicit_bad = {positions, 0};
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, explicit_bad, &good, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "explicit position outside", "99");
    CHECK(memcmp(values, original, sizeof values) == 0, "a rejected call wrote to the tensor");

    CHECK_OK(rope_simd_table_free(table));
    expect_failure(rope_simd_table_free(table), ROPE_SIMD_ERROR_INVALID_HANDLE, "double free", "handle");
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &good, NULL), ROPE_SIMD_ERROR_INVALID_HANDLE, "freed handle", "handle");
    expect_failure(rope_simd_table_info(table, NULL, NULL, NULL), ROPE_SIMD_ERROR_INVALID_HANDLE, "info of freed handle", "handle");
    const float* rows;
    int64_t length;
    expect_failure(rope_simd_table_rows(table, NULL, &length), ROPE_SIMD_ERROR_NULL_POINTER, "null out_rows", "out_rows");
    expect_failure(rope_simd_table_rows(table, &rows, &length), ROPE_SIMD_ERROR_INVALID_HANDLE, "rows of freed handle", "handle");
    CHECK(memcmp(values, original, sizeof values) == 0, "a rejected call wrote to the tensor");
}

static void test_many_tables_keep_their_handles_apart(void) {
    rope_simd_table tables[100];
    for (int i = 0; i < 100; i++) CHECK_OK(rope_simd_table_create(2 * (1 + i % 8), 10000, i, 1 + i, &tables[i]));
    for (int i = 0; i < 100; i += 2) CHECK_OK(rope_simd_table_free(tables[i]));
    /* Freed slots are reused with a new generation: the old handles stay invalid, the new ones work. */
    rope_simd_table again[50];
    for (int i = 0; i < 50; i++) CHECK_OK(rope_simd_table_create(4, 10000, 0, 8, &again[i]));
    for (int i = 0; i < 100; i++) {
        int32_t rotary_dim = 0, first = -1, count = -1;
        int status = rope_simd_table_info(tables[i], &rotary_dim, &first, &count);
        if (i % 2 == 0) CHECK(status == ROPE_SIMD_ERROR_INVALID_HANDLE, "freed handle %d still answers (%d)", i, status);
        else CHECK(status == ROPE_SIMD_OK && rotary_dim == 2 * (1 + i % 8) && first == i && count == 1 + i, "table %d: %d %d %d", i, rotary_dim, first, count);
    }
    for (int i = 0; i < 50; i++) {
        for (int j = 0; j < 100; j += 2) CHECK(again[i] != tables[j], "a new handle equals a freed one");
        CHECK_OK(rope_simd_table_free(again[i]));
    }
    for (int i = 1; i < 100; i += 2) CHECK_OK(rope_simd_table_free(tables[i]));
}

/* ---- hostile input: sizes, overlaps, empty work, memory changed by another thread ---- */

static void test_hostile_sizes_overlaps_and_empty_work(void) {
    rope_simd_table table = 0;
    expect_failure(rope_simd_table_create(2147483646, 10000, 0, 1, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "huge rotary dim", "rotary_dim");
    expect_failure(rope_simd_table_create(8, 1e-320, 0, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "base below 1", "base");
    double huge_frequency[1] = {1e9};
    expect_failure(rope_simd_table_create_from_frequencies(huge_frequency, 1, 1, 0, 16, &table), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "huge frequency", "inverse_frequencies");
    huge_frequency[0] = 0.5;
    expect_failure(rope_simd_table_create_from_frequencies(huge_frequency, 1, 1e300, 0, 16, &table), ROPE_SIMD_ERROR_OUT_OF_RANGE, "huge attention factor", "attention_factor");
    expect_failure(rope_simd_table_create_from_frequencies(huge_frequency, 1 << 30, 1, 0, 16, &table), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "huge pair count", "inverse_frequencies");

    CHECK_OK(rope_simd_table_create(8, 10000, 0, 16, &table));
    float values[64];
    for (int i = 0; i < 64; i++) values[i] = (float)i;
    float original[64];
    memcpy(original, values, sizeof values);
    rope_simd_positions at0 = {NULL, 0};
    rope_simd_tensor queries = {values, 32, 4, 1, 8, 0, 0}, same = queries, partly = {values + 20, 32, 4, 1, 8, 0, 0};
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &queries, &same), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "keys are the queries", "keys");
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &queries, &partly), ROPE_SIMD_ERROR_INVALID_ARGUMENT, "keys overlap the queries", "keys");
    rope_simd_tensor many_heads = {values, 64, 1, 2147483647, 8, 0, 0};
    expect_failure(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &many_heads, NULL), ROPE_SIMD_ERROR_OUT_OF_RANGE, "heads x head_dim past 2^31", "heads");
    CHECK(memcmp(values, original, sizeof values) == 0, "a rejected call wrote to the tensor");

    /* Packed QKV: queries and keys interleave as ranges but share no element. */
    rope_simd_tensor packed_queries = {values, 64, 4, 1, 8, 16, 0}, packed_keys = {values + 8, 56, 4, 1, 8, 16, 0};
    CHECK_OK(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, at0, &packed_queries, &packed_keys));

    /* 2^31 - 1 tokens of no heads: nothing to do, and it returns at once. */
    rope_simd_table computed;
    CHECK_OK(rope_simd_table_create(8, 10000, 0, 0, &computed));
    rope_simd_tensor no_heads = {NULL, 0, 2147483647, 0, 8, 0, 0};
    CHECK_OK(rope_simd_rotate(computed, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, at0, &no_heads, NULL));
    CHECK_OK(rope_simd_table_free(computed));
    CHECK_OK(rope_simd_table_free(table));
}

typedef struct {
    volatile int32_t* position;
    volatile int stop;
} flipper_work;

static void* flip_position(void* argument) {
    flipper_work* work = argument;
    while (!work->stop) {
        *work->position = 2000000000;
        *work->position = 1024;
    }
    return NULL;
}

static void test_positions_changed_during_a_call_never_read_outside_the_table(void) {
    enum { tokens = 2048 };
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(64, 10000, 0, 2 * tokens, &table));
    static int32_t positions[tokens];
    static float values[tokens * 64];
    for (int i = 0; i < tokens; i++) positions[i] = i;
    flipper_work work = {&positions[tokens / 2], 0};
    pthread_t flipper;
    pthread_create(&flipper, NULL, flip_position, &work);
    int rejected = 0, unexpected = 0;
    for (int call = 0; call < 300; call++) {
        rope_simd_tensor v = {values, tokens * 64, tokens, 1, 64, 0, 0};
        rope_simd_positions explicit_positions = {positions, 0};
        int status = rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, explicit_positions, &v, NULL);
        if (status == ROPE_SIMD_ERROR_OUT_OF_RANGE && strstr(rope_simd_last_error(), "positions") != NULL) rejected++;
        else if (status != ROPE_SIMD_OK) unexpected++;
    }
    work.stop = 1;
    pthread_join(flipper, NULL);
    CHECK(unexpected == 0, "%d calls failed other than by rejecting the positions (%s)", unexpected, rope_simd_last_error());
    printf("    %d of 300 racing calls rejected the changed position\n", rejected);
    CHECK_OK(rope_simd_table_free(table));
}

typedef struct {
    volatile int64_t* position;
    volatile int stop;
} flipper_work_64;

/* Between a valid row and one whose offset would wrap around 2^64 with a row stride of 64 (2^58 * 64). */
static void* flip_position_64(void* argument) {
    flipper_work_64* work = argument;
    while (!work->stop) {
        *work->position = (int64_t)1 << 58;
        *work->position = 1024;
    }
    return NULL;
}

static void test_rotate_ex_int64_ids_changed_during_a_call_never_read_outside_the_rows(void) {
    enum { tokens = 2048, half = 32 };
    static float cos_cache[tokens * 2 * half], sin_cache[tokens * 2 * half], values[tokens * 64];
    static int64_t ids[tokens];
    for (int i = 0; i < tokens; i++) ids[i] = i;
    /* Rows 64 values apart, 32 used: the ONNX layout with padding. */
    rope_simd_rows rows = {.format = ROPE_SIMD_ROWS_SEPARATE, .dtype = ROPE_SIMD_FLOAT32, .cos = cos_cache, .sin = sin_cache,
                           .length = tokens * 2 * half, .rotary_dim = 2 * half, .row_stride = 2 * half};
    flipper_work_64 work = {&ids[tokens / 2], 0};
    pthread_t flipper;
    pthread_create(&flipper, NULL, flip_position_64, &work);
    int rejected = 0, unexpected = 0;
    for (int call = 0; call < 300; call++) {
        rope_simd_batch_tensor v = {.data = values, .length = tokens * 64, .batch = 2, .tokens = tokens / 2, .heads = 1, .head_dim = 64};
        rope_simd_batch_positions at = {.kind = ROPE_SIMD_POSITIONS_INT64, .values = ids, .count = tokens};
        int status = rope_simd_rotate_ex(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, &at, &v, NULL);
        if (status == ROPE_SIMD_ERROR_OUT_OF_RANGE && strstr(rope_simd_last_error(), "positions") != NULL) rejected++;
        else if (status != ROPE_SIMD_OK) unexpected++;
    }
    work.stop = 1;
    pthread_join(flipper, NULL);
    CHECK(unexpected == 0, "%d calls failed other than by rejecting the positions (%s)", unexpected, rope_simd_last_error());
    printf("    %d of 300 racing calls rejected the changed position\n", rejected);
}

/* ---- threads ---- */

typedef struct {
    rope_simd_table table;
    int id, failures;
} thread_work;

static void* rotate_repeatedly(void* argument) {
    thread_work* work = argument;
    float values[3 * 8 * 64], expected[3 * 8 * 64];
    for (int repeat = 0; repeat < 200; repeat++) {
        for (int i = 0; i < 3 * 8 * 64; i++) values[i] = (float)((i * 7 + work->id) % 13) - 6;
        rope_simd_tensor v = {values, 3 * 8 * 64, 3, 8, 64, 0, 0};
        rope_simd_positions where = {NULL, work->id * 10};
        if (rope_simd_rotate(work->table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, where, &v, NULL) != ROPE_SIMD_OK) work->failures++;
        if (repeat == 0) memcpy(expected, values, sizeof values);
        else if (memcmp(expected, values, sizeof values) != 0) work->failures++;
    }
    return NULL;
}

static void test_threads_share_one_table(void) {
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(64, 10000, 0, 128, &table));
    pthread_t threads[4];
    thread_work work[4];
    for (int i = 0; i < 4; i++) {
        work[i] = (thread_work){table, i, 0};
        pthread_create(&threads[i], NULL, rotate_repeatedly, &work[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(work[i].failures == 0, "thread %d: %d failed or differing calls", i, work[i].failures);
    }
    CHECK_OK(rope_simd_table_free(table));
}

/* ---- rope_simd_rotate_ex: caller rows, batches, int64 positions, out of place ---- */

enum { EX_BATCH = 2, EX_TOKENS = 3, EX_QUERY_HEADS = 4, EX_KEY_HEADS = 2, EX_HEAD = 64, EX_ROTARY = 48, EX_POSITIONS = 100 };

static void test_rotate_ex_caller_rows_batches_and_int64_positions(void) {
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(EX_ROTARY, 10000, 0, EX_POSITIONS, &table));
    const float* rows;
    int64_t rows_length;
    CHECK_OK(rope_simd_table_rows(table, &rows, &rows_length));
    /* The table's rows as ONNX's two caches. */
    static float cos_cache[EX_POSITIONS * EX_ROTARY / 2], sin_cache[EX_POSITIONS * EX_ROTARY / 2];
    for (int i = 0; i < EX_POSITIONS * EX_ROTARY / 2; i++) {
        cos_cache[i] = rows[2 * i];
        sin_cache[i] = rows[2 * i + 1];
    }

    enum { QUERIES = EX_BATCH * EX_TOKENS * EX_QUERY_HEADS * EX_HEAD, KEYS = EX_BATCH * EX_TOKENS * EX_KEY_HEADS * EX_HEAD };
    static float queries[QUERIES], keys[KEYS], expected_queries[QUERIES], expected_keys[KEYS], output_queries[QUERIES];
    for (int i = 0; i < QUERIES; i++) expected_queries[i] = queries[i] = activation();
    for (int i = 0; i < KEYS; i++) expected_keys[i] = keys[i] = activation();
    int64_t ids[EX_BATCH * EX_TOKENS];
    int32_t ids32[EX_BATCH * EX_TOKENS];
    for (int i = 0; i < EX_BATCH * EX_TOKENS; i++) ids32[i] = (int32_t)(ids[i] = (int64_t)(uniform() * EX_POSITIONS));

    /* Expected: one rope_simd_rotate per sequence with the table. */
    for (int b = 0; b < EX_BATCH; b++) {
        rope_simd_tensor q = {.data = expected_queries + b * EX_TOKENS * EX_QUERY_HEADS * EX_HEAD, .length = EX_TOKENS * EX_QUERY_HEADS * EX_HEAD,
                              .tokens = EX_TOKENS, .heads = EX_QUERY_HEADS, .head_dim = EX_HEAD};
        rope_simd_tensor k = {.data = expected_keys + b * EX_TOKENS * EX_KEY_HEADS * EX_HEAD, .length = EX_TOKENS * EX_KEY_HEADS * EX_HEAD,
                              .tokens = EX_TOKENS, .heads = EX_KEY_HEADS, .head_dim = EX_HEAD};
        rope_simd_positions at = {.values = ids32 + b * EX_TOKENS};
        CHECK_OK(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, at, &q, &k));
    }

    /* Actual: the whole batch in one call, rows from the caller's caches, int64 ids. */
    rope_simd_rows caches = {.format = ROPE_SIMD_ROWS_SEPARATE, .dtype = ROPE_SIMD_FLOAT32, .cos = cos_cache, .sin = sin_cache,
                             .length = EX_POSITIONS * EX_ROTARY / 2, .rotary_dim = EX_ROTARY};
    rope_simd_batch_positions positions = {.kind = ROPE_SIMD_POSITIONS_INT64, .values = ids, .count = EX_BATCH * EX_TOKENS};
    rope_simd_batch_tensor q = {.data = queries, .length = QUERIES, .batch = EX_BATCH, .tokens = EX_TOKENS, .heads = EX_QUERY_HEADS, .head_dim = EX_HEAD};
    rope_simd_batch_tensor k = {.data = keys, .length = KEYS, .batch = EX_BATCH, .tokens = EX_TOKENS, .heads = EX_KEY_HEADS, .head_dim = EX_HEAD};
    static float original_queries[QUERIES];
    memcpy(original_queries, queries, sizeof queries);
    CHECK_OK(rope_simd_rotate_ex(&caches, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, &positions, &q, &k));
    CHECK(memcmp(queries, expected_queries, sizeof queries) == 0, "batched queries differ from one call per sequence");
    CHECK(memcmp(keys, expected_keys, sizeof keys) == 0, "batched keys differ from one call per sequence");

    /* Out of place, rows from the table handle: the same bits, and the source untouched. */
    rope_simd_rows from_table = {.format = ROPE_SIMD_ROWS_TABLE, .table = table};
    rope_simd_batch_tensor out = {.data = output_queries, .source = original_queries, .length = QUERIES, .batch = EX_BATCH,
                                  .tokens = EX_TOKENS, .heads = EX_QUERY_HEADS, .head_dim = EX_HEAD};
    static float source_before[QUERIES];
    memcpy(source_before, original_queries, sizeof original_queries);
    CHECK_OK(rope_simd_rotate_ex(&from_table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, &positions, &out, NULL));
    CHECK(memcmp(output_queries, expected_queries, sizeof output_queries) == 0, "out-of-place queries differ");
    CHECK(memcmp(original_queries, source_before, sizeof source_before) == 0, "the source was written");

    /* Per-sequence starts: sequence b at starts[b] + t equals explicit ids of the same values. */
    int32_t starts[EX_BATCH] = {5, 40};
    int64_t sequential_ids[EX_BATCH * EX_TOKENS];
    for (int b = 0; b < EX_BATCH; b++)
        for (int t = 0; t < EX_TOKENS; t++) sequential_ids[b * EX_TOKENS + t] = starts[b] + t;
    memcpy(queries, original_queries, sizeof queries);
    memcpy(output_queries, original_queries, sizeof queries);
    rope_simd_batch_positions by_starts = {.kind = ROPE_SIMD_POSITIONS_STARTS, .values = starts, .count = EX_BATCH};
    rope_simd_batch_positions by_ids = {.kind = ROPE_SIMD_POSITIONS_INT64, .values = sequential_ids, .count = EX_BATCH * EX_TOKENS};
    rope_simd_batch_tensor in_output = {.data = output_queries, .length = QUERIES, .batch = EX_BATCH, .tokens = EX_TOKENS,
                                        .heads = EX_QUERY_HEADS, .head_dim = EX_HEAD};
    CHECK_OK(rope_simd_rotate_ex(&caches, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, &by_starts, &q, NULL));
    CHECK_OK(rope_simd_rotate_ex(&from_table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, &by_ids, &in_output, NULL));
    CHECK(memcmp(queries, output_queries, sizeof queries) == 0, "per-sequence starts differ from the same explicit ids");
    CHECK_OK(rope_simd_table_free(table));
}

static void test_rotate_ex_rejects_bad_input_before_writing(void) {
    static float cos_cache[EX_POSITIONS * EX_ROTARY / 2], sin_cache[EX_POSITIONS * EX_ROTARY / 2], values[EX_BATCH * EX_TOKENS * EX_HEAD];
    for (int i = 0; i < EX_BATCH * EX_TOKENS * EX_HEAD; i++) values[i] = 1.0f;
    int64_t ids[EX_BATCH * EX_TOKENS] = {0, 1, 2, 3, 4, 5};
    rope_simd_rows caches = {.format = ROPE_SIMD_ROWS_SEPARATE, .dtype = ROPE_SIMD_FLOAT32, .cos = cos_cache, .sin = sin_cache,
                             .length = EX_POSITIONS * EX_ROTARY / 2, .rotary_dim = EX_ROTARY};
    rope_simd_batch_positions positions = {.kind = ROPE_SIMD_POSITIONS_INT64, .values = ids, .count = EX_BATCH * EX_TOKENS};
    rope_simd_batch_tensor tensor = {.data = values, .length = EX_BATCH * EX_TOKENS * EX_HEAD, .batch = EX_BATCH, .tokens = EX_TOKENS,
                                     .heads = 1, .head_dim = EX_HEAD};
    struct {
        const char* what;
        int expected_status;
        const char* named;
    } cases[] = {
        {"rows NULL", ROPE_SIMD_ERROR_NULL_POINTER, "rows"},
        {"unknown rows format", ROPE_SIMD_ERROR_INVALID_ARGUMENT, "rows->format"},
        {"sin NULL", ROPE_SIMD_ERROR_NULL_POINTER, "rows->sin"},
        {"unknown positions kind", ROPE_SIMD_ERROR_INVALID_ARGUMENT, "positions->kind"},
        {"too few position ids", ROPE_SIMD_ERROR_INVALID_ARGUMENT, "positions"},
        {"a position beyond the caller's rows", ROPE_SIMD_ERROR_OUT_OF_RANGE, "positions"},
        {"sequences overlapping", ROPE_SIMD_ERROR_INVALID_ARGUMENT, "batch_stride"},
        {"a stale table handle", ROPE_SIMD_ERROR_INVALID_HANDLE, "table"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rope_simd_rows r = caches;
        rope_simd_batch_positions p = positions;
        rope_simd_batch_tensor t = tensor;
        int64_t hostile_ids[EX_BATCH * EX_TOKENS] = {0, 1, 2, 3, 4, EX_POSITIONS};
        const rope_simd_rows* rows_argument = &r;
        switch (c) {
            case 0: rows_argument = NULL; break;
            case 1: r.format = 9; break;
            case 2: r.sin = NULL; break;
            case 3: p.kind = 7; break;
            case 4: p.count = 5; break;
            case 5: p.values = hostile_ids; break;
            case 6: t.batch_stride = EX_TOKENS * EX_HEAD - 2; break;
            default: r.format = ROPE_SIMD_ROWS_TABLE; r.table = 0x1234; break;
        }
        int status = rope_simd_rotate_ex(rows_argument, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, &p, &t, NULL);
        CHECK(status == cases[c].expected_status, "%s: status %d, expected %d (%s)", cases[c].what, status, cases[c].expected_status,
              rope_simd_last_error());
        CHECK(strstr(rope_simd_last_error(), cases[c].named) != NULL, "%s: the message does not name %s: %s", cases[c].what, cases[c].named,
              rope_simd_last_error());
        for (int i = 0; i < EX_BATCH * EX_TOKENS * EX_HEAD; i++) {
            if (values[i] != 1.0f) {
                CHECK(0, "%s: element %d was written", cases[c].what, i);
                break;
            }
        }
    }
}

/* ---- rope_simd_rotate_norm: QK norm and rotation in one pass ---- */

static void test_rotate_norm_matches_the_oracle_and_rejects_bad_norms(void) {
    enum { TOKENS = 3, QH = 4, KH = 2, HEAD = 80, ROTARY = 64, QUERIES = TOKENS * QH * HEAD, KEYS = TOKENS * KH * HEAD };
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(ROTARY, 10000, 0, 64, &table));
    static float queries[QUERIES], keys[KEYS], original[QUERIES + KEYS], query_weight[HEAD], key_weight[HEAD];
    for (int i = 0; i < QUERIES; i++) original[i] = queries[i] = activation();
    for (int i = 0; i < KEYS; i++) original[QUERIES + i] = keys[i] = activation();
    for (int i = 0; i < HEAD; i++) query_weight[i] = (float)(0.5 + uniform()), key_weight[i] = (float)(uniform() * 0.2 - 0.1);
    rope_simd_rows rows = {.format = ROPE_SIMD_ROWS_TABLE, .table = table};
    rope_simd_batch_positions positions = {.kind = ROPE_SIMD_POSITIONS_SEQUENTIAL, .start = 7};
    rope_simd_batch_tensor q = {.data = queries, .length = QUERIES, .tokens = TOKENS, .heads = QH, .head_dim = HEAD};
    rope_simd_batch_tensor k = {.data = keys, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    rope_simd_head_norm query_norm = {.kind = ROPE_SIMD_NORM_RMS, .epsilon = 1e-6f, .weight = query_weight, .length = HEAD};
    rope_simd_head_norm key_norm = {.kind = ROPE_SIMD_NORM_RMS_ONE_PLUS, .epsilon = 1e-6f, .weight = key_weight, .length = HEAD};
    CHECK_OK(rope_simd_rotate_norm(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &q, &query_norm, &k, &key_norm));

    /* The oracle: the norm in long double, then the exact rotation; the documented bound is (ceil(80/16) + 21)/2 = 13. */
    for (int head = 0; head < TOKENS * (QH + KH); head++) {
        int is_query = head < TOKENS * QH;
        const float* input = original + head * HEAD;
        const float* actual = is_query ? queries + head * HEAD : keys + (head - TOKENS * QH) * HEAD;
        int token = is_query ? head / QH : (head - TOKENS * QH) / KH;
        long double sum = 0, normalized[HEAD];
        for (int i = 0; i < HEAD; i++) sum += (long double)input[i] * input[i];
        long double scale = 1 / sqrtl(sum / HEAD + 1e-6L);
        for (int i = 0; i < HEAD; i++) normalized[i] = input[i] * scale * (is_query ? (long double)query_weight[i] : 1 + (long double)key_weight[i]);
        for (int i = ROTARY; i < HEAD; i++)
            CHECK(fabsl(actual[i] - normalized[i]) <= 13 * 0x1p-23 * fabsl(normalized[i]) + 0x1p-140, "head %d element %d: %.9g vs %.9Lg", head, i, actual[i], normalized[i]);
        for (int pair = 0; pair < ROTARY / 2; pair++) {
            int first, second;
            pair_members(ROPE_SIMD_HALF_SPLIT, ROTARY, pair, &first, &second);
            long double a, b;
            rotate_exactly((double)normalized[first], (double)normalized[second], 7 + token, inverse_frequency(pair, ROTARY, 10000), 0, &a, &b);
            double bound = 13 * 0x1p-23 * (double)fmaxl(fabsl(normalized[first]), fabsl(normalized[second])) + 0x1p-140;
            CHECK(fabsl(actual[first] - a) <= bound && fabsl(actual[second] - b) <= bound, "head %d pair %d: (%.9g, %.9g) vs (%.9Lg, %.9Lg)", head, pair,
                  actual[first], actual[second], a, b);
        }
    }

    /* Bad norms are reported, naming the argument, and nothing is written. */
    memcpy(queries, original, sizeof queries);
    memcpy(keys, original + QUERIES, sizeof keys);
    rope_simd_head_norm short_weights = key_norm, no_weights = key_norm, bad_kind = key_norm, bad_epsilon = key_norm;
    short_weights.length = HEAD - 1;
    no_weights.weight = NULL;
    bad_kind.kind = 9;
    bad_epsilon.epsilon = -1;
    struct {
        const rope_simd_head_norm* norm;
        int expected_status;
        const char* named;
    } cases[] = {
        {&short_weights, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "key_norm"},
        {&no_weights, ROPE_SIMD_ERROR_NULL_POINTER, "key_norm.weight"},
        {&bad_kind, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "key_norm.kind"},
        {&bad_epsilon, ROPE_SIMD_ERROR_OUT_OF_RANGE, "key_norm.epsilon"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int status = rope_simd_rotate_norm(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &q, &query_norm, &k, cases[c].norm);
        CHECK(status == cases[c].expected_status, "case %zu: status %d, expected %d (%s)", c, status, cases[c].expected_status, rope_simd_last_error());
        CHECK(strstr(rope_simd_last_error(), cases[c].named) != NULL, "case %zu: message does not name %s: %s", c, cases[c].named, rope_simd_last_error());
    }
    rope_simd_batch_tensor out_of_place = q;
    out_of_place.source = original;
    CHECK(rope_simd_rotate_norm(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &out_of_place, &query_norm, NULL, NULL) ==
              ROPE_SIMD_ERROR_INVALID_ARGUMENT, "out of place accepted");
    CHECK(memcmp(queries, original, sizeof queries) == 0 && memcmp(keys, original + QUERIES, sizeof keys) == 0, "a rejected call wrote");

    /* bfloat16 with no norm on the keys: the keys are rotated exactly as rope_simd_rotate_ex rotates them. */
    static uint16_t packed_queries[QUERIES], packed_keys[KEYS], expected_keys[KEYS];
    for (int i = 0; i < QUERIES; i++) packed_queries[i] = float_to_bfloat16(original[i]);
    for (int i = 0; i < KEYS; i++) expected_keys[i] = packed_keys[i] = float_to_bfloat16(original[QUERIES + i]);
    rope_simd_batch_tensor packed_q = {.data = packed_queries, .length = QUERIES, .tokens = TOKENS, .heads = QH, .head_dim = HEAD};
    rope_simd_batch_tensor packed_k = {.data = packed_keys, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    rope_simd_batch_tensor expected_k = {.data = expected_keys, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    CHECK_OK(rope_simd_rotate_norm(&rows, ROPE_SIMD_BFLOAT16, ROPE_SIMD_INTERLEAVED, &positions, &packed_q, &query_norm, &packed_k, NULL));
    CHECK_OK(rope_simd_rotate_ex(&rows, ROPE_SIMD_BFLOAT16, ROPE_SIMD_INTERLEAVED, 0, &positions, &expected_k, NULL));
    CHECK(memcmp(packed_keys, expected_keys, sizeof packed_keys) == 0, "bfloat16 keys without a norm differ from rope_simd_rotate_ex");
    CHECK_OK(rope_simd_table_free(table));
}

/* ---- rope_simd_rotate_append: rotation into the KV cache ---- */

static void test_rotate_append_writes_the_cache_and_rejects_bad_input(void) {
    enum { TOKENS = 3, QH = 4, KH = 2, HEAD = 64, ROTARY = 64, BLOCK = 4, BLOCKS = 8, PER_SEQUENCE = 4,
           QUERIES = TOKENS * QH * HEAD, KEYS = TOKENS * KH * HEAD, CACHE = BLOCKS * BLOCK * KH * HEAD };
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(ROTARY, 10000, 0, 64, &table));
    static float queries[QUERIES], keys[KEYS], values[KEYS], original_keys[KEYS], expected_queries[QUERIES], rotated_keys[KEYS];
    static float key_cache[CACHE], value_cache[CACHE];
    for (int i = 0; i < QUERIES; i++) expected_queries[i] = queries[i] = activation();
    for (int i = 0; i < KEYS; i++) original_keys[i] = keys[i] = activation(), values[i] = activation();
    for (int i = 0; i < CACHE; i++) key_cache[i] = value_cache[i] = -7.0f;
    int32_t block_table[PER_SEQUENCE] = {5, 2, 7, 0};
    int32_t ids[TOKENS] = {13, 2, 6}; /* blocks 3 -> 0, 0 -> 5, 1 -> 2 */
    rope_simd_rows rows = {.format = ROPE_SIMD_ROWS_TABLE, .table = table};
    rope_simd_batch_positions positions = {.kind = ROPE_SIMD_POSITIONS_INT32, .values = ids, .count = TOKENS};
    rope_simd_batch_tensor q = {.data = queries, .length = QUERIES, .tokens = TOKENS, .heads = QH, .head_dim = HEAD};
    rope_simd_batch_tensor k = {.data = keys, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    rope_simd_batch_tensor v = {.data = values, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    rope_simd_kv_cache cache = {.layout = ROPE_SIMD_KV_PAGED, .dtype = ROPE_SIMD_FLOAT32, .keys = key_cache, .values = value_cache, .length = CACHE,
                                .heads = KH, .head_dim = HEAD, .block_size = BLOCK, .block_table = block_table,
                                .block_table_length = PER_SEQUENCE, .blocks_per_sequence = PER_SEQUENCE};
    CHECK_OK(rope_simd_rotate_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &q, &k, &v, &cache));

    /* Expected: rope_simd_rotate_ex on the queries, and on the keys out of place, then placed by hand. */
    rope_simd_batch_tensor eq = {.data = expected_queries, .length = QUERIES, .tokens = TOKENS, .heads = QH, .head_dim = HEAD};
    rope_simd_batch_tensor ek = {.data = rotated_keys, .source = original_keys, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    CHECK_OK(rope_simd_rotate_ex(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, &positions, &eq, NULL));
    CHECK_OK(rope_simd_rotate_ex(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, &positions, &ek, NULL));
    CHECK(memcmp(queries, expected_queries, sizeof queries) == 0, "queries differ from rope_simd_rotate_ex");
    CHECK(memcmp(keys, original_keys, sizeof keys) == 0, "the keys given were written");
    int written = 0;
    for (int t = 0; t < TOKENS; t++) {
        int place = (block_table[ids[t] / BLOCK] * BLOCK + ids[t] % BLOCK) * KH * HEAD;
        CHECK(memcmp(key_cache + place, rotated_keys + t * KH * HEAD, KH * HEAD * sizeof(float)) == 0, "token %d: keys not in their place", t);
        CHECK(memcmp(value_cache + place, values + t * KH * HEAD, KH * HEAD * sizeof(float)) == 0, "token %d: values not in their place", t);
        written += KH * HEAD;
    }
    int untouched = 0;
    for (int i = 0; i < CACHE; i++) untouched += key_cache[i] == -7.0f;
    CHECK(untouched == CACHE - written, "%d cache elements kept their value, expected %d", untouched, CACHE - written);

    /* Bad input is reported naming the argument, and nothing is written. */
    static float cache_before[CACHE];
    memcpy(cache_before, key_cache, sizeof key_cache);
    memcpy(queries, expected_queries, sizeof queries);
    int32_t bad_table[PER_SEQUENCE] = {5, 70, 7, 0}; /* position 6 reads entry 1 */
    rope_simd_kv_cache bad_blocks = cache, bad_layout = cache, no_keys = cache;
    bad_blocks.block_table = bad_table;
    bad_layout.layout = 9;
    no_keys.keys = NULL;
    int32_t beyond[TOKENS] = {13, 2, 16};
    rope_simd_batch_positions beyond_positions = {.kind = ROPE_SIMD_POSITIONS_INT32, .values = beyond, .count = TOKENS};
    struct {
        const rope_simd_kv_cache* cache;
        const rope_simd_batch_positions* positions;
        int expected_status;
        const char* named;
    } cases[] = {
        {&bad_blocks, &positions, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "cache"},
        {&bad_layout, &positions, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "cache->layout"},
        {&no_keys, &positions, ROPE_SIMD_ERROR_NULL_POINTER, "cache->keys"},
        {&cache, &beyond_positions, ROPE_SIMD_ERROR_OUT_OF_RANGE, "positions"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int status = rope_simd_rotate_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, cases[c].positions, &q, &k, &v, cases[c].cache);
        CHECK(status == cases[c].expected_status, "case %zu: status %d, expected %d (%s)", c, status, cases[c].expected_status, rope_simd_last_error());
        CHECK(strstr(rope_simd_last_error(), cases[c].named) != NULL, "case %zu: message does not name %s: %s", c, cases[c].named, rope_simd_last_error());
    }
    CHECK(memcmp(key_cache, cache_before, sizeof key_cache) == 0 && memcmp(queries, expected_queries, sizeof queries) == 0, "a rejected call wrote");

    /* float32 activations into a bfloat16 position-major cache: the values land rounded to bfloat16. */
    static uint16_t packed_keys[TOKENS * 16 * KH * HEAD], packed_values[TOKENS * 16 * KH * HEAD];
    rope_simd_kv_cache packed = {.layout = ROPE_SIMD_KV_POSITION_MAJOR, .dtype = ROPE_SIMD_BFLOAT16, .keys = packed_keys, .values = packed_values,
                                 .length = 16 * KH * HEAD, .batch = 1, .capacity = 16, .heads = KH, .head_dim = HEAD};
    CHECK_OK(rope_simd_rotate_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &q, &k, &v, &packed));
    for (int t = 0; t < TOKENS; t++)
        for (int i = 0; i < KH * HEAD; i++)
            CHECK(packed_values[ids[t] * KH * HEAD + i] == float_to_bfloat16(values[t * KH * HEAD + i]), "token %d value %d", t, i);
    CHECK_OK(rope_simd_table_free(table));
}

/* ---- rope_simd_rotate_norm_append from a packed QKV buffer ---- */

static void test_rotate_norm_append_from_packed_qkv(void) {
    enum { TOKENS = 3, QH = 4, KVH = 2, HEAD = 64, ROW = (QH + 2 * KVH) * HEAD, CAPACITY = 8, CACHE = CAPACITY * KVH * HEAD };
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(HEAD, 1000000, 0, 64, &table));
    static float qkv[TOKENS * ROW], original[TOKENS * ROW], queries[TOKENS * QH * HEAD], keys[TOKENS * KVH * HEAD];
    static float key_cache[CACHE], value_cache[CACHE], query_weight[HEAD], key_weight[HEAD];
    for (int i = 0; i < TOKENS * ROW; i++) original[i] = qkv[i] = activation();
    for (int i = 0; i < HEAD; i++) {
        query_weight[i] = (float)(0.5 + uniform());
        key_weight[i] = (float)(0.5 + uniform());
    }
    for (int i = 0; i < CACHE; i++) {
        memcpy(&key_cache[i], &float_canary, sizeof(float));
        memcpy(&value_cache[i], &float_canary, sizeof(float));
    }
    int32_t at[TOKENS] = {6, 1, 3};
    rope_simd_rows rows = {.format = ROPE_SIMD_ROWS_TABLE, .table = table};
    rope_simd_batch_positions positions = {.kind = ROPE_SIMD_POSITIONS_INT32, .values = at, .count = TOKENS};
    rope_simd_head_norm query_norm = {.kind = ROPE_SIMD_NORM_RMS, .epsilon = 1e-6f, .weight = query_weight, .length = HEAD};
    rope_simd_head_norm key_norm = {.kind = ROPE_SIMD_NORM_RMS, .epsilon = 1e-6f, .weight = key_weight, .length = HEAD};

    /* Expected: the queries and keys copied out and put through rope_simd_rotate_norm (a float32 cache keeps its bits). */
    for (int t = 0; t < TOKENS; t++) {
        memcpy(queries + t * QH * HEAD, original + t * ROW, sizeof(float) * QH * HEAD);
        memcpy(keys + t * KVH * HEAD, original + t * ROW + QH * HEAD, sizeof(float) * KVH * HEAD);
    }
    rope_simd_batch_tensor q = {.data = queries, .length = TOKENS * QH * HEAD, .tokens = TOKENS, .heads = QH, .head_dim = HEAD};
    rope_simd_batch_tensor k = {.data = keys, .length = TOKENS * KVH * HEAD, .tokens = TOKENS, .heads = KVH, .head_dim = HEAD};
    CHECK_OK(rope_simd_rotate_norm(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &q, &query_norm, &k, &key_norm));

    rope_simd_batch_tensor pq, pk, pv;
    CHECK_OK(rope_simd_packed_qkv_tensors(qkv, TOKENS * ROW, ROPE_SIMD_FLOAT32, 1, TOKENS, QH, KVH, HEAD, &pq, &pk, &pv));
    /* A buffer a row short, and a dtype the helper does not know: refused, the parts left empty. */
    rope_simd_batch_tensor sq, sk, sv;
    CHECK(rope_simd_packed_qkv_tensors(qkv, TOKENS * ROW - 1, ROPE_SIMD_FLOAT32, 1, TOKENS, QH, KVH, HEAD, &sq, &sk, &sv) == ROPE_SIMD_ERROR_OUT_OF_RANGE,
          "a short packed buffer was described");
    CHECK(sq.data == NULL && sk.data == NULL && sv.data == NULL && sv.length == 0, "a refused packed buffer left its parts set");
    CHECK(rope_simd_packed_qkv_tensors(qkv, TOKENS * ROW, (rope_simd_dtype)3, 1, TOKENS, QH, KVH, HEAD, &sq, &sk, &sv) == ROPE_SIMD_ERROR_INVALID_ARGUMENT,
          "an unknown dtype was taken");
    rope_simd_kv_cache cache = {.layout = ROPE_SIMD_KV_POSITION_MAJOR, .dtype = ROPE_SIMD_FLOAT32, .keys = key_cache, .values = value_cache,
                                .length = CACHE, .batch = 1, .capacity = CAPACITY, .heads = KVH, .head_dim = HEAD};
    CHECK_OK(rope_simd_rotate_norm_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &pq, &query_norm, &pk, &key_norm, &pv, &cache));
    int written[CAPACITY] = {0};
    for (int t = 0; t < TOKENS; t++) {
        written[at[t]] = 1;
        CHECK(memcmp(qkv + t * ROW, queries + t * QH * HEAD, sizeof(float) * QH * HEAD) == 0, "token %d: queries differ from rope_simd_rotate_norm", t);
        CHECK(memcmp(qkv + t * ROW + QH * HEAD, original + t * ROW + QH * HEAD, sizeof(float) * 2 * KVH * HEAD) == 0,
              "token %d: the buffer's keys or values were written", t);
        CHECK(memcmp(key_cache + at[t] * KVH * HEAD, keys + t * KVH * HEAD, sizeof(float) * KVH * HEAD) == 0,
              "token %d: cached keys differ from rope_simd_rotate_norm", t);
        CHECK(memcmp(value_cache + at[t] * KVH * HEAD, original + t * ROW + (QH + KVH) * HEAD, sizeof(float) * KVH * HEAD) == 0,
              "token %d: cached values differ", t);
    }
    for (int p = 0; p < CAPACITY; p++) {
        if (written[p]) continue;
        for (int i = 0; i < KVH * HEAD; i++) {
            CHECK(memcmp(&key_cache[p * KVH * HEAD + i], &float_canary, sizeof(float)) == 0, "position %d of the key cache was written", p);
            if (checks_failed_in_test) break;
        }
    }

    /* A key norm whose weights do not fit the head: rejected, naming it, nothing written. */
    memcpy(qkv, original, sizeof qkv);
    static float cache_before[CACHE];
    memcpy(cache_before, key_cache, sizeof key_cache);
    rope_simd_head_norm short_norm = key_norm;
    short_norm.length = HEAD - 2;
    CHECK(rope_simd_rotate_norm_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, &pq, &query_norm, &pk, &short_norm, &pv, &cache)
              != ROPE_SIMD_OK, "a short key norm was accepted");
    CHECK(strstr(rope_simd_last_error(), "key_norm") != NULL, "the error does not name key_norm: %s", rope_simd_last_error());
    CHECK(memcmp(qkv, original, sizeof qkv) == 0 && memcmp(key_cache, cache_before, sizeof key_cache) == 0, "a rejected call wrote");
    CHECK_OK(rope_simd_table_free(table));
}

/* ---- every append error names the C argument at fault ---- */

static void test_append_errors_name_their_argument(void) {
    enum { TOKENS = 2, QH = 4, KH = 2, HEAD = 64, CAPACITY = 8, QUERIES = TOKENS * QH * HEAD, KEYS = TOKENS * KH * HEAD, CACHE = CAPACITY * KH * HEAD };
    rope_simd_table table;
    CHECK_OK(rope_simd_table_create(HEAD, 10000, 0, 64, &table));
    static float queries[QUERIES], keys[KEYS], values[KEYS], key_cache[CACHE], value_cache[CACHE], weight[HEAD];
    for (int i = 0; i < QUERIES; i++) queries[i] = activation();
    for (int i = 0; i < KEYS; i++) keys[i] = activation(), values[i] = activation();
    for (int i = 0; i < HEAD; i++) weight[i] = 1.0f;
    rope_simd_rows rows = {.format = ROPE_SIMD_ROWS_TABLE, .table = table};
    rope_simd_batch_positions positions = {.kind = ROPE_SIMD_POSITIONS_SEQUENTIAL, .start = 0};
    rope_simd_head_norm norm = {.kind = ROPE_SIMD_NORM_RMS, .epsilon = 1e-6f, .weight = weight, .length = HEAD};
    rope_simd_batch_tensor q = {.data = queries, .length = QUERIES, .tokens = TOKENS, .heads = QH, .head_dim = HEAD};
    rope_simd_batch_tensor k = {.data = keys, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    rope_simd_batch_tensor v = {.data = values, .length = KEYS, .tokens = TOKENS, .heads = KH, .head_dim = HEAD};
    rope_simd_kv_cache cache = {.layout = ROPE_SIMD_KV_POSITION_MAJOR, .dtype = ROPE_SIMD_FLOAT32, .keys = key_cache, .values = value_cache,
                                .length = CACHE, .batch = 1, .capacity = CAPACITY, .heads = KH, .head_dim = HEAD};
    rope_simd_batch_tensor short_q = q, short_k = k, short_v = v, null_v = v, sourced_v = v;
    short_q.length = QUERIES - 1;
    short_k.length = KEYS - 1;
    short_v.length = KEYS - 1;
    null_v.data = NULL;
    sourced_v.source = values;
    rope_simd_kv_cache short_cache = cache, no_values = cache, no_heads = cache;
    short_cache.length = CACHE - 1;
    no_values.values = NULL;
    no_heads.heads = 0;
    struct {
        const rope_simd_batch_tensor *q, *k, *v;
        const rope_simd_kv_cache* cache;
        int expected_status;
        const char* named;
    } cases[] = {
        {&short_q, &k, &v, &cache, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "(argument queries)"},
        {&q, &short_k, &v, &cache, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "(argument keys)"},
        {&q, &k, &short_v, &cache, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "(argument values)"},
        {&q, &k, &null_v, &cache, ROPE_SIMD_ERROR_NULL_POINTER, "values->data"},
        {&q, &k, &sourced_v, &cache, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "values->source"},
        {&q, &k, &v, &short_cache, ROPE_SIMD_ERROR_INVALID_ARGUMENT, "(argument cache->length)"},
        {&q, &k, &v, &no_values, ROPE_SIMD_ERROR_NULL_POINTER, "cache->values"},
        {&q, &k, &v, &no_heads, ROPE_SIMD_ERROR_OUT_OF_RANGE, "(argument cache->heads)"},
    };
    for (int with_norm = 0; with_norm < 2; with_norm++) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int status = with_norm
                ? rope_simd_rotate_norm_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, cases[c].q, &norm, cases[c].k, &norm, cases[c].v,
                                               cases[c].cache)
                : rope_simd_rotate_append(&rows, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, &positions, cases[c].q, cases[c].k, cases[c].v, cases[c].cache);
            const char* message = rope_simd_last_error();
            CHECK(status == cases[c].expected_status, "%s case %zu: status %d, expected %d (%s)", with_norm ? "norm_append" : "append", c, status,
                  cases[c].expected_status, message);
            CHECK(strstr(message, cases[c].named) != NULL, "%s case %zu: the message does not name %s: %s", with_norm ? "norm_append" : "append", c,
                  cases[c].named, message);
        }
    }
    CHECK_OK(rope_simd_table_free(table));
}

int main(int argc, char** argv) {
    golden_directory = argc > 1 ? argv[1] : "tests/Rope.Simd.Tests/Golden";
    run("engine_loads_and_reports_its_path", test_engine_loads_and_reports_its_path);
    run("table_rows_are_within_one_ulp", test_table_rows_are_within_one_ulp);
    run("float32_features_match_the_oracle", test_float32_features_match_the_oracle);
    run("sixteen_bit_types_match_the_oracle", test_sixteen_bit_types_match_the_oracle);
    run("computed_rows_equal_stored_rows_bit_for_bit", test_computed_rows_equal_stored_rows_bit_for_bit);
    run("inverse_undoes_the_rotation", test_inverse_undoes_the_rotation);
    run("nan_and_infinity_propagate", test_nan_and_infinity_propagate);
    run("golden_meta_llama3", test_golden_meta_llama3);
    run("golden_meta_odd_pairs", test_golden_meta_odd_pairs);
    run("golden_hf_llama", test_golden_hf_llama);
    run("golden_hf_neox_partial", test_golden_hf_neox_partial);
    run("golden_bf16", test_golden_bf16);
    run("golden_fp16", test_golden_fp16);
    run("bad_input_is_reported_not_crashed_on", test_bad_input_is_reported_not_crashed_on);
    run("many_tables_keep_their_handles_apart", test_many_tables_keep_their_handles_apart);
    run("threads_share_one_table", test_threads_share_one_table);
    run("hostile_sizes_overlaps_and_empty_work", test_hostile_sizes_overlaps_and_empty_work);
    run("positions_changed_during_a_call_never_read_outside_the_table", test_positions_changed_during_a_call_never_read_outside_the_table);
    run("rotate_ex_caller_rows_batches_and_int64_positions", test_rotate_ex_caller_rows_batches_and_int64_positions);
    run("rotate_ex_rejects_bad_input_before_writing", test_rotate_ex_rejects_bad_input_before_writing);
    run("rotate_ex_int64_ids_changed_during_a_call_never_read_outside_the_rows", test_rotate_ex_int64_ids_changed_during_a_call_never_read_outside_the_rows);
    run("rotate_norm_matches_the_oracle_and_rejects_bad_norms", test_rotate_norm_matches_the_oracle_and_rejects_bad_norms);
    run("rotate_append_writes_the_cache_and_rejects_bad_input", test_rotate_append_writes_the_cache_and_rejects_bad_input);
    run("rotate_norm_append_from_packed_qkv", test_rotate_norm_append_from_packed_qkv);
    run("append_errors_name_their_argument", test_append_errors_name_their_argument);
    printf("total: %d, failed: %d, succeeded: %d, skipped: 0\n", tests_run, tests_failed, tests_run - tests_failed);
    return tests_failed == 0 ? 0 : 1;
}
