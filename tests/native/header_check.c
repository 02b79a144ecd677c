/*
 * rope_simd.h compiled as C99 and as C++17 (tests/native/run.sh builds it with -Wall -Wextra -Werror, and as C++ with
 * -fsanitize=undefined): rope_simd_packed_qkv_tensors with ordinary and with hostile sizes, run without the library
 * (the helper is inline in the header). Prints "header check: ok" and exits 0, or names the first failed check.
 */
#include "rope_simd.h"

#include <stdio.h>

static int failures;

#define EXPECT(condition)                                                      \
    do {                                                                       \
        if (!(condition)) {                                                    \
            printf("header check failed at line %d: %s\n", __LINE__, #condition); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

int main(void) {
    enum { TOKENS = 3, QH = 4, KVH = 2, HEAD = 8, ROW = (QH + 2 * KVH) * HEAD };
    static uint16_t halves[2 * TOKENS * ROW];
    rope_simd_batch_tensor q, k, v;

    /* Ordinary sizes: the three parts start where their heads are, in elements of the dtype. */
    EXPECT(rope_simd_packed_qkv_tensors(halves, 2 * TOKENS * ROW, ROPE_SIMD_BFLOAT16, 2, TOKENS, QH, KVH, HEAD, &q, &k, &v) == ROPE_SIMD_OK);
    EXPECT(q.data == (void*)halves && k.data == (void*)(halves + QH * HEAD) && v.data == (void*)(halves + (QH + KVH) * HEAD));
    EXPECT(q.length == 2 * TOKENS * ROW && k.length == 2 * TOKENS * ROW - QH * HEAD && v.length == 2 * TOKENS * ROW - (QH + KVH) * HEAD);
    EXPECT(q.token_stride == ROW && k.batch_stride == TOKENS * ROW && v.heads == KVH && q.heads == QH && k.source == NULL);

    /* A buffer shorter than its rows, an unknown dtype, negative counts, NULL outputs. */
    EXPECT(rope_simd_packed_qkv_tensors(halves, 2 * TOKENS * ROW - 1, ROPE_SIMD_FLOAT16, 2, TOKENS, QH, KVH, HEAD, &q, &k, &v)
           == ROPE_SIMD_ERROR_OUT_OF_RANGE);
    EXPECT(q.data == NULL && q.length == 0 && k.tokens == 0 && v.heads == 0);
    EXPECT(rope_simd_packed_qkv_tensors(halves, TOKENS * ROW, (rope_simd_dtype)7, 1, TOKENS, QH, KVH, HEAD, &q, &k, &v)
           == ROPE_SIMD_ERROR_INVALID_ARGUMENT);
    EXPECT(rope_simd_packed_qkv_tensors(halves, TOKENS * ROW, ROPE_SIMD_FLOAT16, 1, -1, QH, KVH, HEAD, &q, &k, &v) == ROPE_SIMD_ERROR_OUT_OF_RANGE);
    EXPECT(rope_simd_packed_qkv_tensors(halves, TOKENS * ROW, ROPE_SIMD_FLOAT16, 1, TOKENS, QH, KVH, HEAD, NULL, &k, &v)
           == ROPE_SIMD_ERROR_NULL_POINTER);
    EXPECT(rope_simd_packed_qkv_tensors(NULL, TOKENS * ROW, ROPE_SIMD_FLOAT16, 1, TOKENS, QH, KVH, HEAD, &q, &k, &v) == ROPE_SIMD_ERROR_NULL_POINTER);

    /* Sizes whose products overflow int64: refused, with no signed overflow on the way (-fsanitize=undefined). */
    {
        const int64_t huge = INT64_MAX / 2 + 1;
        int64_t cases[][5] = {
            /* batch, tokens, query_heads, kv_heads, head_dim */
            {1, 1, huge, huge, 1},
            {1, 1, 1, huge, 2},
            {1, 1, (int64_t)1 << 32, 1, (int64_t)1 << 32},
            {1, (int64_t)1 << 40, 4, 2, (int64_t)1 << 30},
            {(int64_t)1 << 40, (int64_t)1 << 20, 4, 2, 128},
            {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
        };
        size_t c;
        for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int status = rope_simd_packed_qkv_tensors(halves, INT64_MAX, ROPE_SIMD_FLOAT32, cases[c][0], cases[c][1], cases[c][2], cases[c][3],
                                                      cases[c][4], &q, &k, &v);
            if (status != ROPE_SIMD_ERROR_OUT_OF_RANGE) {
                printf("header check failed: overflow case %d gave status %d\n", (int)c, status);
                failures++;
            }
        }
    }

    printf(failures == 0 ? "header check: ok\n" : "header check: %d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
