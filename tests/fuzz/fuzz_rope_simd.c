/*
 * Differential libFuzzer harness for the C ABI (rope_simd.h), built with clang -fsanitize=fuzzer,address by
 * tests/fuzz/run.sh.
 *
 * Each input is a little program: a header picks a table (stored rows or computed ones, built from a base or from
 * explicit frequencies, possibly hostile), then up to three calls of rope_simd_rotate, rope_simd_rotate_ex,
 * rope_simd_rotate_norm, rope_simd_rotate_append and rope_simd_rotate_norm_append (caller rows of every format and
 * dtype, batches, positions of every kind, QK norms of every kind, KV caches of every layout and dtype), and also
 * table_info, table_rows and forged or freed handles. Three calls in four are decoded as well-formed calls (shapes,
 * lengths, positions and caches that fit, data from a seeded generator), so most of them are accepted and their
 * results checked; the rest take every field from the input (edge counts, hostile strides, lengths, enums, NULLs).
 *
 * Every accepted call's output is compared, element by element, with a float64 reference written here in plain C:
 * each pair (a, b) with cos c and sin s (s negated for the inverse) becomes a*c - b*s, a*s + b*c; table rows are the
 * table's own float32 rows (rope_simd_table_rows) or, for tables without stored rows, A*cos(p*w_i) and A*sin(p*w_i) in
 * double from the frequencies the table was made from; caller rows are used as given (bfloat16 / float16 widened
 * exactly); a QK norm is x / sqrt(mean(x^2) + eps) per head in double, times w, 1 + w or 1, before the rotation;
 * elements past the rotary dim pass through (bit for bit without a norm). Appends must leave the rotated keys and the
 * converted values at each token's cache place and every other cache element's bits as they were. Tolerances are
 * docs/accuracy.md's: float32 within F*2^-23*M*R (F = 2, or (ceil(head_dim/16) + 21)/2 with a norm; M the larger
 * magnitude of the (normalized) pair, R = sqrt(c^2 + s^2)), 16-bit results within the float32 bound (F at least 3)
 * plus half a unit in the last place of the 16-bit type; NaN inputs must give NaN, other non-finite or overflowing
 * cases are not compared. A mismatch prints the call and the first wrong element, then aborts.
 *
 * AddressSanitizer cannot see into the NativeAOT code, so every buffer the library may touch is placed flush against
 * a PROT_NONE guard page (reads or writes past its end fault at once), starts after canary bytes that must survive,
 * and is compared with a snapshot when a call is rejected: a rejected call must write nothing.
 * The lengths passed are always the true lengths of the buffers: whatever the library accepts, it must stay inside.
 */
#define _GNU_SOURCE
#include "rope_simd.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { canary_bytes = 64, max_buffer_bytes = 1 << 20 };

/* The per-element loops of the data generator and the comparison are left out of the coverage feedback: they would
   only slow the fuzzer and steer it by data values. */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

typedef struct {
    const uint8_t* data;
    size_t size, at;
} reader;

static uint64_t take(reader* r, int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++) value |= (uint64_t)(r->at < r->size ? r->data[r->at++] : 0) << (8 * i);
    return value;
}

/* A fuzzed count: mostly small, sometimes an edge (0, negative, near 2^31, beyond 32 bits). */
static int64_t count(reader* r, int64_t small) {
    uint8_t kind = (uint8_t)take(r, 1);
    switch (kind % 16) {
        case 0: return 0;
        case 1: return -(int64_t)take(r, 4);
        case 2: return 2147483647 - (int64_t)(take(r, 1) % 4);
        case 3: return (int64_t)take(r, 8);
        case 4: return (int64_t)take(r, 4);
        default: return (int64_t)(take(r, 2) % (uint64_t)small);
    }
}

/* ---- Seeded data: well-formed calls fill their buffers from this, so a short input still gives nonzero data. ---- */

static uint64_t rng_state;

NO_COVERAGE static uint64_t rng(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return n == 0 ? 0 : rng() % n; }

typedef struct {
    uint8_t* mapping;
    size_t mapping_bytes;
    uint8_t* data; /* `bytes` long, ending at the guard page */
    size_t bytes;
} guarded;

static guarded guarded_alloc(size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (canary_bytes + bytes + page - 1) / page * page;
    guarded g = {0};
    g.mapping_bytes = body + 2 * page;
    g.mapping = mmap(NULL, g.mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g.mapping == MAP_FAILED) abort();
    mprotect(g.mapping, page, PROT_NONE);
    mprotect(g.mapping + page + body, page, PROT_NONE);
    g.data = g.mapping + page + body - bytes;
    g.bytes = bytes;
    memset(g.mapping + page, 0xA5, body - bytes);
    return g;
}

static void guarded_check_canaries(const guarded* g) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (const uint8_t* p = g->mapping + page; p < g->data; p++)
        if (*p != 0xA5) {
            fprintf(stderr, "canary before a buffer was overwritten\n");
            abort();
        }
}

static void guarded_free(guarded* g) {
    if (g->mapping == NULL) return;
    guarded_check_canaries(g);
    munmap(g->mapping, g->mapping_bytes);
    g->mapping = NULL;
}

/* ---- Element types, widened exactly. ---- */

static int element_size(int dtype) { return dtype == ROPE_SIMD_FLOAT32 ? 4 : 2; }

static float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

NO_COVERAGE static double half_to_double(uint16_t h) {
    int exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    double sign = h & 0x8000 ? -1.0 : 1.0;
    if (exponent == 0x1F) return mantissa ? NAN : sign * INFINITY;
    if (exponent == 0) return sign * ldexp(mantissa, -24);
    return sign * ldexp(mantissa | 0x400, exponent - 25);
}

NO_COVERAGE static double load(const void* base, int dtype, int64_t i) {
    if (dtype == ROPE_SIMD_FLOAT32) {
        float f;
        memcpy(&f, (const uint8_t*)base + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const uint8_t*)base + 2 * i, 2);
    return dtype == ROPE_SIMD_BFLOAT16 ? (double)bits_to_float((uint32_t)h << 16) : half_to_double(h);
}

/* Unit in the last place of the type at magnitude x (subnormals included). */
NO_COVERAGE static double ulp_of(int dtype, double x) {
    int significand = dtype == ROPE_SIMD_FLOAT32 ? 24 : dtype == ROPE_SIMD_BFLOAT16 ? 8 : 11;
    int min_exponent = dtype == ROPE_SIMD_FLOAT16 ? -14 : -126;
    int e;
    frexp(fabs(x), &e);
    e -= 1;
    if (x == 0 || e < min_exponent) e = min_exponent;
    return ldexp(1.0, e - (significand - 1));
}

static double max_finite(int dtype) {
    return dtype == ROPE_SIMD_FLOAT32 ? FLT_MAX : dtype == ROPE_SIMD_BFLOAT16 ? (double)bits_to_float(0x7F7F0000u) : 65504.0;
}

/* A value exactly representable in every type (at most 8 significant bits, well inside float16's range) as dtype bits. */
NO_COVERAGE static void store_exact(void* base, int dtype, int64_t i, double v) {
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if (dtype == ROPE_SIMD_FLOAT32) {
        memcpy((uint8_t*)base + 4 * i, &f, 4);
        return;
    }
    uint16_t h;
    if (dtype == ROPE_SIMD_BFLOAT16) h = (uint16_t)(bits >> 16);
    else {
        uint32_t sign = (bits >> 16) & 0x8000, exponent = (bits >> 23) & 0xFF, mantissa = bits & 0x7FFFFF;
        h = (uint16_t)(f == 0 ? sign : sign | ((exponent - 112) << 10) | (mantissa >> 13));
    }
    memcpy((uint8_t*)base + 2 * i, &h, 2);
}

/* Fills n elements: values of up to 8 significant bits times 2^-8..2^2 (exact in every type), float32 values with full
   significands, and now and then a zero, NaN, infinity, subnormal or huge value. */
NO_COVERAGE static void fill_values(void* base, int dtype, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = rng();
        if (x % 97 == 0) {
            static const uint32_t f32[] = {0x00000000u, 0x80000000u, 0x7FC00000u, 0x7F800000u, 0xFF800000u, 0x00000123u, 0x7E000000u};
            static const uint16_t bf16[] = {0x0000, 0x8000, 0x7FC0, 0x7F80, 0xFF80, 0x0012, 0x7E00};
            static const uint16_t f16[] = {0x0000, 0x8000, 0x7E00, 0x7C00, 0xFC00, 0x0003, 0x7BFF};
            int k = (int)((x >> 8) % 7);
            if (dtype == ROPE_SIMD_FLOAT32) memcpy((uint8_t*)base + 4 * i, &f32[k], 4);
            else memcpy((uint8_t*)base + 2 * i, dtype == ROPE_SIMD_BFLOAT16 ? &bf16[k] : &f16[k], 2);
        } else if (dtype == ROPE_SIMD_FLOAT32 && x % 2) {
            float f = (float)(((double)(int64_t)(x >> 11) / 9007199254740992.0 - 0.5) * 16 * scale);
            memcpy((uint8_t*)base + 4 * i, &f, 4);
        } else {
            int m = (int)((x >> 16) % 511) - 255, e = (int)((x >> 32) % 11) - 8;
            store_exact(base, dtype, i, ldexp(m, e) * (scale < 1 ? 0.25 : 1));
        }
    }
}

NO_COVERAGE static void fill_rows(void* base, int dtype, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = rng();
        if (x % 211 == 0) store_exact(base, dtype, i, 0);
        else store_exact(base, dtype, i, ldexp((int)((x >> 16) % 257) - 128, -7)); /* [-1, 1] */
    }
}

/* ---- What the reference needs to know about a call. ---- */

enum { fn_rotate, fn_rotate_ex, fn_rotate_norm, fn_append, fn_norm_append, fn_count };
static const char* const fn_names[fn_count] = {"rope_simd_rotate", "rope_simd_rotate_ex", "rope_simd_rotate_norm",
                                               "rope_simd_rotate_append", "rope_simd_rotate_norm_append"};

typedef struct {
    int ok;               /* the table was created */
    int32_t rotary_dim, first, count;
    const float* rows;    /* stored rows (count > 0) */
    int64_t rows_length;
    double* omega;        /* rotary_dim / 2 frequencies (computed rows) */
    double attention;
} table_ref;

typedef struct {
    int function, dtype, layout, inverse, key_kind;
    const rope_simd_rows* rows;              /* NULL: rope_simd_rotate with the table */
    const rope_simd_batch_positions* positions;
    rope_simd_batch_tensor q, k, v;          /* the tensors as passed (rope_simd_rotate: batch 1) */
    int has_keys;                            /* keys passed (not NULL) */
    const rope_simd_head_norm *qnorm, *knorm;
    const rope_simd_kv_cache* cache;
    int sane;
} call_ref;

static table_ref the_table;
static call_ref the_call;
static uint64_t stats_calls[fn_count], stats_accepted[fn_count], stats_compared[fn_count], stats_elements, stats_inputs;
static uint64_t stats_caller16_half, stats_append_f32_qnorm;
/* Compared calls by rows format (rope_simd_rotate's table as 0), dtype, layout, query norm kind, cache layout and dtype. */
static uint64_t stats_format[5], stats_dtype[3], stats_layout[2], stats_norm[4], stats_cache_layout[3], stats_cache_dtype[3];

static void print_tensor(const char* name, const rope_simd_batch_tensor* t) {
    fprintf(stderr, "  %s: batch %lld tokens %lld heads %lld head_dim %lld strides %lld/%lld/%lld length %lld%s\n", name,
            (long long)t->batch, (long long)t->tokens, (long long)t->heads, (long long)t->head_dim, (long long)t->batch_stride,
            (long long)t->token_stride, (long long)t->head_stride, (long long)t->length, t->source ? " (source = data)" : "");
}

static void print_norm(const char* name, const rope_simd_head_norm* n) {
    if (!n) fprintf(stderr, "  %s: NULL\n", name);
    else fprintf(stderr, "  %s: kind %d epsilon %g weights %lld\n", name, n->kind, (double)n->epsilon, (long long)n->length);
}

static void print_call(void) {
    const call_ref* c = &the_call;
    fprintf(stderr, "%s (%s input): dtype %d layout %d inverse %d\n", fn_names[c->function], c->sane ? "well-formed" : "fuzzed",
            c->dtype, c->layout, c->inverse);
    fprintf(stderr, "  table: ok %d rotary_dim %d first %d count %d attention %g\n", the_table.ok, the_table.rotary_dim, the_table.first,
            the_table.count, the_table.attention);
    if (c->rows)
        fprintf(stderr, "  rows: format %d dtype %d rotary_dim %d row_stride %lld length %lld\n", c->rows->format, c->rows->dtype,
                c->rows->rotary_dim, (long long)c->rows->row_stride, (long long)c->rows->length);
    fprintf(stderr, "  positions: kind %d start %lld count %lld\n", c->positions->kind, (long long)c->positions->start,
            (long long)c->positions->count);
    print_tensor("queries", &c->q);
    if (c->has_keys) print_tensor("keys", &c->k);
    if (c->function == fn_rotate_norm || c->function == fn_norm_append) {
        print_norm("query_norm", c->qnorm);
        print_norm("key_norm", c->knorm);
    }
    if (c->cache)
        fprintf(stderr, "  cache: layout %d dtype %d length %lld batch %lld capacity %lld heads %lld head_dim %lld block_size %lld "
                        "blocks_per_sequence %lld block_table_length %lld\n",
                c->cache->layout, c->cache->dtype, (long long)c->cache->length, (long long)c->cache->batch, (long long)c->cache->capacity,
                (long long)c->cache->heads, (long long)c->cache->head_dim, (long long)c->cache->block_size,
                (long long)c->cache->blocks_per_sequence, (long long)c->cache->block_table_length);
}

static void fail(const char* what) {
    fprintf(stderr, "\nrope_simd differential check failed: %s\n", what);
    print_call();
    abort();
}

/* ---- The reference. ---- */

enum { expect_unchanged = 0, expect_value = 1, expect_skip = 2, expect_nan = 3 };

typedef struct {
    double value, tol;
    int32_t b, t, h, j;
    int64_t p;
    uint8_t mode, written;
} expect;

typedef struct {
    const char* name;
    expect* e;
    const uint8_t* before; /* snapshot */
    const uint8_t* after;  /* the buffer */
    int64_t elements;
    int dtype;
} expected_buffer;

static expected_buffer expected_new(const char* name, const void* before, const void* after, size_t bytes, int dtype) {
    expected_buffer x = {name, NULL, before, after, (int64_t)(bytes / (size_t)element_size(dtype)), dtype};
    x.e = calloc((size_t)x.elements + 1, sizeof(expect));
    return x;
}

NO_COVERAGE static void expected_set(expected_buffer* x, int64_t at, double value, double tol, uint8_t mode, int b, int t, int h, int j, int64_t p) {
    if (at < 0 || at >= x->elements) {
        char message[200];
        snprintf(message, sizeof message, "an accepted call's element %lld of %s lies outside its %lld elements", (long long)at, x->name,
                 (long long)x->elements);
        fail(message);
    }
    expect* e = &x->e[at];
    if (e->written) { /* two places of one call write one element: the order decides, do not compare */
        e->mode = expect_skip;
        return;
    }
    *e = (expect){value, tol, b, t, h, j, p, mode, 1};
}

/* cos and sin of pair i at position p, and the absolute error of each (rows computed here in double). */
static int row_at(const call_ref* c, int64_t p, int i, double* cs, double* sn, double* row_error) {
    *row_error = 0;
    if (c->rows == NULL || c->rows->format == ROPE_SIMD_ROWS_TABLE) {
        const table_ref* t = &the_table;
        if (!t->ok) return 0;
        if (t->count > 0) {
            int64_t index = p - t->first;
            if (index < 0 || index >= t->count || (index + 1) * t->rotary_dim > t->rows_length) fail("accepted a position outside the table's rows");
            *cs = t->rows[index * t->rotary_dim + 2 * i];
            *sn = t->rows[index * t->rotary_dim + 2 * i + 1];
            return 1;
        }
        if (p < 0 || p > 2147483647) fail("accepted a position outside [0, 2^31) for computed rows");
        double angle = (double)p * t->omega[i];
        *cs = t->attention * cos(angle);
        *sn = t->attention * sin(angle);
        *row_error = t->attention * (ldexp(1, -22) + fabs(angle) * ldexp(1, -48));
        return 1;
    }
    const rope_simd_rows* r = c->rows;
    int64_t n = r->rotary_dim / 2;
    int64_t width = r->format == ROPE_SIMD_ROWS_SEPARATE ? n : r->rotary_dim;
    int64_t stride = r->row_stride == 0 ? width : r->row_stride;
    if (p < 0 || p * stride + width > r->length) fail("accepted a position without a row in the caller's rows");
    int64_t at = p * stride;
    switch (r->format) {
        case ROPE_SIMD_ROWS_INTERLEAVED:
            *cs = load(r->cos, r->dtype, at + 2 * i);
            *sn = load(r->cos, r->dtype, at + 2 * i + 1);
            break;
        case ROPE_SIMD_ROWS_COS_THEN_SIN:
            *cs = load(r->cos, r->dtype, at + i);
            *sn = load(r->cos, r->dtype, at + n + i);
            break;
        default:
            *cs = load(r->cos, r->dtype, at + i);
            *sn = load(r->sin, r->dtype, at + i);
            break;
    }
    return 1;
}

static int rotary_dim_of(const call_ref* c) {
    return c->rows == NULL || c->rows->format == ROPE_SIMD_ROWS_TABLE ? the_table.rotary_dim : c->rows->rotary_dim;
}

static int64_t position_of(const call_ref* c, int64_t b, int64_t t, int64_t tokens) {
    const rope_simd_batch_positions* p = c->positions;
    switch (p->kind) {
        case ROPE_SIMD_POSITIONS_SEQUENTIAL: return p->start + t;
        case ROPE_SIMD_POSITIONS_STARTS: return (int64_t)((const int32_t*)p->values)[b] + t;
        case ROPE_SIMD_POSITIONS_INT32: return ((const int32_t*)p->values)[b * tokens + t];
        default: return ((const int64_t*)p->values)[b * tokens + t];
    }
}

typedef struct {
    int64_t batch, tokens, heads, head_dim, batch_stride, token_stride, head_stride;
} shape;

static shape resolve(const rope_simd_batch_tensor* t) {
    shape s = {t->batch == 0 ? 1 : t->batch, t->tokens, t->heads, t->head_dim, t->batch_stride, t->token_stride, t->head_stride};
    if (s.head_stride == 0) s.head_stride = s.head_dim;
    if (s.token_stride == 0) s.token_stride = s.heads * s.head_dim;
    if (s.batch_stride == 0) s.batch_stride = s.batch > 1 ? s.tokens * s.token_stride : 0;
    return s;
}

/* One head: x (head_dim inputs) normalized with norm (NULL or NONE: not), rotated at position p, as out_dtype.
   copy_through: elements past the rotary dim are written (a cache) rather than left alone. */
static void head_reference(const call_ref* c, const double* x, int64_t head_dim, const rope_simd_head_norm* norm, int64_t p,
                           int out_dtype, int copy_through, double* value, double* tol, uint8_t* mode) {
    int rotary = rotary_dim_of(c), normed = norm != NULL && norm->kind != ROPE_SIMD_NORM_NONE;
    double f = out_dtype == ROPE_SIMD_FLOAT32 ? 2 : 3, weight_scale = 1;
    double* n = malloc(sizeof(double) * (size_t)(head_dim + 1));
    uint8_t* bad = calloc((size_t)head_dim + 1, 1);
    if (normed) {
        double sum = 0;
        int finite = 1;
        for (int64_t j = 0; j < head_dim; j++) {
            finite &= isfinite(x[j]) != 0;
            sum += x[j] * x[j];
        }
        double mean = sum / (double)head_dim + (double)norm->epsilon;
        if (!finite || sum > 0x1p120 || mean < 0x1p-100) {
            for (int64_t j = 0; j < head_dim; j++) mode[j] = expect_skip;
            free(n);
            free(bad);
            return;
        }
        double scale = 1 / sqrt(mean);
        for (int64_t j = 0; j < head_dim; j++) {
            double w = norm->kind == ROPE_SIMD_NORM_RMS_UNWEIGHTED ? 1 : norm->weight[j];
            if (norm->kind == ROPE_SIMD_NORM_RMS_ONE_PLUS) w += 1;
            bad[j] = !isfinite(w);
            if (isfinite(w) && fabs(w) > weight_scale) weight_scale = fabs(w);
            n[j] = x[j] * scale * w;
        }
        double k = (double)((head_dim + 15) / 16);
        if ((k + 21) / 2 > f) f = (k + 21) / 2;
    } else {
        memcpy(n, x, sizeof(double) * (size_t)head_dim);
    }
    double tiny = 0x1p-120 * weight_scale;
    int half = rotary / 2;
    for (int i = 0; i < half; i++) {
        int64_t ja = c->layout == ROPE_SIMD_INTERLEAVED ? 2 * i : i, jb = c->layout == ROPE_SIMD_INTERLEAVED ? 2 * i + 1 : i + half;
        double cs, sn, row_error;
        if (!row_at(c, p, i, &cs, &sn, &row_error)) {
            mode[ja] = mode[jb] = expect_skip;
            continue;
        }
        if (c->inverse) sn = -sn;
        double a = n[ja], b = n[jb];
        if (!normed && (isnan(a) || isnan(b) || isnan(cs) || isnan(sn))) {
            mode[ja] = mode[jb] = expect_nan;
            continue;
        }
        double m = fmax(fabs(a), fabs(b)), radius = sqrt(cs * cs + sn * sn);
        if (bad[ja] || bad[jb] || !isfinite(a) || !isfinite(b) || !isfinite(cs) || !isfinite(sn) || m * (fabs(cs) + fabs(sn)) >= 0x1p126
            || (normed && m * weight_scale >= 0x1p126)) {
            mode[ja] = mode[jb] = expect_skip;
            continue;
        }
        double bound = f * 0x1p-23 * m * radius + row_error * (fabs(a) + fabs(b)) + tiny * (1 + radius);
        value[ja] = a * cs - b * sn;
        value[jb] = a * sn + b * cs;
        tol[ja] = tol[jb] = bound;
        mode[ja] = mode[jb] = expect_value;
    }
    for (int64_t j = rotary; j < head_dim; j++) {
        if (!normed && !copy_through) {
            mode[j] = expect_unchanged;
        } else if (isnan(n[j]) && !normed) {
            mode[j] = expect_nan;
        } else if (bad[j] || !isfinite(n[j]) || (normed && fabs(n[j]) >= 0x1p126)) {
            mode[j] = expect_skip;
        } else {
            value[j] = n[j];
            tol[j] = normed ? f * 0x1p-23 * fabs(n[j]) + tiny : 0;
            mode[j] = expect_value;
        }
    }
    free(n);
    free(bad);
}

/* The heads of tensor t (elements at data_offset + ... of the buffer x), read from `before`, written where they are. */
static void tensor_reference(const call_ref* c, expected_buffer* x, int64_t data_offset, const rope_simd_batch_tensor* t,
                             const rope_simd_head_norm* norm) {
    shape s = resolve(t);
    if (s.batch <= 0 || s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0) return;
    if (s.head_dim > x->elements) fail("an accepted call's head is longer than its buffer");
    double* in = malloc(sizeof(double) * (size_t)(s.head_dim + 1));
    double* value = malloc(sizeof(double) * (size_t)(s.head_dim + 1));
    double* tol = malloc(sizeof(double) * (size_t)(s.head_dim + 1));
    uint8_t* mode = malloc((size_t)s.head_dim + 1);
    for (int64_t b = 0; b < s.batch; b++)
        for (int64_t tk = 0; tk < s.tokens; tk++) {
            int64_t p = position_of(c, b, tk, s.tokens);
            for (int64_t h = 0; h < s.heads; h++) {
                int64_t at = data_offset + b * s.batch_stride + tk * s.token_stride + h * s.head_stride;
                if (at < 0 || at + s.head_dim > x->elements) fail("an accepted call's head lies outside its buffer");
                for (int64_t j = 0; j < s.head_dim; j++) in[j] = load(x->before, x->dtype, at + j);
                head_reference(c, in, s.head_dim, norm, p, c->dtype, 0, value, tol, mode);
                for (int64_t j = 0; j < s.head_dim; j++)
                    if (mode[j] != expect_unchanged)
                        expected_set(x, at + j, value[j], tol[j], mode[j], (int)b, (int)tk, (int)h, (int)j, p);
            }
        }
    free(in);
    free(value);
    free(tol);
    free(mode);
}

/* The cache places of the append: rotated keys into keys, values converted into values. */
static void cache_reference(const call_ref* c, expected_buffer* ck, expected_buffer* cv, const uint8_t* key_before, int64_t key_offset,
                            const uint8_t* value_before, int64_t value_offset) {
    const rope_simd_kv_cache* cache = c->cache;
    shape s = resolve(&c->k);
    if (s.batch <= 0 || s.tokens <= 0 || s.heads <= 0 || s.head_dim <= 0) return;
    if (s.head_dim > ck->elements) fail("an accepted append's key head is longer than the cache");
    double* in = malloc(sizeof(double) * (size_t)(s.head_dim + 1));
    double* value = malloc(sizeof(double) * (size_t)(s.head_dim + 1));
    double* tol = malloc(sizeof(double) * (size_t)(s.head_dim + 1));
    uint8_t* mode = malloc((size_t)s.head_dim + 1);
    for (int64_t b = 0; b < s.batch; b++)
        for (int64_t tk = 0; tk < s.tokens; tk++) {
            int64_t p = position_of(c, b, tk, s.tokens);
            int64_t block = 0;
            if (cache->layout == ROPE_SIMD_KV_PAGED) {
                int64_t entry = b * cache->blocks_per_sequence + p / cache->block_size;
                if (p < 0 || entry >= cache->block_table_length) fail("accepted a position outside the block table");
                block = cache->block_table[entry];
            } else if (p < 0 || p >= cache->capacity || b >= cache->batch) {
                fail("accepted a position outside the cache");
            }
            for (int64_t h = 0; h < s.heads; h++) {
                int64_t place = cache->layout == ROPE_SIMD_KV_POSITION_MAJOR ? ((b * cache->capacity + p) * cache->heads + h) * cache->head_dim
                                : cache->layout == ROPE_SIMD_KV_HEAD_MAJOR  ? ((b * cache->heads + h) * cache->capacity + p) * cache->head_dim
                                : ((block * cache->block_size + p % cache->block_size) * cache->heads + h) * cache->head_dim;
                int64_t at = b * s.batch_stride + tk * s.token_stride + h * s.head_stride;
                for (int64_t j = 0; j < s.head_dim; j++) in[j] = load(key_before, c->dtype, key_offset + at + j);
                head_reference(c, in, s.head_dim, c->function == fn_norm_append ? c->knorm : NULL, p, cache->dtype, 1, value, tol, mode);
                for (int64_t j = 0; j < s.head_dim; j++)
                    expected_set(ck, place + j, value[j], tol[j], mode[j], (int)b, (int)tk, (int)h, (int)j, p);
                for (int64_t j = 0; j < s.head_dim; j++) {
                    double v = load(value_before, c->dtype, value_offset + at + j);
                    expected_set(cv, place + j, v, 0, isnan(v) ? expect_nan : expect_value, (int)b, (int)tk, (int)h, (int)j, p);
                }
            }
        }
    free(in);
    free(value);
    free(tol);
    free(mode);
}

NO_COVERAGE static void expected_check(expected_buffer* x) {
    int size = element_size(x->dtype);
    for (int64_t i = 0; i < x->elements; i++) {
        const expect* e = &x->e[i];
        if (e->mode == expect_skip) continue;
        if (e->mode == expect_unchanged) {
            if (memcmp(x->before + size * i, x->after + size * i, (size_t)size) != 0) {
                fprintf(stderr, "\n%s element %lld changed: %.9g -> %.9g (it is not written by the call)\n", x->name, (long long)i,
                        load(x->before, x->dtype, i), load(x->after, x->dtype, i));
                fail("an element the call must not write changed");
            }
            continue;
        }
        double got = load(x->after, x->dtype, i);
        int ok;
        double allowed = e->tol;
        if (e->mode == expect_nan) {
            ok = isnan(got);
        } else if (isnan(got)) {
            ok = 0;
        } else if (isinf(got)) {
            double top = max_finite(x->dtype);
            ok = (got > 0) == (e->value > 0) && fabs(e->value) + e->tol >= top + ulp_of(x->dtype, top) / 2;
        } else {
            if (x->dtype != ROPE_SIMD_FLOAT32 || e->tol == 0) allowed += ulp_of(x->dtype, fmax(fabs(got), fabs(e->value))) / 2;
            if (x->dtype == ROPE_SIMD_FLOAT32 && e->tol == 0) allowed = ulp_of(x->dtype, fmax(fabs(got), fabs(e->value))) / 2;
            ok = fabs(got - e->value) <= allowed;
        }
        stats_elements++;
        if (!ok) {
            fprintf(stderr, "\n%s element %lld (sequence %d, token %d at position %lld, head %d, element %d): got %.9g, reference %.9g, "
                            "|difference| %.3g > allowed %.3g%s\n",
                    x->name, (long long)i, e->b, e->t, (long long)e->p, e->h, e->j, got, e->value, fabs(got - e->value), allowed,
                    e->mode == expect_nan ? " (NaN expected)" : "");
            fail("an accepted call's result differs from the float64 reference");
        }
    }
    free(x->e);
    x->e = NULL;
}

/* ---- Decoding. ---- */

/* Two fuzzed head norms (kinds, epsilons, weights exactly as long as they say), weights in guarded buffers. */
static void fuzzed_norms(reader* r, rope_simd_head_norm norms[2], guarded weight_buffers[2]) {
    for (int n = 0; n < 2; n++) {
        norms[n].kind = take(r, 1) % 8 == 0 ? (int32_t)take(r, 4) : (int32_t)(take(r, 1) % 4);
        uint32_t epsilon_bits = take(r, 1) % 8 == 0 ? (uint32_t)take(r, 4) : 0x358637BDu; /* 1e-6f */
        memcpy(&norms[n].epsilon, &epsilon_bits, sizeof epsilon_bits);
        size_t weights = (size_t)(take(r, 1) % 140);
        weight_buffers[n] = guarded_alloc(weights * sizeof(float));
        for (size_t i = 0; i < weight_buffers[n].bytes; i++) weight_buffers[n].data[i] = (uint8_t)take(r, 1);
        norms[n].weight = weights == 0 && take(r, 1) % 2 ? NULL : (const float*)weight_buffers[n].data;
        norms[n].length = take(r, 1) % 8 == 0 ? -(int64_t)take(r, 1) : (int64_t)weights;
    }
}

/* Two well-formed norms for heads of head_dim elements. */
static void sane_norms(reader* r, int64_t head_dim, rope_simd_head_norm norms[2], guarded weight_buffers[2]) {
    static const float epsilons[4] = {1e-6f, 1e-5f, 0.0f, 1.0f};
    for (int n = 0; n < 2; n++) {
        norms[n].kind = (int32_t)(take(r, 1) % 4);
        norms[n].epsilon = epsilons[take(r, 1) % 4];
        weight_buffers[n] = guarded_alloc((size_t)head_dim * sizeof(float));
        fill_values(weight_buffers[n].data, ROPE_SIMD_FLOAT32, head_dim, 0.25);
        norms[n].weight = (const float*)weight_buffers[n].data;
        norms[n].length = head_dim;
    }
}

static rope_simd_tensor fuzzed_tensor(reader* r, int size, guarded* buffer) {
    rope_simd_tensor t;
    t.tokens = count(r, 64);
    t.heads = count(r, 9);
    t.head_dim = count(r, 300);
    t.token_stride = take(r, 1) % 3 == 0 ? 0 : count(r, 2000);
    t.head_stride = take(r, 1) % 3 == 0 ? 0 : count(r, 600);
    size_t elements = (size_t)(take(r, 3) % (max_buffer_bytes / size));
    *buffer = guarded_alloc(elements * (size_t)size);
    for (size_t i = 0; i < buffer->bytes; i++) buffer->data[i] = (uint8_t)take(r, 1);
    t.data = elements == 0 && take(r, 1) % 2 ? NULL : buffer->data;
    t.length = take(r, 1) % 8 == 0 ? -(int64_t)take(r, 1) : (int64_t)elements;
    if (t.length > (int64_t)elements) abort();
    return t;
}

/* A well-formed batch tensor: packed, or with padded strides; its buffer exactly (or a little more than) as long. */
static rope_simd_batch_tensor sane_tensor(reader* r, int dtype, int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim, guarded* buffer) {
    rope_simd_batch_tensor t = {0};
    t.batch = batch;
    t.tokens = tokens;
    t.heads = heads;
    t.head_dim = head_dim;
    int64_t sequences = batch == 0 ? 1 : batch, hs = head_dim, ts = heads * head_dim, bs;
    if (take(r, 1) % 4 == 0) {
        hs = head_dim + (int64_t)(take(r, 1) % 3);
        ts = (heads - 1) * hs + head_dim + (int64_t)(take(r, 1) % 5);
        bs = (tokens - 1) * ts + (heads - 1) * hs + head_dim + (int64_t)(take(r, 1) % 7);
        t.head_stride = hs;
        t.token_stride = ts;
        t.batch_stride = sequences > 1 ? bs : 0;
    } else {
        bs = tokens * ts;
    }
    int64_t required = (sequences - 1) * bs + (tokens - 1) * ts + (heads - 1) * hs + head_dim;
    int64_t elements = required + (take(r, 1) % 4 == 0 ? (int64_t)(take(r, 1) % 9) : 0);
    *buffer = guarded_alloc((size_t)elements * (size_t)element_size(dtype));
    fill_values(buffer->data, dtype, elements, 1);
    t.data = buffer->data;
    t.length = elements;
    return t;
}

static void snapshot(void** copy, const guarded* g) {
    *copy = malloc(g->bytes + 1);
    memcpy(*copy, g->data, g->bytes);
}

/* How many calls were accepted and compared: printed at 1, 2, 4, ... inputs and at exit. */
static void print_stats(void) {
    uint64_t calls = 0, accepted = 0, compared = 0;
    for (int f = 0; f < fn_count; f++) calls += stats_calls[f], accepted += stats_accepted[f], compared += stats_compared[f];
    fprintf(stderr, "harness: %llu inputs, %llu calls, %llu accepted and compared (%.1f%%), %llu elements checked; accepted/calls:",
            (unsigned long long)stats_inputs, (unsigned long long)calls, (unsigned long long)compared,
            calls ? 100.0 * (double)compared / (double)calls : 0.0, (unsigned long long)stats_elements);
    for (int f = 0; f < fn_count; f++)
        fprintf(stderr, " %s %llu/%llu", fn_names[f] + 10, (unsigned long long)stats_accepted[f], (unsigned long long)stats_calls[f]);
    fprintf(stderr, "; 16-bit caller rows half-split %llu, float32 append with query norm only %llu\n",
            (unsigned long long)stats_caller16_half, (unsigned long long)stats_append_f32_qnorm);
    fprintf(stderr, "harness: compared by rows format (table/interleaved/cos-then-sin/separate/duplicated) %llu/%llu/%llu/%llu/%llu, "
                    "dtype (f32/bf16/f16) %llu/%llu/%llu, layout (interleaved/half-split) %llu/%llu, query norm (none/rms/1+w/unweighted) "
                    "%llu/%llu/%llu/%llu, cache (position/head-major/paged) %llu/%llu/%llu, cache dtype %llu/%llu/%llu\n",
            (unsigned long long)stats_format[0], (unsigned long long)stats_format[1], (unsigned long long)stats_format[2],
            (unsigned long long)stats_format[3], (unsigned long long)stats_format[4], (unsigned long long)stats_dtype[0],
            (unsigned long long)stats_dtype[1], (unsigned long long)stats_dtype[2], (unsigned long long)stats_layout[0],
            (unsigned long long)stats_layout[1], (unsigned long long)stats_norm[0], (unsigned long long)stats_norm[1],
            (unsigned long long)stats_norm[2], (unsigned long long)stats_norm[3], (unsigned long long)stats_cache_layout[0],
            (unsigned long long)stats_cache_layout[1], (unsigned long long)stats_cache_layout[2], (unsigned long long)stats_cache_dtype[0],
            (unsigned long long)stats_cache_dtype[1], (unsigned long long)stats_cache_dtype[2]);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (stats_inputs == 0) atexit(print_stats);
    reader r = {data, size, 0};
    rope_simd_table table = 0;
    uint8_t table_kind = (uint8_t)take(&r, 1);
    int sane_table = (table_kind >> 4) % 4 != 0;
    int32_t rotary_dim, first_position, position_count;
    if (sane_table) {
        rotary_dim = 2 * (int32_t)(1 + take(&r, 1) % 64);
        first_position = take(&r, 1) % 4 == 0 ? (int32_t)(take(&r, 1) % 16) : 0;
        position_count = take(&r, 1) % 4 == 0 ? 0 : (int32_t)(64 + take(&r, 2) % 4032);
    } else {
        rotary_dim = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 130);
        first_position = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 16);
        position_count = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 2) % 4096);
    }
    rng_state = take(&r, 8) ^ 0x243F6A8885A308D3ull;
    stats_inputs++;
    /* Valid but huge tables are a caller's choice, not hostile input: keep stored rows under 64 MiB per run (for
       explicit frequencies, below, with their own rotary dim). */
    if (rotary_dim > 0 && position_count > 0 && (int64_t)rotary_dim * position_count > (16 << 20)) position_count %= 4096;
    int status;
    static double omega[8192];
    memset(&the_table, 0, sizeof the_table);
    the_table.omega = omega;
    the_table.attention = 1;
    if (table_kind % 2 == 0) {
        double base;
        uint64_t bits = take(&r, 8);
        memcpy(&base, &bits, 8);
        if (table_kind % 4 == 0) base = 10000;
        if (sane_table && !(base > 1.5 && base < 1e7)) base = table_kind % 8 == 2 ? 500000 : 10000;
        status = rope_simd_table_create(rotary_dim, base, first_position, position_count, &table);
        if (status == ROPE_SIMD_OK)
            for (int i = 0; i < rotary_dim / 2 && i < 8192; i++) omega[i] = pow(base, -2.0 * i / rotary_dim);
    } else {
        int32_t pairs = sane_table ? rotary_dim / 2 : (int32_t)(take(&r, 1) % 70);
        if (pairs > 0 && position_count > 0 && (int64_t)2 * pairs * position_count > (16 << 20)) position_count %= 4096;
        guarded frequencies = guarded_alloc((size_t)pairs * sizeof(double));
        for (int32_t i = 0; i < pairs; i++) {
            uint64_t bits = take(&r, 1) % 2 ? take(&r, 8) : 0x3FE0000000000000ull >> (take(&r, 1) % 8);
            if (sane_table) {
                double w = (double)below(1u << 20) / (1u << 20);
                memcpy(&bits, &w, 8);
            }
            memcpy(frequencies.data + 8 * i, &bits, 8);
            memcpy(&omega[i], &bits, 8);
        }
        double attention;
        uint64_t bits = take(&r, 1) % 2 ? take(&r, 8) : 0x3FF0000000000000ull;
        memcpy(&attention, &bits, 8);
        if (sane_table && !(attention >= 0.25 && attention <= 4)) attention = 1;
        /* A claimed pair count above the array's is a caller's lie the ABI cannot see; only the true one is passed,
           except 0 and negatives, which must be rejected without a read. */
        int32_t claimed = !sane_table && take(&r, 1) % 8 == 0 ? -(int32_t)take(&r, 1) : pairs;
        status = rope_simd_table_create_from_frequencies(pairs ? (double*)frequencies.data : NULL, claimed, attention,
                                                         first_position, position_count, &table);
        guarded_free(&frequencies);
        rotary_dim = 2 * pairs;
        the_table.attention = attention;
    }
    if (status != ROPE_SIMD_OK) {
        if (table != 0) abort(); /* a failed create leaves the handle 0 */
        if (rope_simd_last_error() == NULL) abort();
        table = (rope_simd_table)take(&r, 8); /* keep going with a forged handle */
    }

    int32_t info_dim = 0, info_first = 0, info_count = 0;
    int info_status = rope_simd_table_info(table, &info_dim, &info_first, &info_count);
    const float* rows = NULL;
    int64_t rows_length = 0;
    int rows_status = rope_simd_table_rows(table, &rows, &rows_length);
    if (rows_status == ROPE_SIMD_OK) {
        volatile float sink = 0;
        for (int64_t i = 0; i < rows_length; i += 1 + rows_length / 64) sink += rows[i];
        (void)sink;
    }
    if (status == ROPE_SIMD_OK) {
        if (info_status != ROPE_SIMD_OK || info_dim != rotary_dim || info_count != position_count
            || (position_count > 0 && info_first != first_position)) {
            fprintf(stderr, "created %d %d %d, info %d: %d %d %d\n", rotary_dim, first_position, position_count, info_status, info_dim,
                    info_first, info_count);
            fail("rope_simd_table_info does not give the table's rotary dim, first position and position count");
        }
        the_table.ok = 1;
        the_table.rotary_dim = info_dim;
        the_table.first = info_first;
        the_table.count = info_count;
        if (info_count > 0) {
            if (rows_status != ROPE_SIMD_OK || rows_length != (int64_t)info_count * info_dim) fail("rope_simd_table_rows gives no rows");
            the_table.rows = rows;
            the_table.rows_length = rows_length;
        }
    }

    for (int call = 0; call < 3 && r.at < r.size; call++) {
        uint8_t dtype_byte = (uint8_t)take(&r, 1);
        int sane = dtype_byte % 4 != 0;
        int dtype = sane || (dtype_byte >> 2) % 16 != 15 ? (dtype_byte >> 2) % 3 : (int)take(&r, 4);
        int esize = dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
        int layout = sane ? (int)(take(&r, 1) % 2) : take(&r, 1) % 16 == 15 ? (int)take(&r, 4) : (int)(take(&r, 1) % 2);
        int flags = sane ? (int)(take(&r, 1) % 2) : take(&r, 1) % 16 == 15 ? (int)take(&r, 4) : (int)(take(&r, 1) % 2);
        guarded query_buffer = {0}, key_buffer = {0}, value_buffer = {0}, position_buffer = {0};
        guarded rows_buffer = {0}, sin_buffer = {0}, ex_positions_buffer = {0}, weight_buffers[2] = {{0}, {0}}, cache_buffers[2] = {{0}, {0}};
        guarded table_buffer = {0};
        rope_simd_rows rows_arg = {0};
        rope_simd_batch_positions ex_positions = {0};
        rope_simd_batch_tensor q = {0}, k = {0}, v = {0};
        rope_simd_head_norm norms[2] = {{0}, {0}};
        rope_simd_kv_cache cache = {0};
        rope_simd_tensor queries = {0}, keys = {0};
        rope_simd_positions positions = {NULL, 0};
        int function, key_kind;
        call_ref* c = &the_call;
        memset(c, 0, sizeof *c);

        if (sane) {
            /* A well-formed call: every shape, length and position fits, so the library accepts it (mostly). */
            uint8_t choice = (uint8_t)take(&r, 1);
            function = choice % fn_count;
            int use_table = the_table.ok && (function == fn_rotate || (choice >> 3) % 4 == 0);
            /* An append's cache holds every position up to the call's: a table whose rows start far out would need a
               cache (and the harness's snapshots of it) of gigabytes, so such appends take caller rows instead. */
            if ((function == fn_append || function == fn_norm_append) && the_table.ok && the_table.count > 0 && (int64_t)the_table.first > 4096)
                use_table = 0;
            if (function == fn_rotate && !the_table.ok) function = fn_rotate_ex;
            int64_t lo = 0, hi = 0; /* positions [lo, hi) have rows */
            int rotary;
            int64_t tokens = 1 + (int64_t)(take(&r, 1) % 8), batch = function == fn_rotate ? 1 : (int64_t)(take(&r, 1) % 4);
            int64_t sequences = batch == 0 ? 1 : batch;
            if (use_table) {
                rows_arg.format = ROPE_SIMD_ROWS_TABLE;
                rows_arg.table = table;
                rotary = the_table.rotary_dim;
                if (the_table.count > 0) lo = the_table.first, hi = (int64_t)the_table.first + the_table.count;
                else lo = 0, hi = take(&r, 1) % 8 == 0 ? 2147483647 : 5000;
            } else {
                rows_arg.format = 1 + (int32_t)(take(&r, 1) % 4);
                rows_arg.dtype = (int32_t)(take(&r, 1) % 3);
                rotary = rows_arg.rotary_dim = 2 * (int32_t)(1 + take(&r, 1) % 64);
                int64_t width = rows_arg.format == ROPE_SIMD_ROWS_SEPARATE ? rotary / 2 : rotary;
                int64_t stride = width + (take(&r, 1) % 4 == 0 ? (int64_t)(take(&r, 1) % 5) : 0);
                rows_arg.row_stride = stride == width && take(&r, 1) % 2 ? 0 : stride;
                int64_t row_count = tokens + (int64_t)(take(&r, 1) % 64);
                int64_t values = (row_count - 1) * stride + width;
                rows_buffer = guarded_alloc((size_t)values * (size_t)element_size(rows_arg.dtype));
                sin_buffer = guarded_alloc((size_t)values * (size_t)element_size(rows_arg.dtype));
                fill_rows(rows_buffer.data, rows_arg.dtype, values);
                fill_rows(sin_buffer.data, rows_arg.dtype, values);
                rows_arg.cos = rows_buffer.data;
                rows_arg.sin = sin_buffer.data;
                rows_arg.length = values;
                lo = 0, hi = row_count;
            }
            int64_t head_dim = rotary + (take(&r, 1) % 4 == 0 ? 2 * (int64_t)(take(&r, 1) % 4) : 0);
            int64_t query_heads = 1 + (int64_t)(take(&r, 1) % 4), key_heads = 1 + (int64_t)(take(&r, 1) % 4);
            int is_append = function == fn_append || function == fn_norm_append;
            if (is_append) { /* positions must lie in the cache too */
                int64_t capacity = 1 + (int64_t)(take(&r, 1) % 128);
                if (lo + tokens + 1 > capacity) capacity = lo + tokens + 1 + (int64_t)(take(&r, 1) % 16);
                if (hi > capacity) hi = capacity;
                cache.capacity = capacity;
            }
            if (hi - lo < tokens) tokens = hi - lo;
            /* keys: separate (1), none (0), or the parts of one packed QKV buffer (2) */
            uint8_t key_choice = (uint8_t)take(&r, 1) % 8;
            key_kind = is_append ? (key_choice < 3 ? 2 : 1) : function == fn_rotate ? (key_choice == 0 ? 0 : 1)
                                                                                     : (key_choice == 0 ? 0 : key_choice < 3 ? 2 : 1);
            if (key_kind == 2) {
                int64_t row = (query_heads + 2 * key_heads) * head_dim;
                int64_t elements = sequences * tokens * row;
                query_buffer = guarded_alloc((size_t)elements * (size_t)esize);
                fill_values(query_buffer.data, dtype, elements, 1);
                if (rope_simd_packed_qkv_tensors(query_buffer.data, elements, (rope_simd_dtype)dtype, batch, tokens, query_heads, key_heads,
                                                 head_dim, &q, &k, &v) != ROPE_SIMD_OK)
                    fail("rope_simd_packed_qkv_tensors refused a well-formed buffer");
            } else {
                q = sane_tensor(&r, dtype, batch, tokens, query_heads, head_dim, &query_buffer);
                if (key_kind == 1) k = sane_tensor(&r, dtype, batch, tokens, key_heads, head_dim, &key_buffer);
                if (is_append) {
                    v = sane_tensor(&r, dtype, batch, tokens, key_heads, head_dim, &value_buffer);
                    /* values must have the keys' strides: take the keys' shape over the value buffer */
                    guarded_free(&value_buffer);
                    value_buffer = guarded_alloc((size_t)k.length * (size_t)esize);
                    fill_values(value_buffer.data, dtype, k.length, 1);
                    v = k;
                    v.data = value_buffer.data;
                }
            }
            /* positions */
            uint8_t kind = (uint8_t)(take(&r, 1) % 4);
            ex_positions.kind = kind;
            int64_t span = hi - lo - tokens; /* starts in [lo, lo + span] */
            if (kind == ROPE_SIMD_POSITIONS_SEQUENTIAL) {
                ex_positions.start = lo + (int64_t)below((uint64_t)span + 1);
            } else {
                int64_t values = kind == ROPE_SIMD_POSITIONS_STARTS ? sequences : sequences * tokens;
                int value_size = kind == ROPE_SIMD_POSITIONS_INT64 ? 8 : 4;
                ex_positions_buffer = guarded_alloc((size_t)values * (size_t)value_size);
                for (int64_t i = 0; i < values; i++) {
                    int64_t p = kind == ROPE_SIMD_POSITIONS_STARTS ? lo + (int64_t)below((uint64_t)span + 1) : lo + (int64_t)below((uint64_t)(hi - lo));
                    if (value_size == 4) {
                        int32_t p32 = (int32_t)p;
                        memcpy(ex_positions_buffer.data + 4 * i, &p32, 4);
                    } else {
                        memcpy(ex_positions_buffer.data + 8 * i, &p, 8);
                    }
                }
                ex_positions.values = ex_positions_buffer.data;
                ex_positions.count = values;
            }
            if (function == fn_rotate_norm || function == fn_norm_append) sane_norms(&r, head_dim, norms, weight_buffers);
            if (is_append) {
                cache.layout = (int32_t)(take(&r, 1) % 3);
                cache.dtype = (int32_t)(take(&r, 1) % 3);
                cache.heads = key_heads;
                cache.head_dim = head_dim;
                cache.batch = sequences;
                int64_t cache_values;
                if (cache.layout == ROPE_SIMD_KV_PAGED) {
                    cache.block_size = 1 + (int64_t)(take(&r, 1) % 16);
                    cache.blocks_per_sequence = (cache.capacity + cache.block_size - 1) / cache.block_size;
                    int64_t blocks = sequences * cache.blocks_per_sequence + (int64_t)(take(&r, 1) % 3);
                    int64_t entries = sequences * cache.blocks_per_sequence;
                    table_buffer = guarded_alloc((size_t)entries * sizeof(int32_t));
                    for (int64_t i = 0; i < entries; i++) {
                        int32_t entry = (int32_t)((i + (int64_t)below((uint64_t)blocks)) % blocks);
                        memcpy(table_buffer.data + 4 * i, &entry, 4);
                    }
                    cache.block_table = (const int32_t*)table_buffer.data;
                    cache.block_table_length = entries;
                    cache.batch = 0;
                    cache.capacity = 0;
                    cache_values = blocks * cache.block_size * key_heads * head_dim;
                } else {
                    cache_values = cache.batch * cache.capacity * key_heads * head_dim;
                }
                cache_buffers[0] = guarded_alloc((size_t)cache_values * (size_t)element_size(cache.dtype));
                cache_buffers[1] = guarded_alloc((size_t)cache_values * (size_t)element_size(cache.dtype));
                fill_values(cache_buffers[0].data, cache.dtype, cache_values, 1);
                fill_values(cache_buffers[1].data, cache.dtype, cache_values, 1);
                cache.keys = cache_buffers[0].data;
                cache.values = cache_buffers[1].data;
                cache.length = cache_values;
            }
            if (function == fn_rotate) {
                queries = (rope_simd_tensor){q.data, q.length, q.tokens, q.heads, q.head_dim, q.token_stride, q.head_stride};
                keys = (rope_simd_tensor){k.data, k.length, k.tokens, k.heads, k.head_dim, k.token_stride, k.head_stride};
                if (ex_positions.kind != ROPE_SIMD_POSITIONS_SEQUENTIAL && take(&r, 1) % 2) {
                    /* int32 positions, one per token */
                    guarded_free(&ex_positions_buffer);
                    position_buffer = guarded_alloc((size_t)tokens * sizeof(int32_t));
                    for (int64_t i = 0; i < tokens; i++) {
                        int32_t p = (int32_t)(lo + (int64_t)below((uint64_t)(hi - lo)));
                        memcpy(position_buffer.data + 4 * i, &p, 4);
                    }
                    positions.values = (const int32_t*)position_buffer.data;
                    ex_positions.kind = ROPE_SIMD_POSITIONS_INT32;
                    ex_positions.values = position_buffer.data;
                    ex_positions.count = tokens;
                } else {
                    positions.start = lo + (int64_t)below((uint64_t)span + 1);
                    ex_positions = (rope_simd_batch_positions){ROPE_SIMD_POSITIONS_SEQUENTIAL, positions.start, NULL, 0};
                }
            }
        } else {
            /* Every field from the input. */
            queries = fuzzed_tensor(&r, esize, &query_buffer);
            key_kind = (uint8_t)take(&r, 1) % 4;
            if (key_kind == 1) keys = fuzzed_tensor(&r, esize, &key_buffer);
            if (key_kind == 2) { /* keys inside the query buffer: packed QKV slices, or an overlap to reject */
                keys = queries;
                int64_t shift = queries.length > 0 ? (int64_t)(take(&r, 2) % (uint64_t)(queries.length + 1)) : 0;
                keys.data = queries.data ? (uint8_t*)queries.data + shift * esize : NULL;
                keys.length = queries.length - shift;
                keys.heads = count(&r, 9);
            }
            if (take(&r, 1) % 2) {
                int64_t tokens = queries.tokens >= 0 && queries.tokens <= 64 ? queries.tokens : 0;
                position_buffer = guarded_alloc((size_t)tokens * sizeof(int32_t));
                for (int64_t i = 0; i < tokens; i++) {
                    int32_t p = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 2) % 4100);
                    memcpy(position_buffer.data + 4 * i, &p, 4);
                }
                positions.values = (const int32_t*)position_buffer.data;
                /* More tokens than positions would be a caller's lie; keep the token count the array's. */
                if (queries.tokens != tokens) queries.tokens = tokens;
            } else {
                positions.start = take(&r, 1) % 8 == 0 ? (int64_t)take(&r, 8) : (int64_t)(take(&r, 2) % 4100);
            }
            function = fn_rotate;
            if (take(&r, 1) % 2) {
                /* Half the calls go through rope_simd_rotate_ex and the others: fuzzed caller rows (or the table), a
                   batch, and positions of every kind, each buffer exactly as long as the call says it is. */
                uint8_t format = (uint8_t)take(&r, 1) % 6;
                rows_arg.format = format == 5 ? (int32_t)take(&r, 4) : format;
                rows_arg.dtype = take(&r, 1) % 16 == 15 ? (int32_t)take(&r, 4) : (dtype_byte >> 2) % 3;
                int row_element = rows_arg.dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
                rows_arg.table = table;
                size_t row_values = (size_t)(take(&r, 2) % 8192);
                rows_buffer = guarded_alloc(row_values * (size_t)row_element);
                sin_buffer = guarded_alloc(row_values * (size_t)row_element);
                for (size_t i = 0; i < rows_buffer.bytes; i++) rows_buffer.data[i] = (uint8_t)take(&r, 1);
                for (size_t i = 0; i < sin_buffer.bytes; i++) sin_buffer.data[i] = rows_buffer.data[i] ^ 0x5A;
                rows_arg.cos = row_values == 0 && take(&r, 1) % 2 ? NULL : rows_buffer.data;
                rows_arg.sin = take(&r, 1) % 8 == 0 ? NULL : sin_buffer.data;
                rows_arg.length = take(&r, 1) % 8 == 0 ? -(int64_t)take(&r, 1) : (int64_t)row_values;
                rows_arg.rotary_dim = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 130);
                rows_arg.row_stride = take(&r, 1) % 2 ? 0 : count(&r, 300);

                q = (rope_simd_batch_tensor){queries.data, NULL, queries.length, count(&r, 4), queries.tokens, queries.heads, queries.head_dim,
                                             take(&r, 1) % 2 ? 0 : count(&r, 4000), queries.token_stride, queries.head_stride};
                k = (rope_simd_batch_tensor){keys.data, NULL, keys.length, q.batch, keys.tokens, keys.heads, keys.head_dim,
                                             q.batch_stride, keys.token_stride, keys.head_stride};
                if (take(&r, 1) % 4 == 0) q.source = q.data; /* in place, said explicitly */

                uint8_t kind = (uint8_t)take(&r, 1) % 5;
                ex_positions.kind = kind == 4 ? (int32_t)take(&r, 4) : kind;
                ex_positions.start = take(&r, 1) % 8 == 0 ? (int64_t)take(&r, 8) : (int64_t)(take(&r, 2) % 4100);
                int64_t ex_count = (int64_t)(take(&r, 1) % 129);
                int value_size = ex_positions.kind == ROPE_SIMD_POSITIONS_INT64 ? 8 : 4;
                ex_positions_buffer = guarded_alloc((size_t)ex_count * (size_t)value_size);
                for (int64_t i = 0; i < ex_count; i++) {
                    int64_t p = take(&r, 1) % 8 == 0 ? (int64_t)take(&r, 8) : (int64_t)(take(&r, 2) % 4100);
                    memcpy(ex_positions_buffer.data + value_size * i, &p, (size_t)value_size);
                }
                ex_positions.values = ex_count == 0 && take(&r, 1) % 2 ? NULL : ex_positions_buffer.data;
                ex_positions.count = take(&r, 1) % 8 == 0 ? -(int64_t)take(&r, 1) : ex_count;
                uint8_t which = (uint8_t)(take(&r, 1) % 4);
                if (which == 0) {
                    /* A quarter go through the appends: a fuzzed cache (layout, dtype, counts), its spans and its block
                       table exactly as long as they say, entries fuzzed; the keys are read as keys and as values. */
                    cache.layout = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 3);
                    cache.dtype = take(&r, 1) % 16 == 15 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 3);
                    int cache_element = cache.dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
                    size_t cache_values = (size_t)(take(&r, 2) % 20000);
                    cache_buffers[0] = guarded_alloc(cache_values * (size_t)cache_element);
                    cache_buffers[1] = guarded_alloc(cache_values * (size_t)cache_element);
                    cache.keys = take(&r, 1) % 16 == 0 ? NULL : cache_buffers[0].data;
                    cache.values = take(&r, 1) % 16 == 0 ? NULL : cache_buffers[1].data;
                    cache.length = take(&r, 1) % 8 == 0 ? -(int64_t)take(&r, 1) : (int64_t)cache_values;
                    cache.batch = count(&r, 4);
                    cache.capacity = take(&r, 1) % 8 == 0 ? (int64_t)take(&r, 8) : count(&r, 300);
                    cache.heads = take(&r, 1) % 4 == 0 ? count(&r, 8) : keys.heads;
                    cache.head_dim = take(&r, 1) % 4 == 0 ? count(&r, 200) : keys.head_dim;
                    cache.block_size = take(&r, 1) % 8 == 0 ? (int64_t)take(&r, 8) : count(&r, 32);
                    size_t entries = (size_t)(take(&r, 1) % 64);
                    table_buffer = guarded_alloc(entries * sizeof(int32_t));
                    for (size_t i = 0; i < entries; i++) {
                        int32_t entry = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 40);
                        memcpy(table_buffer.data + 4 * i, &entry, 4);
                    }
                    cache.block_table = entries == 0 && take(&r, 1) % 2 ? NULL : (const int32_t*)table_buffer.data;
                    cache.block_table_length = take(&r, 1) % 8 == 0 ? -(int64_t)take(&r, 1) : (int64_t)entries;
                    cache.blocks_per_sequence = count(&r, 16);
                    v = k;
                    if (take(&r, 1) % 2) {
                        function = fn_norm_append;
                        fuzzed_norms(&r, norms, weight_buffers);
                    } else {
                        function = fn_append;
                    }
                } else if (which == 1) {
                    function = fn_rotate_norm;
                    fuzzed_norms(&r, norms, weight_buffers);
                } else {
                    function = fn_rotate_ex;
                }
            } else {
                q = (rope_simd_batch_tensor){queries.data, NULL, queries.length, 1, queries.tokens, queries.heads, queries.head_dim,
                                             0, queries.token_stride, queries.head_stride};
                k = (rope_simd_batch_tensor){keys.data, NULL, keys.length, 1, keys.tokens, keys.heads, keys.head_dim,
                                             0, keys.token_stride, keys.head_stride};
                if (positions.values) {
                    ex_positions = (rope_simd_batch_positions){ROPE_SIMD_POSITIONS_INT32, 0, positions.values, queries.tokens};
                } else {
                    ex_positions = (rope_simd_batch_positions){ROPE_SIMD_POSITIONS_SEQUENTIAL, positions.start, NULL, 0};
                }
            }
        }

        /* Snapshots of everything the call may write. */
        void *query_before, *key_before = NULL, *value_before = NULL, *cache_before[2] = {NULL, NULL};
        snapshot(&query_before, &query_buffer);
        if (key_buffer.mapping) snapshot(&key_before, &key_buffer);
        if (value_buffer.mapping) snapshot(&value_before, &value_buffer);
        for (int n = 0; n < 2; n++)
            if (cache_buffers[n].mapping) snapshot(&cache_before[n], &cache_buffers[n]);

        int no_keys = key_kind == 0 || key_kind == 3;
        const rope_simd_head_norm* qnorm = NULL;
        const rope_simd_head_norm* knorm = NULL;
        const rope_simd_rows* rows_passed = &rows_arg;
        const rope_simd_kv_cache* cache_passed = &cache;
        if (function == fn_rotate_norm || function == fn_norm_append) {
            qnorm = !sane && take(&r, 1) % 8 == 0 ? NULL : &norms[0];
            knorm = !sane && take(&r, 1) % 8 == 0 ? NULL : &norms[1];
        }
        if (!sane && function != fn_rotate && take(&r, 1) % 32 == 0) rows_passed = NULL;
        if (!sane && (function == fn_append || function == fn_norm_append) && take(&r, 1) % 32 == 0) cache_passed = NULL;
        stats_calls[function]++;
        switch (function) {
            case fn_rotate:
                status = rope_simd_rotate(table, dtype, layout, flags, positions, &queries, no_keys ? NULL : &keys);
                break;
            case fn_rotate_ex:
                status = rope_simd_rotate_ex(rows_passed, dtype, layout, flags, &ex_positions, &q, no_keys ? NULL : &k);
                break;
            case fn_rotate_norm:
                status = rope_simd_rotate_norm(rows_passed, dtype, layout, &ex_positions, &q, qnorm, no_keys ? NULL : &k, knorm);
                break;
            case fn_append:
                status = rope_simd_rotate_append(rows_passed, dtype, layout, &ex_positions, &q, &k, &v, cache_passed);
                break;
            default:
                status = rope_simd_rotate_norm_append(rows_passed, dtype, layout, &ex_positions, &q, qnorm, &k, knorm, &v, cache_passed);
                break;
        }
        if (status != ROPE_SIMD_OK) {
            const char* message = rope_simd_last_error();
            if (message == NULL || message[0] == '\0') abort();
            if (memcmp(query_before, query_buffer.data, query_buffer.bytes) != 0) {
                fprintf(stderr, "a rejected call (%s) wrote to the queries\n", message);
                abort();
            }
            if (key_before && memcmp(key_before, key_buffer.data, key_buffer.bytes) != 0) {
                fprintf(stderr, "a rejected call (%s) wrote to the keys\n", message);
                abort();
            }
            for (int n = 0; n < 2; n++)
                if (cache_before[n] && memcmp(cache_before[n], cache_buffers[n].data, cache_buffers[n].bytes) != 0) {
                    fprintf(stderr, "a rejected call (%s) wrote to the cache\n", message);
                    abort();
                }
            if (sane && getenv("ROPE_SIMD_FUZZ_VERBOSE")) fprintf(stderr, "well-formed call rejected: %s\n", message);
        } else {
            /* Accepted: compare every element of every buffer the call may write with the reference. */
            stats_accepted[function]++;
            c->function = function;
            c->dtype = dtype;
            c->layout = layout;
            c->inverse = (function == fn_rotate || function == fn_rotate_ex) && (flags & ROPE_SIMD_INVERSE);
            c->key_kind = key_kind;
            c->rows = function == fn_rotate ? NULL : &rows_arg;
            c->positions = &ex_positions;
            c->q = q;
            c->k = k;
            c->v = v;
            c->has_keys = !no_keys || function == fn_append || function == fn_norm_append;
            c->qnorm = qnorm;
            c->knorm = knorm;
            c->cache = function == fn_append || function == fn_norm_append ? &cache : NULL;
            c->sane = sane;
            if (function != fn_rotate && rows_arg.format != ROPE_SIMD_ROWS_TABLE && rows_arg.dtype != ROPE_SIMD_FLOAT32 &&
                dtype != ROPE_SIMD_FLOAT32 && layout == ROPE_SIMD_HALF_SPLIT)
                stats_caller16_half++;
            if (c->cache && dtype == ROPE_SIMD_FLOAT32 && function == fn_norm_append && qnorm && qnorm->kind != 0 && (!knorm || knorm->kind == 0))
                stats_append_f32_qnorm++;
            int is_append = c->cache != NULL;
            if (!(c->rows == NULL || c->rows->format == ROPE_SIMD_ROWS_TABLE) || the_table.ok) {
                expected_buffer xq = expected_new("queries", query_before, query_buffer.data, query_buffer.bytes, dtype);
                expected_buffer xk = {0}, xv = {0}, xck = {0}, xcv = {0};
                int64_t key_offset = key_kind == 2 && k.data ? ((const uint8_t*)k.data - query_buffer.data) / esize : 0;
                int64_t value_offset = 0;
                tensor_reference(c, &xq, 0, &q, function == fn_rotate_norm || function == fn_norm_append ? qnorm : NULL);
                if (key_kind == 1) xk = expected_new("keys", key_before, key_buffer.data, key_buffer.bytes, dtype);
                if (!no_keys && !is_append) {
                    if (key_kind == 1) tensor_reference(c, &xk, 0, &k, function == fn_rotate_norm ? knorm : NULL);
                    else tensor_reference(c, &xq, key_offset, &k, function == fn_rotate_norm ? knorm : NULL);
                }
                if (is_append) {
                    const uint8_t* key_source = key_kind == 1 ? key_before : query_before;
                    const uint8_t* value_source = key_kind == 1 ? key_source : query_before;
                    if (value_buffer.mapping) {
                        xv = expected_new("values", value_before, value_buffer.data, value_buffer.bytes, dtype);
                        value_source = value_before;
                    } else if (key_kind == 2 || key_kind == 0 || key_kind == 3) {
                        value_offset = v.data ? ((const uint8_t*)v.data - query_buffer.data) / esize : 0;
                    } else {
                        value_offset = 0; /* values are the keys */
                    }
                    if (key_kind != 1) value_source = query_before;
                    xck = expected_new("key cache", cache_before[0], cache_buffers[0].data, cache_buffers[0].bytes, cache.dtype);
                    xcv = expected_new("value cache", cache_before[1], cache_buffers[1].data, cache_buffers[1].bytes, cache.dtype);
                    cache_reference(c, &xck, &xcv, key_source, key_kind == 1 ? 0 : key_offset, value_source, value_offset);
                }
                expected_check(&xq);
                if (xk.e) expected_check(&xk);
                if (xv.e) expected_check(&xv);
                if (xck.e) expected_check(&xck);
                if (xcv.e) expected_check(&xcv);
                stats_compared[function]++;
                stats_format[c->rows ? c->rows->format : 0]++;
                stats_dtype[dtype]++;
                stats_layout[layout]++;
                if (function == fn_rotate_norm || function == fn_norm_append) stats_norm[qnorm ? qnorm->kind : 0]++;
                if (c->cache) stats_cache_layout[cache.layout]++, stats_cache_dtype[cache.dtype]++;
            }
        }
        free(query_before);
        free(key_before);
        free(value_before);
        for (int n = 0; n < 2; n++) free(cache_before[n]);
        guarded_free(&query_buffer);
        guarded_free(&key_buffer);
        guarded_free(&value_buffer);
        guarded_free(&position_buffer);
        guarded_free(&rows_buffer);
        guarded_free(&sin_buffer);
        guarded_free(&ex_positions_buffer);
        for (int n = 0; n < 2; n++) {
            guarded_free(&weight_buffers[n]);
            guarded_free(&cache_buffers[n]);
        }
        guarded_free(&table_buffer);
    }

    if ((stats_inputs & (stats_inputs - 1)) == 0 || stats_inputs % 100000 == 0) print_stats();

    rope_simd_table_free(table);
    if (table_kind % 16 == 7 && rope_simd_table_free(table) == ROPE_SIMD_OK) abort(); /* a double free is reported */
    return 0;
}
