using System.Runtime.CompilerServices;
using Rope.Simd.Drivers;
using Rope.Simd.Validation;

namespace Rope.Simd;

// Rotation fused with the KV-cache append: keys go from the projection's output to the cache, rotated and converted,
// in one pass.
public sealed partial class RopeEngine
{
    /// <summary>
    /// Rotates the queries in place, and writes the keys rotated and the values as they are into
    /// <paramref name="cache"/> at each token's position, in the cache's element type: one pass over the keys and the
    /// values, from the projection's output to the cache.
    /// </summary>
    /// <typeparam name="TElement">The activations' type: <see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <typeparam name="TCache">The cache's type, any of the three, independent of <typeparamref name="TElement"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="queries">Query activations, rotated in place.</param>
    /// <param name="queryShape">Shape of the queries.</param>
    /// <param name="keys">Key activations: read, not written.</param>
    /// <param name="values">Value activations, laid out as the keys: read, not written.</param>
    /// <param name="keyShape">Shape of the keys and of the values: the cache's heads and head dim, the queries' batch and tokens.</param>
    /// <param name="cache">Where token t of sequence b at position p writes its heads: position p of sequence b.</param>
    /// <param name="positions">A start position or one position per token (not multimodal): each selects the token's row and its place in the cache.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <remarks>
    /// Queries are rotated exactly as <see cref="Apply{TElement}(RopeRows, Span{TElement}, RopeShape, RopePositions, RopeLayout, bool)"/>
    /// rotates them. Keys are widened exactly to float32 and rotated: into a float32 cache exactly as <c>Apply</c>
    /// rotates float32 values; into a 16-bit cache with each product and sum rounded to float32 (no fused
    /// multiply-add), then rounded once, to nearest even: the same bits on every path and CPU, within the bounds of
    /// docs/accuracy.md for the rotation. Values are converted exactly as the span conversions do (a copy for the same
    /// type). Cache elements of other positions are not touched; a position written twice in one call keeps its last
    /// token's heads.
    /// </remarks>
    /// <exception cref="ArgumentException">A span is too short, the shapes do not match each other or the cache, spans
    /// share memory, a position has no row or no place in the cache, or a block-table entry names no block.</exception>
    /// <exception cref="NotSupportedException">A type argument is not one of the three types.</exception>
    public void ApplyAndAppend<TElement, TCache>(RopeRows rows, Span<TElement> queries, RopeShape queryShape, ReadOnlySpan<TElement> keys,
        ReadOnlySpan<TElement> values, RopeShape keyShape, RopeKvCache<TCache> cache, RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        RopeHeadNorm none = RopeHeadNorm.None;
        Append(rows, queries, queryShape, none, keys, values, keyShape, none, cache, positions, layout);
    }

    /// <summary>
    /// QK norm, rotation and the KV-cache append in one pass: every query head normalized with
    /// <paramref name="queryNorm"/> and rotated in place, every key head normalized with <paramref name="keyNorm"/>,
    /// rotated and written into <paramref name="cache"/> at its token's position, values written as they are, each in
    /// the cache's element type: from the projection's output to the attention's inputs in one call.
    /// </summary>
    /// <typeparam name="TElement">The activations' type: <see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <typeparam name="TCache">The cache's type, any of the three, independent of <typeparamref name="TElement"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="queries">Query activations, normalized and rotated in place.</param>
    /// <param name="queryShape">Shape of the queries.</param>
    /// <param name="queryNorm">The query heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="keys">Key activations: read, not written.</param>
    /// <param name="values">Value activations, laid out as the keys: read, not written.</param>
    /// <param name="keyShape">Shape of the keys and of the values: the cache's heads and head dim, the queries' batch and tokens.</param>
    /// <param name="keyNorm">The key heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="cache">Where token t of sequence b at position p writes its heads: position p of sequence b.</param>
    /// <param name="positions">A start position or one position per token (not multimodal): each selects the token's row and its place in the cache.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <remarks>
    /// Queries get exactly what <see cref="ApplyWithNorm{TElement}(RopeRows, Span{TElement}, RopeShape, RopeHeadNorm, RopePositions, RopeLayout)"/>
    /// gives them (exactly <c>Apply</c>'s result without a norm). A key head is widened exactly to float32, normalized
    /// as <see cref="RopeHeadNorm"/> states ((x·scale)·w, the sum of squares in its fixed order), rotated (into a float32
    /// cache as <c>Apply</c> rotates float32 values; into a 16-bit cache with each product and sum rounded to float32),
    /// and rounded once to the cache's type, to nearest even: the same bits on every path and CPU for a 16-bit cache.
    /// Values are converted exactly as the span conversions do (a copy for the same type). Cache elements of other
    /// positions are not touched; a position written twice in one call keeps its last token's heads.
    /// </remarks>
    /// <exception cref="ArgumentException">A span is too short, the shapes do not match each other or the cache, spans
    /// share memory, a norm's weights do not fit its head dim, a position has no row or no place in the cache, or a
    /// block-table entry names no block.</exception>
    /// <exception cref="NotSupportedException">A type argument is not one of the three types.</exception>
    public void ApplyAndAppend<TElement, TCache>(RopeRows rows, Span<TElement> queries, RopeShape queryShape, RopeHeadNorm queryNorm,
        ReadOnlySpan<TElement> keys, ReadOnlySpan<TElement> values, RopeShape keyShape, RopeHeadNorm keyNorm, RopeKvCache<TCache> cache,
        RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
        where TCache : unmanaged =>
        Append(rows, queries, queryShape, queryNorm, keys, values, keyShape, keyNorm, cache, positions, layout);

    /// <summary>
    /// Every append overload's one body. Never inlined, and the large arguments by reference: a public entry that took
    /// this in would copy them, and zero the copies' references in its prologue, on every call (a decode's fixed cost).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Append<TElement, TCache>(scoped in RopeRows rows, Span<TElement> queries, RopeShape queryShape, scoped in RopeHeadNorm queryNorm,
        ReadOnlySpan<TElement> keys, ReadOnlySpan<TElement> values, RopeShape keyShape, scoped in RopeHeadNorm keyNorm, scoped in RopeKvCache<TCache> cache,
        scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        CallChecks.ApplyAndAppend(rows, queries, queryShape, queryNorm, keys, values, keyShape, keyNorm, cache, positions, layout);
        unsafe
        {
            fixed (float* queryWeights = queryNorm.Weight, keyWeights = keyNorm.Weight)
            fixed (TCache* keyCache = cache.Keys, valueCache = cache.Values)
            fixed (int* blockTable = cache.BlockTable)
            fixed (TElement* valueSource = values)
            {
                var pinnedQueryNorm = new PinnedHeadNorm(queryWeights, queryNorm.Epsilon, queryNorm.Kind);
                var queryTarget = new RotationTarget<TElement>(queries, queries, queryShape);
                // A parallel engine rotates the queries over its threads first; the append then takes the keys and values alone.
                bool separately = Workers(queryShape.TotalTokens, queryShape.Heads, rows.RotaryDim) > 1;
                if (separately)
                {
                    if (queryNorm.Kind == RopeHeadNormKind.None)
                    {
                        Rotation.Run(this, rows, positions, layout, false, queryShape, queryTarget, default, new PlainRotation());
                    }
                    else
                    {
                        Rotation.Run(this, rows, positions, layout, false, queryShape, queryTarget, default, new NormalizedRotation(pinnedQueryNorm, default));
                    }
                }

                var append = new KvAppend<TCache>(keyCache, valueCache, cache.Addressing, blockTable, cache.BlockTable.Length, pinnedQueryNorm,
                    new PinnedHeadNorm(keyWeights, keyNorm.Epsilon, keyNorm.Kind), valueSource, values.Length, CacheChecks.SourcesInCache(keys, values, cache));
                // One thread: the append's writes go to cache places that positions, not head ranges, decide.
                Rotation.RunOnOneThread(Path, rows, positions, layout, false, keyShape, separately ? default : queryTarget,
                    new RotationTarget<TElement>(keys, default, keyShape), append);
            }
        }
    }

    /// <summary>
    /// <see cref="ApplyAndAppend{TElement, TCache}(RopeRows, Span{TElement}, RopeShape, RopeHeadNorm, ReadOnlySpan{TElement}, ReadOnlySpan{TElement}, RopeShape, RopeHeadNorm, RopeKvCache{TCache}, RopePositions, RopeLayout)"/>
    /// straight from a fused QKV projection's output: the queries normalized and rotated in place in
    /// <paramref name="qkv"/>, the keys normalized, rotated and written with the values into <paramref name="cache"/>;
    /// the buffer's keys and values are read, not written.
    /// </summary>
    /// <typeparam name="TElement">The activations' type: <see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <typeparam name="TCache">The cache's type, any of the three, independent of <typeparamref name="TElement"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="qkv">The projection's output, <c>[batch][tokens][(queryHeads + 2·kvHeads)·headDim]</c>.</param>
    /// <param name="packing">Its batch, tokens, head counts and head dim.</param>
    /// <param name="queryNorm">The query heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="keyNorm">The key heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="cache">Where token t of sequence b at position p writes its heads: position p of sequence b.</param>
    /// <param name="positions">A start position or one position per token (not multimodal).</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <remarks>Results, bits and accuracy are those of the overload with separate tensors, given the buffer's three views.</remarks>
    /// <exception cref="ArgumentException">The buffer is shorter than <paramref name="packing"/> says, or as the overload with separate tensors.</exception>
    /// <exception cref="NotSupportedException">A type argument is not one of the three types.</exception>
    public void ApplyAndAppend<TElement, TCache>(RopeRows rows, Span<TElement> qkv, RopePackedQkv packing, RopeHeadNorm queryNorm, RopeHeadNorm keyNorm,
        RopeKvCache<TCache> cache, RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        CallChecks.Packed(qkv.Length, packing);
        Append(rows, qkv, packing.QueryShape, queryNorm, From(qkv, packing.KeyOffset), From(qkv, packing.ValueOffset), packing.KeyShape, keyNorm,
            cache, positions, layout);
    }

    /// <summary>
    /// QK norm and rotation in place in a fused QKV projection's output: the query and key heads of
    /// <paramref name="qkv"/>, each with its own norm, as
    /// <see cref="ApplyWithNorm{TElement}(RopeRows, Span{TElement}, RopeShape, RopeHeadNorm, Span{TElement}, RopeShape, RopeHeadNorm, RopePositions, RopeLayout)"/>
    /// does for separate tensors; the value heads are not touched.
    /// </summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="qkv">The projection's output, <c>[batch][tokens][(queryHeads + 2·kvHeads)·headDim]</c>.</param>
    /// <param name="packing">Its batch, tokens, head counts and head dim.</param>
    /// <param name="queryNorm">The query heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="keyNorm">The key heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="positions">A start position or one position per token.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <exception cref="ArgumentException">The buffer is shorter than <paramref name="packing"/> says, or as the overload with separate tensors.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void ApplyWithNorm<TElement>(RopeRows rows, Span<TElement> qkv, RopePackedQkv packing, RopeHeadNorm queryNorm, RopeHeadNorm keyNorm,
        RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        CallChecks.Packed(qkv.Length, packing);
        ApplyWithNorm(rows, qkv, packing.QueryShape, queryNorm, From(qkv, packing.KeyOffset), packing.KeyShape, keyNorm, positions, layout);
    }

    /// <summary>The buffer from one tensor's offset on; empty where a buffer of no tokens ends before it.</summary>
    private static Span<TElement> From<TElement>(Span<TElement> qkv, int offset) => offset <= qkv.Length ? qkv[offset..] : [];
}
