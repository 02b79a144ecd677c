using Rope.Simd.Drivers;
using Rope.Simd.Validation;

namespace Rope.Simd;

// QK norm fused with rotation: one pass over the activations instead of a norm pass and a rotation pass.
public sealed partial class RopeEngine
{
    /// <summary>
    /// Normalizes every head (RMS, over the whole head dim) and rotates it, in place, in one pass: per token, each head's
    /// scale is computed, the heads normalized and the token rotated while they are in the L1 cache.
    /// </summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows: a table, rows computed per call or the caller's cache.</param>
    /// <param name="values">The activations, at least <paramref name="shape"/>.RequiredLength elements.</param>
    /// <param name="shape">Tokens, heads, head dim and strides of <paramref name="values"/>.</param>
    /// <param name="norm">The heads' norm; its weights are one per element of a head.</param>
    /// <param name="positions">A start position or one position per token; every one must have a row.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <remarks>
    /// <para>With t_i = (x_i·scale)·w_i the normalized values as <see cref="RopeHeadNorm"/> computes them (the same bits on
    /// every path), float32 results are t rotated exactly as <see cref="Apply{TElement}(RopeRows, Span{TElement}, RopeShape, RopePositions, RopeLayout, bool)"/>
    /// rotates float32 values; 16-bit results are t rotated with each product and sum rounded to float32 (no fused
    /// multiply-add), then rounded once to the element type: the same bits on every path and CPU.</para>
    /// <para>Accuracy: with n the head dim, k = ⌈n / 16⌉ and M = max(|y_a|, |y_b|) for the exactly normalized pair
    /// (y_a, y_b) of an element (the element itself where it passes through), every float32 result is within
    /// (k + 21)/2 · 2^-23·M of the exact normalization and rotation (scale, weights and angle exact), while the squares
    /// neither overflow nor underflow float32; a 16-bit result is that float32 value rounded once. NaN and infinity
    /// propagate as the formula does in double (an infinite element makes its head's scale 0, and ∞·0 is NaN).</para>
    /// </remarks>
    /// <exception cref="ArgumentException">A span is too short, the shape does not fit the rows, the norm's weights do not
    /// fit the head dim, or a position has no row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void ApplyWithNorm<TElement>(RopeRows rows, Span<TElement> values, RopeShape shape, RopeHeadNorm norm, RopePositions positions,
        RopeLayout layout)
        where TElement : unmanaged
    {
        CallChecks.ApplyWithNorm(rows, values, shape, norm, positions, layout);
        unsafe
        {
            fixed (float* weights = norm.Weight)
            {
                var operation = new NormalizedRotation(new PinnedHeadNorm(weights, norm.Epsilon, norm.Kind), default);
                Rotation.Run(this, rows, positions, layout, false, shape, new RotationTarget<TElement>(values, values, shape), default, operation);
            }
        }
    }

    /// <summary>
    /// Normalizes every query head and every key head, each tensor with its own norm, and rotates both, in place, in one
    /// pass (grouped-query attention: e.g. 32 query heads and 8 key heads, Qwen3's <c>q_norm</c> and <c>k_norm</c>).
    /// </summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="queries">Query activations, at least <paramref name="queryShape"/>.RequiredLength elements.</param>
    /// <param name="queryShape">Shape of the queries.</param>
    /// <param name="queryNorm">The query heads' norm (<see cref="RopeHeadNorm.None"/> for none).</param>
    /// <param name="keys">Key activations; must not share elements with the query heads.</param>
    /// <param name="keyShape">Shape of the keys: the same token count as the queries.</param>
    /// <param name="keyNorm">The key heads' norm.</param>
    /// <param name="positions">A start position or one position per token.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <remarks>The formula, bits and accuracy are those of the one-tensor overload, for each tensor with its norm.</remarks>
    /// <exception cref="ArgumentException">A span is too short, the token counts differ, the heads share memory, a shape does
    /// not fit the rows, a norm's weights do not fit its head dim, or a position has no row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void ApplyWithNorm<TElement>(RopeRows rows, Span<TElement> queries, RopeShape queryShape, RopeHeadNorm queryNorm,
        Span<TElement> keys, RopeShape keyShape, RopeHeadNorm keyNorm, RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        CallChecks.ApplyWithNorm(rows, queries, queryShape, queryNorm, keys, keyShape, keyNorm, positions, layout);
        unsafe
        {
            fixed (float* queryWeights = queryNorm.Weight, keyWeights = keyNorm.Weight)
            {
                var operation = new NormalizedRotation(new PinnedHeadNorm(queryWeights, queryNorm.Epsilon, queryNorm.Kind),
                    new PinnedHeadNorm(keyWeights, keyNorm.Epsilon, keyNorm.Kind));
                Rotation.Run(this, rows, positions, layout, false, queryShape,
                    new RotationTarget<TElement>(queries, queries, queryShape), new RotationTarget<TElement>(keys, keys, keyShape), operation);
            }
        }
    }
}
