using Rope.Simd.Kernels;
using Rope.Simd.Tables;

namespace Rope.Simd;

// bfloat16 activations: the float32 API's overloads on Span<BFloat16>; see the class remarks for the rounding guarantee.
public abstract partial class RopeEngine
{
    /// <summary>Rotates one bfloat16 tensor in place (float32 arithmetic, one rounding per element).</summary>
    /// <inheritdoc cref="Apply(RopeTable, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table, Span<BFloat16> values, RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateInPlace(rows, layout, values.Length, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<BFloat16>(values, values, shape), default);
    }

    /// <summary>Rotates bfloat16 queries and keys in place in one pass (grouped-query attention).</summary>
    /// <inheritdoc cref="Apply(RopeTable, Span{float}, RopeShape, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table, Span<BFloat16> queries, RopeShape queryShape, Span<BFloat16> keys, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateInPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<BFloat16>(queries, queries, queryShape), new RotationTarget<BFloat16>(keys, keys, keyShape));
    }

    /// <summary>Rotates one bfloat16 tensor from <paramref name="source"/> into <paramref name="destination"/>; pass-through elements are copied.</summary>
    /// <inheritdoc cref="Apply(RopeTable, ReadOnlySpan{float}, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table, ReadOnlySpan<BFloat16> source, Span<BFloat16> destination, RopeShape shape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateOutOfPlace(rows, layout, source, destination, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<BFloat16>(source, destination, shape), default);
    }

    /// <summary>Rotates bfloat16 queries and keys out of place in one pass.</summary>
    /// <inheritdoc cref="Apply(RopeTable, ReadOnlySpan{float}, Span{float}, RopeShape, ReadOnlySpan{float}, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table,
        ReadOnlySpan<BFloat16> querySource, Span<BFloat16> queryDestination, RopeShape queryShape,
        ReadOnlySpan<BFloat16> keySource, Span<BFloat16> keyDestination, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateOutOfPlace(rows, layout, querySource, queryDestination, queryShape, keySource, keyDestination, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<BFloat16>(querySource, queryDestination, queryShape), new RotationTarget<BFloat16>(keySource, keyDestination, keyShape));
    }

    internal abstract void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<BFloat16> first, scoped in RotationTarget<BFloat16> second);
}
