/*
 * What a native caller pays per call of the C ABI, measured in one process:
 *   - an empty call (rope_simd_abi_version): the loader's forwarding and the runtime's entry and exit;
 *   - a minimal rotation (1 token, 1 head of 2): the above plus handle lookup and validation;
 *   - LLaMA-3-8B decode, queries and keys in one call (1 token, 32 + 8 heads of 128, float32 and bfloat16), with
 *     rows from the table and computed per call, and the same call for 2 tokens: 2*T(1) - T(2) is the fixed cost of
 *     a call (boundary, validation, dispatch), the rest is work that grows with the tokens;
 *   - float32 prefill 512 x 32 x 128 against an in-place read-modify-write loop over the same bytes (the limit).
 * Medians of 15 rounds. Run by bench/native/run.sh; ROPE_SIMD_LEVEL picks the engine build as for any caller.
 */
#define _GNU_SOURCE
#include "rope_simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 15

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int by_value(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static double median(double* samples) {
    qsort(samples, ROUNDS, sizeof *samples, by_value);
    return samples[ROUNDS / 2];
}

static int checked(int status) {
    if (status != ROPE_SIMD_OK) {
        fprintf(stderr, "rope_simd call failed (%d): %s\n", status, rope_simd_last_error());
        exit(1);
    }
    return status;
}

/* x = x*a + b over the buffer: reads and writes every element once, as rotation in place does. */
__attribute__((noinline)) static void read_modify_write(float* restrict values, size_t count) {
    for (size_t i = 0; i < count; i++) values[i] = values[i] * 0.999f + 1e-3f;
}

static volatile int32_t sink;

int main(void) {
    const char* path = rope_simd_path();
    if (path == NULL) {
        fprintf(stderr, "no engine: %s\n", rope_simd_last_error());
        return 1;
    }

    rope_simd_table table;
    checked(rope_simd_table_create(128, 500000, 0, 8192, &table));
    rope_simd_table computed;
    checked(rope_simd_table_create(128, 500000, 0, 0, &computed));
    rope_simd_table tiny;
    checked(rope_simd_table_create(2, 10000, 0, 1024, &tiny));

    size_t prefill_count = 512 * 32 * 128;
    float* queries = aligned_alloc(64, prefill_count * sizeof(float));
    float* keys = aligned_alloc(64, 512 * 8 * 128 * sizeof(float));
    uint16_t* queries_bf16 = aligned_alloc(64, 32 * 128 * sizeof(uint16_t));
    uint16_t* keys_bf16 = aligned_alloc(64, 8 * 128 * sizeof(uint16_t));
    for (size_t i = 0; i < prefill_count; i++) queries[i] = (float)(i % 97) * 0.01f;
    for (size_t i = 0; i < 512 * 8 * 128; i++) keys[i] = (float)(i % 89) * 0.01f;
    for (size_t i = 0; i < 32 * 128; i++) queries_bf16[i] = 0x3F80 + (uint16_t)(i % 64);
    for (size_t i = 0; i < 8 * 128; i++) keys_bf16[i] = 0x3F80 + (uint16_t)(i % 32);

    rope_simd_tensor decode_queries = {queries, 32 * 128, 1, 32, 128, 0, 0};
    rope_simd_tensor decode_keys = {keys, 8 * 128, 1, 8, 128, 0, 0};
    rope_simd_tensor decode_queries_bf16 = {queries_bf16, 32 * 128, 1, 32, 128, 0, 0};
    rope_simd_tensor decode_keys_bf16 = {keys_bf16, 8 * 128, 1, 8, 128, 0, 0};
    rope_simd_tensor two_queries = {queries, 2 * 32 * 128, 2, 32, 128, 0, 0};
    rope_simd_tensor two_keys = {keys, 2 * 8 * 128, 2, 8, 128, 0, 0};
    rope_simd_tensor minimal = {queries, 2, 1, 1, 2, 0, 0};
    rope_simd_tensor prefill = {queries, (int64_t)prefill_count, 512, 32, 128, 0, 0};
    rope_simd_positions at_511 = {NULL, 511}, from_0 = {NULL, 0};

    double empty[ROUNDS], smallest[ROUNDS], decode[ROUNDS], decode_two[ROUNDS], decode_computed[ROUNDS], decode_bf16[ROUNDS];
    double rotate_prefill[ROUNDS], limit[ROUNDS];
    const int calls = 200000, prefill_calls = 20;
    for (int round = 0; round < ROUNDS; round++) {
        double start = now_ns();
        for (int i = 0; i < calls; i++) sink = rope_simd_abi_version();
        empty[round] = (now_ns() - start) / calls;

        start = now_ns();
        for (int i = 0; i < calls; i++) checked(rope_simd_rotate(tiny, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, at_511, &minimal, NULL));
        smallest[round] = (now_ns() - start) / calls;

        start = now_ns();
        for (int i = 0; i < calls / 4; i++)
            checked(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, at_511, &decode_queries, &decode_keys));
        decode[round] = (now_ns() - start) / (calls / 4);

        start = now_ns();
        for (int i = 0; i < calls / 4; i++)
            checked(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, at_511, &two_queries, &two_keys));
        decode_two[round] = (now_ns() - start) / (calls / 4);

        start = now_ns();
        for (int i = 0; i < calls / 4; i++)
            checked(rope_simd_rotate(computed, ROPE_SIMD_FLOAT32, ROPE_SIMD_HALF_SPLIT, 0, at_511, &decode_queries, &decode_keys));
        decode_computed[round] = (now_ns() - start) / (calls / 4);

        start = now_ns();
        for (int i = 0; i < calls / 4; i++)
            checked(rope_simd_rotate(table, ROPE_SIMD_BFLOAT16, ROPE_SIMD_HALF_SPLIT, 0, at_511, &decode_queries_bf16, &decode_keys_bf16));
        decode_bf16[round] = (now_ns() - start) / (calls / 4);

        start = now_ns();
        for (int i = 0; i < prefill_calls; i++) checked(rope_simd_rotate(table, ROPE_SIMD_FLOAT32, ROPE_SIMD_INTERLEAVED, 0, from_0, &prefill, NULL));
        rotate_prefill[round] = (now_ns() - start) / prefill_calls / prefill_count;

        start = now_ns();
        for (int i = 0; i < prefill_calls; i++) read_modify_write(queries, prefill_count);
        limit[round] = (now_ns() - start) / prefill_calls / prefill_count;
    }

    double rotate_ns = median(rotate_prefill), limit_ns = median(limit);
    printf("Rope.Simd C ABI, engine path %s (medians of %d rounds)\n", path, ROUNDS);
    printf("| call | ns |\n|---|---:|\n");
    printf("| empty call (rope_simd_abi_version) | %.1f |\n", median(empty));
    printf("| minimal rotation (1 token, 1 head of 2) | %.1f |\n", median(smallest));
    double one_token = median(decode), two_tokens = median(decode_two);
    printf("| decode float32, q+k 32+8 heads x 128 | %.1f |\n", one_token);
    printf("| the same, 2 tokens | %.1f |\n", two_tokens);
    printf("| fixed cost of a decode call, 2*T(1) - T(2) | %.1f |\n", 2 * one_token - two_tokens);
    printf("| decode float32, rows computed per call | %.1f |\n", median(decode_computed));
    printf("| decode bfloat16, q+k 32+8 heads x 128 | %.1f |\n", median(decode_bf16));
    printf("prefill float32 512x32x128 interleaved: %.3f ns/element, limit loop %.3f ns/element: %.0f%% of the limit\n",
           rotate_ns, limit_ns, 100 * limit_ns / rotate_ns);
    checked(rope_simd_table_free(table));
    checked(rope_simd_table_free(tiny));
    checked(rope_simd_table_free(computed));
    free(queries), free(keys), free(queries_bf16), free(keys_bf16);
    return 0;
}
