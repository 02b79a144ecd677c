/*
 * rope_simd.h - C ABI of Rope.Simd: rotary position embeddings (RoPE) for transformer inference.
 *
 * Link with -lrope_simd (librope_simd.so). That library is a small loader: on first use it reads the CPU's
 * features and loads the matching build of the engine from its own directory (librope_simd_x86_64_v4.so with
 * AVX-512, _v3 with AVX2+FMA, _v2 otherwise; librope_simd_arm64.so on ARM64). Set ROPE_SIMD_LEVEL=v2, v3 or v4
 * to pick an x86-64 build on purpose.
 *
 * Tables: float32 rows [c0, s0, c1, s1, ...] per position p, c_i = A*cos(p*w_i), s_i = A*sin(p*w_i), with
 * w_i = base^(-2i/rotary_dim) (or the frequencies given) and A the attention factor (1 unless given). Every entry is
 * within 1 float32 ulp of the exact value: the same bytes as the complex64 freqs_cis of Meta's LLaMA.
 *
 * Rotation, in place: for each token t at position p, each head and each pair i < rotary_dim/2 with elements
 * (a, b): a' = a*c_i - b*s_i, b' = a*s_i + b*c_i (the inverse uses -s_i). Pairs are (2i, 2i+1) for
 * ROPE_SIMD_INTERLEAVED (GPT-J, Meta LLaMA) and (i, i + rotary_dim/2) for ROPE_SIMD_HALF_SPLIT (GPT-NeoX, Hugging
 * Face LLaMA). Head elements from rotary_dim to head_dim pass through untouched (partial rotary).
 * Accuracy: float32 results are within 2*2^-23*max(|a|,|b|) of the exact rotation; bfloat16 and float16 are
 * rotated in float32 and rounded once to nearest even, with identical bits on every CPU.
 *
 * Errors: every function returns a rope_simd_status; on failure rope_simd_last_error() gives a message naming
 * the argument and what was expected. Nothing is written when a call fails validation. Null pointers, negative or
 * overflowing sizes, unknown handles (freed, stale or forged), bad enums and positions outside the table are
 * reported, never crash; a non-null pointer to memory shorter than its stated length cannot be detected.
 *
 * Threads: every function may be called from any thread; tables are immutable. A table must not be freed while
 * another thread rotates with it.
 */
#ifndef ROPE_SIMD_H
#define ROPE_SIMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ROPE_SIMD_ABI_VERSION 5

typedef enum rope_simd_status {
    ROPE_SIMD_OK = 0,
    ROPE_SIMD_ERROR_NULL_POINTER = 1,     /* a required pointer is NULL */
    ROPE_SIMD_ERROR_INVALID_ARGUMENT = 2, /* shape, stride, length, enum or flag not acceptable */
    ROPE_SIMD_ERROR_OUT_OF_RANGE = 3,     /* a count, size or position outside its range */
    ROPE_SIMD_ERROR_INVALID_HANDLE = 4,   /* table handle never created or already freed */
    ROPE_SIMD_ERROR_OUT_OF_MEMORY = 5,
    ROPE_SIMD_ERROR_UNSUPPORTED = 6,      /* no engine build can run on this CPU, or it failed to load */
    ROPE_SIMD_ERROR_INTERNAL = 7
} rope_simd_status;

typedef enum rope_simd_dtype {
    ROPE_SIMD_FLOAT32 = 0,
    ROPE_SIMD_BFLOAT16 = 1, /* raw bf16 bits in uint16_t */
    ROPE_SIMD_FLOAT16 = 2   /* IEEE binary16 in uint16_t / _Float16 */
} rope_simd_dtype;

typedef enum rope_simd_layout {
    ROPE_SIMD_INTERLEAVED = 0, /* pairs (2i, 2i+1) */
    ROPE_SIMD_HALF_SPLIT = 1   /* pairs (i, i + rotary_dim/2) */
} rope_simd_layout;

/* rope_simd_rotate flags */
#define ROPE_SIMD_INVERSE 1 /* rotate by -angle: undo a rotation, shift cached keys back */

/* Opaque table handle; 0 is never a valid handle. */
typedef uint64_t rope_simd_table;

/* One tensor of heads, all counts in elements. Head (t, h) starts at data + t*token_stride + h*head_stride and
 * holds head_dim elements. A stride of 0 means packed [tokens][heads][head_dim] (token_stride = heads*head_dim,
 * head_stride = head_dim). length is how many elements data holds; the heads must fit in it. */
typedef struct rope_simd_tensor {
    void* data;
    int64_t length;
    int64_t tokens;
    int64_t heads;
    int64_t head_dim;
    int64_t token_stride;
    int64_t head_stride;
} rope_simd_tensor;

/* Token t is at position values[t] when values is not NULL (one per token), else at start + t. */
typedef struct rope_simd_positions {
    const int32_t* values;
    int64_t start;
} rope_simd_positions;

/* Where rope_simd_rotate_ex reads each position's cos and sin (n = rotary_dim / 2 pairs). */
typedef enum rope_simd_rows_format {
    ROPE_SIMD_ROWS_TABLE = 0,        /* the rows of a table handle (stored, or computed per call when it stores none) */
    ROPE_SIMD_ROWS_INTERLEAVED = 1,  /* row p at cos + p*row_stride: [c0, s0, c1, s1, ...] (rotary_dim values) */
    ROPE_SIMD_ROWS_COS_THEN_SIN = 2, /* row p at cos + p*row_stride: [cos_0 .. cos_{n-1} | sin_0 .. sin_{n-1}] (vLLM) */
    ROPE_SIMD_ROWS_SEPARATE = 3,     /* cos[p*row_stride + i] and sin[p*row_stride + i], n values a row (ONNX caches) */
    ROPE_SIMD_ROWS_DUPLICATED = 4    /* as SEPARATE with 2n values a row, the second half not read (Hugging Face) */
} rope_simd_rows_format;

/* The rows of a rotation: a table, or the caller's cos/sin cache read where it lies on every call, its values used as
 * given (cos^2 + sin^2 need not be 1). Positions [0, rows in the cache) have rows; a cache of float16 or bfloat16
 * values is widened exactly. */
typedef struct rope_simd_rows {
    int32_t format;        /* rope_simd_rows_format */
    int32_t dtype;         /* rope_simd_dtype of the cache's values (not read for ROPE_SIMD_ROWS_TABLE) */
    rope_simd_table table; /* ROPE_SIMD_ROWS_TABLE: the table */
    const void* cos;       /* the rows, or the cosines */
    const void* sin;       /* SEPARATE and DUPLICATED: the sines, laid out as the cosines */
    int64_t length;        /* values in cos (and in sin) */
    int32_t rotary_dim;    /* caller rows: rotated elements per head (positive, even, at most 16384) */
    int64_t row_stride;    /* caller rows: values from one row to the next; 0 for the format's row width */
} rope_simd_rows;

/* A batch of tensors of heads, all counts in elements: head (b, t, h) starts at
 * b*batch_stride + t*token_stride + h*head_stride of data (and of source) and holds head_dim elements. Strides of 0
 * mean packed [batch][tokens][heads][head_dim]. Each sequence's heads must fit in one batch stride. source is the
 * input of an out-of-place rotation (NULL: in place, data is read and written); it must be the same memory as data
 * or not overlap any head of it. length is how many elements data (and source) holds. */
typedef struct rope_simd_batch_tensor {
    void* data;
    const void* source;
    int64_t length;
    int64_t batch; /* 0 is taken as 1 */
    int64_t tokens;
    int64_t heads;
    int64_t head_dim;
    int64_t batch_stride;
    int64_t token_stride;
    int64_t head_stride;
} rope_simd_batch_tensor;

/* How rope_simd_rotate_ex gives positions. */
typedef enum rope_simd_positions_kind {
    ROPE_SIMD_POSITIONS_SEQUENTIAL = 0, /* token t of every sequence at start + t */
    ROPE_SIMD_POSITIONS_STARTS = 1,     /* token t of sequence b at values[b] + t (int32, one per sequence) */
    ROPE_SIMD_POSITIONS_INT32 = 2,      /* token t of sequence b at values[b*tokens + t] (int32) */
    ROPE_SIMD_POSITIONS_INT64 = 3       /* the same with int64 position ids (ONNX Runtime, torch) */
} rope_simd_positions_kind;

typedef struct rope_simd_batch_positions {
    int32_t kind;       /* rope_simd_positions_kind */
    int64_t start;      /* SEQUENTIAL */
    const void* values; /* the other kinds */
    int64_t count;      /* elements in values: the batch (STARTS) or batch*tokens (INT32, INT64) */
} rope_simd_batch_positions;

/* What rope_simd_rotate_norm does to each head before rotating it. */
typedef enum rope_simd_norm_kind {
    ROPE_SIMD_NORM_NONE = 0,           /* nothing: the heads are only rotated */
    ROPE_SIMD_NORM_RMS = 1,            /* x / sqrt(mean(x^2) + eps) * w (Llama-style RMSNorm: Qwen3, OLMo 2) */
    ROPE_SIMD_NORM_RMS_ONE_PLUS = 2,   /* x / sqrt(mean(x^2) + eps) * (1 + w) (Gemma) */
    ROPE_SIMD_NORM_RMS_UNWEIGHTED = 3  /* x / sqrt(mean(x^2) + eps) */
} rope_simd_norm_kind;

/* The RMS norm of each head of one tensor, over its whole head_dim (the rotation covers the rotary part). */
typedef struct rope_simd_head_norm {
    int32_t kind;        /* rope_simd_norm_kind */
    float epsilon;       /* finite, not negative (models use 1e-6 or 1e-5) */
    const float* weight; /* RMS and RMS_ONE_PLUS: head_dim float32 weights, read where they lie on every call */
    int64_t length;      /* floats in weight: the tensor's head_dim */
} rope_simd_head_norm;

/* How a rope_simd_kv_cache lays out position p of sequence b, head h. */
typedef enum rope_simd_kv_layout {
    ROPE_SIMD_KV_POSITION_MAJOR = 0, /* [batch][capacity][heads][head_dim] (llama.cpp) */
    ROPE_SIMD_KV_HEAD_MAJOR = 1,     /* [batch][heads][capacity][head_dim] (Hugging Face StaticCache) */
    ROPE_SIMD_KV_PAGED = 2           /* blocks [block][block_size][heads][head_dim]; block_table[b][p / block_size] (vLLM) */
} rope_simd_kv_layout;

/* The attention's key/value cache rope_simd_rotate_append writes into, in its own dtype. */
typedef struct rope_simd_kv_cache {
    int32_t layout;              /* rope_simd_kv_layout */
    int32_t dtype;               /* rope_simd_dtype of the cache's elements */
    void* keys;                  /* the key cache (or key blocks) */
    void* values;                /* the value cache, laid out as the keys */
    int64_t length;              /* elements in keys (and in values) */
    int64_t batch;               /* POSITION_MAJOR and HEAD_MAJOR: sequences */
    int64_t capacity;            /* POSITION_MAJOR and HEAD_MAJOR: positions per sequence */
    int64_t heads;
    int64_t head_dim;
    int64_t block_size;          /* PAGED: positions per block */
    const int32_t* block_table;  /* PAGED: [batch][blocks_per_sequence] block indices, read where they lie */
    int64_t block_table_length;  /* PAGED: entries in block_table (batch = length / blocks_per_sequence) */
    int64_t blocks_per_sequence; /* PAGED */
} rope_simd_kv_cache;

/* ROPE_SIMD_ABI_VERSION of the loaded engine. */
int32_t rope_simd_abi_version(void);

/* The instruction-set path of the loaded engine ("Vector512", "Vector256", "Vector128" or "Scalar"), or NULL
 * when no engine could be loaded (see rope_simd_last_error). */
const char* rope_simd_path(void);

/* Message of the last failed call on this thread ("" if none); valid until this thread's next failure. */
const char* rope_simd_last_error(void);

/* Creates a table with w_i = base^(-2i/rotary_dim) (rotary_dim positive, even and at most 16384, base finite and above 1,
 * e.g. 10000, or 500000 for LLaMA 3) for positions [first_position, first_position + position_count).
 * position_count 0 creates a table without stored rows: each rotation computes its tokens' rows (the same bits)
 * for any position in [0, 2^31). *out_table is 0 on failure. */
int rope_simd_table_create(int32_t rotary_dim, double base, int32_t first_position, int32_t position_count,
                           rope_simd_table* out_table);

/* Like rope_simd_table_create with pair_count explicit inverse frequencies w_i (radians per position, each in
 * [0, 1024]; 1 to 8192 of them, rotary_dim = 2*pair_count) and an attention factor A (in [2^-16, 2^16]; 1 for none).
 * The array is copied once before it is checked. */
int rope_simd_table_create_from_frequencies(const double* inverse_frequencies, int32_t pair_count, double attention_factor,
                                            int32_t first_position, int32_t position_count, rope_simd_table* out_table);

/* Frees a table; the handle is invalid afterwards. */
int rope_simd_table_free(rope_simd_table table);

/* Rotary dim, first position and position count (0 for computed rows); any out pointer may be NULL. */
int rope_simd_table_info(rope_simd_table table, int32_t* rotary_dim, int32_t* first_position, int32_t* position_count);

/* The stored rows (position_count * rotary_dim floats), valid until the table is freed. */
int rope_simd_table_rows(rope_simd_table table, const float** out_rows, int64_t* out_length);

/* Rotates queries, and keys when not NULL (grouped-query attention: any head counts, the same token count), in
 * place, in one pass: each token's row is read (or computed) once for every head of both. head_dim must be at least
 * the table's rotary_dim; queries and keys must not share elements. dtype applies to both. */
int rope_simd_rotate(rope_simd_table table, rope_simd_dtype dtype, rope_simd_layout layout, int32_t flags,
                     rope_simd_positions positions, const rope_simd_tensor* queries, const rope_simd_tensor* keys);

/* rope_simd_rotate with everything a runtime brings: the rows of a table or its own cos/sin cache, a batch of
 * sequences with their strides, positions as a start, per-sequence starts, or int32 / int64 ids, and out-of-place
 * output (a tensor's source). Queries and keys (keys may be NULL) must have the same batch and tokens. Every struct is
 * copied once and every field checked before anything is written; positions are checked again where they are used. */
int rope_simd_rotate_ex(const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout, int32_t flags,
                        const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,
                        const rope_simd_batch_tensor* keys);

/* QK norm and rotation in place in one pass (Qwen3, Gemma 3, OLMo 2): every head of the queries, and of the keys when
 * not NULL, normalized with its tensor's norm (a NULL norm is ROPE_SIMD_NORM_NONE), then rotated. Rows, dtype,
 * layout, positions and shapes as rope_simd_rotate_ex; both tensors in place (source NULL). The norm is float32
 * arithmetic in a fixed order, the same bits on every CPU; float32 results are within (ceil(head_dim/16) + 21)/2 *
 * 2^-23 * M of the exact normalization and rotation (M the pair's largest normalized magnitude), 16-bit results are
 * rotated in float32 and rounded once, with identical bits on every CPU. */
int rope_simd_rotate_norm(const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout,
                          const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,
                          const rope_simd_head_norm* query_norm, const rope_simd_batch_tensor* keys,
                          const rope_simd_head_norm* key_norm);

/* Rotates the queries in place and writes the keys, rotated, and the values into the cache at each token's position,
 * in the cache's dtype (independent of the activations' dtype). Keys and values are rope_simd_batch_tensors of the
 * same shape (their data is read, not written; source must be NULL), with the cache's heads and head_dim and the
 * queries' batch and tokens. Positions: as rope_simd_rotate_ex (not multimodal); each must lie in the cache, and for a
 * paged cache its block-table entry must name a block of it; both are checked before anything is written and again
 * where used. Keys into a float32 cache are rotated as rope_simd_rotate_ex rotates float32; into a 16-bit cache with
 * each product and sum rounded, then rounded once (the same bits on every CPU). */
int rope_simd_rotate_append(const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout,
                            const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,
                            const rope_simd_batch_tensor* keys, const rope_simd_batch_tensor* values,
                            const rope_simd_kv_cache* cache);

/* rope_simd_rotate_append with QK norm (Qwen3, Gemma 3, OLMo 2): every query head normalized with query_norm and
 * rotated in place, every key head normalized with key_norm, rotated and written into the cache, the values written as
 * they are: from the projection's output to the attention's inputs in one pass. A NULL norm is ROPE_SIMD_NORM_NONE.
 * Queries get rope_simd_rotate_norm's bits; keys are normalized in float32 as rope_simd_rotate_norm normalizes them,
 * then rotated and rounded as rope_simd_rotate_append rotates them. For a packed QKV buffer, describe its three parts
 * with rope_simd_packed_qkv_tensors. */
int rope_simd_rotate_norm_append(const rope_simd_rows* rows, rope_simd_dtype dtype, rope_simd_layout layout,
                                 const rope_simd_batch_positions* positions, const rope_simd_batch_tensor* queries,
                                 const rope_simd_head_norm* query_norm, const rope_simd_batch_tensor* keys,
                                 const rope_simd_head_norm* key_norm, const rope_simd_batch_tensor* values,
                                 const rope_simd_kv_cache* cache);

/* One part of a packed QKV buffer; see rope_simd_packed_qkv_tensors. */
static inline void rope_simd_packed_qkv_part(rope_simd_batch_tensor* part, void* data, int64_t length, int64_t batch, int64_t tokens,
                                             int64_t heads, int64_t head_dim, int64_t row) {
    part->data = data;
    part->source = NULL;
    part->length = length;
    part->batch = batch;
    part->tokens = tokens;
    part->heads = heads;
    part->head_dim = head_dim;
    part->batch_stride = row * tokens;
    part->token_stride = row;
    part->head_stride = head_dim;
}

/* The queries, keys and values of a fused QKV projection's output, [batch][tokens][(query_heads + 2*kv_heads) *
 * head_dim] (each row: the query heads, then the key heads, then the value heads), as three rope_simd_batch_tensors
 * over the one buffer of `length` elements of `dtype`: the calls above then read (and, for the queries, write) it
 * where it lies. A helper of this header (it sets no rope_simd_last_error message): returns ROPE_SIMD_ERROR_NULL_POINTER
 * for a NULL output (or a NULL data with elements to describe), ROPE_SIMD_ERROR_INVALID_ARGUMENT for an unknown dtype,
 * ROPE_SIMD_ERROR_OUT_OF_RANGE for a negative count, a size that overflows, or a buffer shorter than
 * batch (0 is taken as 1) * tokens * row elements, and then sets every output to an empty tensor (nothing is read or
 * written through it). */
static inline int rope_simd_packed_qkv_tensors(void* data, int64_t length, rope_simd_dtype dtype, int64_t batch, int64_t tokens,
                                               int64_t query_heads, int64_t kv_heads, int64_t head_dim,
                                               rope_simd_batch_tensor* queries, rope_simd_batch_tensor* keys,
                                               rope_simd_batch_tensor* values) {
    size_t element_size;
    int64_t heads = 0, row = 0, sequence = 0, required = 0, sequences = batch == 0 ? 1 : batch;
    int status = ROPE_SIMD_OK;
    if (queries == NULL || keys == NULL || values == NULL) return ROPE_SIMD_ERROR_NULL_POINTER;
    switch (dtype) {
    case ROPE_SIMD_FLOAT32: element_size = 4; break;
    case ROPE_SIMD_BFLOAT16:
    case ROPE_SIMD_FLOAT16: element_size = 2; break;
    default: element_size = 0; status = ROPE_SIMD_ERROR_INVALID_ARGUMENT; break;
    }
    /* Every product is checked before it is taken, in int64 (no signed overflow); byte offsets are size_t. */
    if (status == ROPE_SIMD_OK
        && (length < 0 || batch < 0 || tokens < 0 || query_heads < 0 || kv_heads < 0 || head_dim < 0
            || kv_heads > (INT64_MAX - query_heads) / 2
            || (head_dim > 0 && query_heads + 2 * kv_heads > INT64_MAX / head_dim)
            || (uint64_t)length > SIZE_MAX / element_size))
        status = ROPE_SIMD_ERROR_OUT_OF_RANGE;
    if (status == ROPE_SIMD_OK) {
        heads = query_heads + 2 * kv_heads;
        row = heads * head_dim;
        if ((row > 0 && tokens > INT64_MAX / row) || (row * tokens > 0 && sequences > INT64_MAX / (row * tokens)))
            status = ROPE_SIMD_ERROR_OUT_OF_RANGE;
    }
    if (status == ROPE_SIMD_OK) {
        sequence = row * tokens;
        required = sequence * sequences;
        if (length < required) status = ROPE_SIMD_ERROR_OUT_OF_RANGE;
        else if (data == NULL && required > 0) status = ROPE_SIMD_ERROR_NULL_POINTER;
    }
    if (status != ROPE_SIMD_OK) {
        rope_simd_packed_qkv_part(queries, NULL, 0, 0, 0, 0, 0, 0);
        rope_simd_packed_qkv_part(keys, NULL, 0, 0, 0, 0, 0, 0);
        rope_simd_packed_qkv_part(values, NULL, 0, 0, 0, 0, 0, 0);
        return status;
    }
    {
        /* The key and value parts start query_heads and query_heads + kv_heads heads into the first row (both within
         * the buffer when it holds a row). */
        int64_t key_offset = query_heads * head_dim, value_offset = (query_heads + kv_heads) * head_dim;
        int has_rows = required > 0;
        rope_simd_packed_qkv_part(queries, data, length, batch, tokens, query_heads, head_dim, row);
        rope_simd_packed_qkv_part(keys, has_rows ? (char*)data + (size_t)key_offset * element_size : data,
                                  has_rows ? length - key_offset : length, batch, tokens, kv_heads, head_dim, row);
        rope_simd_packed_qkv_part(values, has_rows ? (char*)data + (size_t)value_offset * element_size : data,
                                  has_rows ? length - value_offset : length, batch, tokens, kv_heads, head_dim, row);
    }
    return ROPE_SIMD_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* ROPE_SIMD_H */
