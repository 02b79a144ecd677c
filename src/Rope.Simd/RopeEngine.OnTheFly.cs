using Rope.Simd.Kernels;
using Rope.Simd.Tables;

namespace Rope.Simd;

// Rotation without a prebuilt table: each token's row is computed from the frequencies once per call, with the table
// builder's arithmetic (the same bits as a RopeTable's row), and used for every head of the queries and keys.
public abstract partial class RopeEngine
{
    /// <summary>
    /// Rotates one tensor in place without a table: each token's cos/sin row is computed from
    /// <paramref name="frequencies"/> once, with the same bits a <see cref="RopeTable"/> of those frequencies holds,
    /// so the result equals table-based rotation bit for bit (and has its accuracy). Costs about one row computation
    /// per token (tens of nanoseconds for rotary dim 128); worth it when many heads share each row or when no table
    /// memory is wanted.
    /// </summary>
    /// <param name="frequencies">The per-pair inverse frequencies (and attention factor); its rotary dim is rotated in each head.</param>
    /// <param name="values">The activations, at least <paramref name="shape"/>.RequiredLength elements.</param>
    /// <param name="shape">Tokens, heads, head dim and strides of <paramref name="values"/>; head dim ≥ the rotary dim.</param>
    /// <param name="positions">A start position or one position per token, each in [0, 2^31).</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A span is too short, the shape does not fit the rotary dim, or a position is negative.</exception>
    public void Apply(RopeFrequencies frequencies, Span<float> values, RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = ComputedRows(frequencies);
        ValidateInPlace(rows, layout, values.Length, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<float>(values, values, shape), default);
    }

    /// <summary>
    /// Rotates queries and keys in place in one pass without a table: each token's row is computed once and used for
    /// every query and key head (see the single-tensor overload for the accuracy).
    /// </summary>
    /// <param name="frequencies">The per-pair inverse frequencies (and attention factor).</param>
    /// <param name="queries">Query activations, at least <paramref name="queryShape"/>.RequiredLength elements.</param>
    /// <param name="queryShape">Shape of the queries.</param>
    /// <param name="keys">Key activations; must not share elements with the query heads.</param>
    /// <param name="keyShape">Shape of the keys: the same token count as the queries.</param>
    /// <param name="positions">A start position or one position per token, each in [0, 2^31).</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A span is too short, the token counts differ, a shape does not fit the rotary dim, or a position is negative.</exception>
    public void Apply(RopeFrequencies frequencies, Span<float> queries, RopeShape queryShape, Span<float> keys, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = ComputedRows(frequencies);
        ValidateInPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<float>(queries, queries, queryShape), new RotationTarget<float>(keys, keys, keyShape));
    }

    /// <summary>Rotates one bfloat16 tensor in place without a table (float32 arithmetic, one rounding per element).</summary>
    /// <inheritdoc cref="Apply(RopeFrequencies, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeFrequencies frequencies, Span<BFloat16> values, RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = ComputedRows(frequencies);
        ValidateInPlace(rows, layout, values.Length, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<BFloat16>(values, values, shape), default);
    }

    /// <summary>Rotates bfloat16 queries and keys in place in one pass without a table.</summary>
    /// <inheritdoc cref="Apply(RopeFrequencies, Span{float}, RopeShape, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeFrequencies frequencies, Span<BFloat16> queries, RopeShape queryShape, Span<BFloat16> keys, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = ComputedRows(frequencies);
        ValidateInPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<BFloat16>(queries, queries, queryShape), new RotationTarget<BFloat16>(keys, keys, keyShape));
    }

    /// <summary>Rotates one float16 tensor in place without a table (float32 arithmetic, one rounding per element).</summary>
    /// <inheritdoc cref="Apply(RopeFrequencies, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeFrequencies frequencies, Span<Half> values, RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = ComputedRows(frequencies);
        ValidateInPlace(rows, layout, values.Length, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<Half>(values, values, shape), default);
    }

    /// <summary>Rotates float16 queries and keys in place in one pass without a table.</summary>
    /// <inheritdoc cref="Apply(RopeFrequencies, Span{float}, RopeShape, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeFrequencies frequencies, Span<Half> queries, RopeShape queryShape, Span<Half> keys, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = ComputedRows(frequencies);
        ValidateInPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<Half>(queries, queries, queryShape), new RotationTarget<Half>(keys, keys, keyShape));
    }

    private static RowSource ComputedRows(RopeFrequencies frequencies)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        return new RowSource(frequencies);
    }
}
