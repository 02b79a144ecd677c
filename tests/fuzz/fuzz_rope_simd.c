/*
 * libFuzzer harness for the C ABI (rope_simd.h), built with clang -fsanitize=fuzzer,address by tests/fuzz/run.sh.
 *
 * Each input is a little program: a header picks a table (stored rows or computed ones, built from a base or from
 * explicit frequencies, possibly hostile), then the rest drives rope_simd_rotate, rope_simd_rotate_ex, rope_simd_rotate_norm,
 * rope_simd_rotate_append and rope_simd_rotate_norm_append (caller rows,
 * batches, positions of every kind) with fuzzed dtypes, layouts, flags,
 * counts, strides, lengths and positions, and also table_info, table_rows and forged or freed handles.
 * AddressSanitizer cannot see into the NativeAOT code, so every buffer the library may touch is placed flush against
 * a PROT_NONE guard page (reads or writes past its end fault at once), starts after canary bytes that must survive,
 * and is compared with a snapshot when a call is rejected: a rejected call must write nothing.
 * The lengths passed are always the true lengths of the buffers: whatever the library accepts, it must stay inside.
 */
#define _GNU_SOURCE
#include "rope_simd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { canary_bytes = 64, max_buffer_bytes = 1 << 20 };

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
    guarded_check_canaries(g);
    munmap(g->mapping, g->mapping_bytes);
}

/* A tensor view over a guarded buffer of a fuzzed size; the length passed is the buffer's true length. */
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

static rope_simd_tensor fuzzed_tensor(reader* r, int element_size, guarded* buffer) {
    rope_simd_tensor t;
    t.tokens = count(r, 64);
    t.heads = count(r, 9);
    t.head_dim = count(r, 300);
    t.token_stride = take(r, 1) % 3 == 0 ? 0 : count(r, 2000);
    t.head_stride = take(r, 1) % 3 == 0 ? 0 : count(r, 600);
    size_t elements = (size_t)(take(r, 3) % (max_buffer_bytes / element_size));
    *buffer = guarded_alloc(elements * (size_t)element_size);
    for (size_t i = 0; i < buffer->bytes; i++) buffer->data[i] = (uint8_t)take(r, 1);
    t.data = elements == 0 && take(r, 1) % 2 ? NULL : buffer->data;
    t.length = take(r, 1) % 8 == 0 ? -(int64_t)take(r, 1) : (int64_t)elements;
    if (t.length > (int64_t)elements) abort();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    reader r = {data, size, 0};
    rope_simd_table table = 0;
    uint8_t table_kind = (uint8_t)take(&r, 1);
    int32_t rotary_dim = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 130);
    int32_t first_position = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 1) % 16);
    int32_t position_count = take(&r, 1) % 8 == 0 ? (int32_t)take(&r, 4) : (int32_t)(take(&r, 2) % 4096);
    /* Valid but huge tables are a caller's choice, not hostile input: keep stored rows under 64 MiB per run (for
       explicit frequencies, below, with their own rotary dim). */
    if (rotary_dim > 0 && position_count > 0 && (int64_t)rotary_dim * position_count > (16 << 20)) position_count %= 4096;
    int status;
    if (table_kind % 2 == 0) {
        double base;
        uint64_t bits = take(&r, 8);
        memcpy(&base, &bits, 8);
        if (table_kind % 4 == 0) base = 10000;
        status = rope_simd_table_create(rotary_dim, base, first_position, position_count, &table);
    } else {
        int32_t pairs = (int32_t)(take(&r, 1) % 70);
        if (pairs > 0 && position_count > 0 && (int64_t)2 * pairs * position_count > (16 << 20)) position_count %= 4096;
        guarded frequencies = guarded_alloc((size_t)pairs * sizeof(double));
        for (int32_t i = 0; i < pairs; i++) {
            uint64_t bits = take(&r, 1) % 2 ? take(&r, 8) : 0x3FE0000000000000ull >> (take(&r, 1) % 8);
            memcpy(frequencies.data + 8 * i, &bits, 8);
        }
        double attention;
        uint64_t bits = take(&r, 1) % 2 ? take(&r, 8) : 0x3FF0000000000000ull;
        memcpy(&attention, &bits, 8);
        /* A claimed pair count above the array's is a caller's lie the ABI cannot see; only the true one is passed,
           except 0 and negatives, which must be rejected without a read. */
        int32_t claimed = take(&r, 1) % 8 == 0 ? -(int32_t)take(&r, 1) : pairs;
        status = rope_simd_table_create_from_frequencies(pairs ? (double*)frequencies.data : NULL, claimed, attention,
                                                         first_position, position_count, &table);
        guarded_free(&frequencies);
    }
    if (status != ROPE_SIMD_OK) {
        if (table != 0) abort(); /* a failed create leaves the handle 0 */
        if (rope_simd_last_error() == NULL) abort();
        table = (rope_simd_table)take(&r, 8); /* keep going with a forged handle */
    }

    int32_t info_dim = 0, info_first = 0, info_count = 0;
    rope_simd_table_info(table, &info_dim, &info_first, &info_count);
    const float* rows = NULL;
    int64_t rows_length = 0;
    if (rope_simd_table_rows(table, &rows, &rows_length) == ROPE_SIMD_OK) {
        volatile float sink = 0;
        for (int64_t i = 0; i < rows_length; i += 1 + rows_length / 64) sink += rows[i];
        (void)sink;
    }

    for (int call = 0; call < 3 && r.at < r.size; call++) {
        uint8_t dtype_byte = (uint8_t)take(&r, 1);
        int dtype = dtype_byte % 16 == 15 ? (int)take(&r, 4) : dtype_byte % 3;
        int element_size = dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
        int layout = take(&r, 1) % 16 == 15 ? (int)take(&r, 4) : (int)(take(&r, 1) % 2);
        int flags = take(&r, 1) % 16 == 15 ? (int)take(&r, 4) : (int)(take(&r, 1) % 2);
        guarded query_buffer, key_buffer = {0};
        rope_simd_tensor queries = fuzzed_tensor(&r, element_size, &query_buffer), keys = {0};
        uint8_t key_kind = (uint8_t)take(&r, 1) % 4;
        if (key_kind == 1) keys = fuzzed_tensor(&r, element_size, &key_buffer);
        if (key_kind == 2) { /* keys inside the query buffer: packed QKV slices, or an overlap to reject */
            keys = queries;
            int64_t shift = queries.length > 0 ? (int64_t)(take(&r, 2) % (uint64_t)(queries.length + 1)) : 0;
            keys.data = queries.data ? (uint8_t*)queries.data + shift * element_size : NULL;
            keys.length = queries.length - shift;
            keys.heads = count(&r, 9);
        }

        rope_simd_positions positions = {NULL, 0};
        guarded position_buffer = {0};
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

        void* query_before = malloc(query_buffer.bytes + 1);
        memcpy(query_before, query_buffer.data, query_buffer.bytes);
        void* key_before = key_kind == 1 ? malloc(key_buffer.bytes + 1) : NULL;
        if (key_before) memcpy(key_before, key_buffer.data, key_buffer.bytes);

        /* Half the calls go through rope_simd_rotate_ex: fuzzed caller rows (or the table), a batch, and positions of
           every kind, each buffer exactly as long as the call says it is. */
        guarded rows_buffer = {0}, sin_buffer = {0}, ex_positions_buffer = {0}, weight_buffers[2] = {{0}, {0}}, cache_buffers[2] = {{0}, {0}};
        guarded table_buffer = {0};
        if (take(&r, 1) % 2) {
            int row_element = dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
            rope_simd_rows rows_arg = {0};
            uint8_t format = (uint8_t)take(&r, 1) % 6;
            rows_arg.format = format == 5 ? (int32_t)take(&r, 4) : format;
            rows_arg.dtype = take(&r, 1) % 16 == 15 ? (int32_t)take(&r, 4) : dtype_byte % 3;
            row_element = rows_arg.dtype == ROPE_SIMD_FLOAT32 ? 4 : 2;
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

            rope_simd_batch_tensor q = {queries.data, NULL, queries.length, count(&r, 4), queries.tokens, queries.heads, queries.head_dim,
                                        take(&r, 1) % 2 ? 0 : count(&r, 4000), queries.token_stride, queries.head_stride};
            rope_simd_batch_tensor k = {keys.data, NULL, keys.length, q.batch, keys.tokens, keys.heads, keys.head_dim,
                                        q.batch_stride, keys.token_stride, keys.head_stride};
            if (take(&r, 1) % 4 == 0) q.source = q.data; /* in place, said explicitly */

            rope_simd_batch_positions ex_positions = {0};
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
                /* A quarter go through rope_simd_rotate_append: a fuzzed cache (layout, dtype, counts), its spans and its
                   block table exactly as long as they say, entries fuzzed; the keys are read as keys and as values. */
                rope_simd_kv_cache cache = {0};
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
                if (take(&r, 1) % 2) {
                    /* Half of them with QK norms: rope_simd_rotate_norm_append. */
                    rope_simd_head_norm norms[2];
                    fuzzed_norms(&r, norms, weight_buffers);
                    status = rope_simd_rotate_norm_append(take(&r, 1) % 32 == 0 ? NULL : &rows_arg, dtype, layout, &ex_positions, &q,
                                                          take(&r, 1) % 8 == 0 ? NULL : &norms[0], &k, take(&r, 1) % 8 == 0 ? NULL : &norms[1], &k,
                                                          take(&r, 1) % 32 == 0 ? NULL : &cache);
                } else {
                    status = rope_simd_rotate_append(take(&r, 1) % 32 == 0 ? NULL : &rows_arg, dtype, layout, &ex_positions, &q,
                                                     &k, &k, take(&r, 1) % 32 == 0 ? NULL : &cache);
                }
            } else if (which == 1) {
                /* A quarter go through rope_simd_rotate_norm: fuzzed norms, weights exactly as long as they say. */
                rope_simd_head_norm norms[2];
                fuzzed_norms(&r, norms, weight_buffers);
                status = rope_simd_rotate_norm(take(&r, 1) % 32 == 0 ? NULL : &rows_arg, dtype, layout, &ex_positions, &q,
                                               take(&r, 1) % 8 == 0 ? NULL : &norms[0], key_kind == 0 || key_kind == 3 ? NULL : &k,
                                               take(&r, 1) % 8 == 0 ? NULL : &norms[1]);
            } else {
                status = rope_simd_rotate_ex(take(&r, 1) % 32 == 0 ? NULL : &rows_arg, dtype, layout, flags, &ex_positions, &q,
                                             key_kind == 0 || key_kind == 3 ? NULL : &k);
            }
        } else {
            status = rope_simd_rotate(table, dtype, layout, flags, positions, &queries, key_kind == 0 || key_kind == 3 ? NULL : &keys);
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
        }
        free(query_before);
        free(key_before);
        guarded_free(&query_buffer);
        if (key_kind == 1) guarded_free(&key_buffer);
        if (position_buffer.mapping) guarded_free(&position_buffer);
        if (rows_buffer.mapping) guarded_free(&rows_buffer);
        if (sin_buffer.mapping) guarded_free(&sin_buffer);
        if (ex_positions_buffer.mapping) guarded_free(&ex_positions_buffer);
        for (int n = 0; n < 2; n++) {
            if (weight_buffers[n].mapping) guarded_free(&weight_buffers[n]);
            if (cache_buffers[n].mapping) guarded_free(&cache_buffers[n]);
        }
        if (table_buffer.mapping) guarded_free(&table_buffer);
    }

    rope_simd_table_free(table);
    if (table_kind % 16 == 7 && rope_simd_table_free(table) == ROPE_SIMD_OK) abort(); /* a double free is reported */
    return 0;
}
