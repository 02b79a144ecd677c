using Rope.Simd.Kernels;
using Rope.Simd.Tables;

namespace Rope.Simd;

// float16 (Half) activations: the float32 API's overloads on Span<Half>; see the class remarks for the rounding guarantee.
public abstract partial class RopeEngine
{
    /// <summary>Rotates one float16 (Half) tensor in place (float32 arithmetic, one rounding per element).</summary>
    /// <inheritdoc cref="Apply(RopeTable, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table, Span<Half> values, RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateInPlace(rows, layout, values.Length, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<Half>(values, values, shape), default);
    }

    /// <summary>Rotates float16 (Half) queries and keys in place in one pass (grouped-query attention).</summary>
    /// <inheritdoc cref="Apply(RopeTable, Span{float}, RopeShape, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table, Span<Half> queries, RopeShape queryShape, Span<Half> keys, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateInPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<Half>(queries, queries, queryShape), new RotationTarget<Half>(keys, keys, keyShape));
    }

    /// <summary>Rotates one float16 (Half) tensor from <paramref name="source"/> into <paramref name="destination"/>; pass-through elements are copied.</summary>
    /// <inheritdoc cref="Apply(RopeTable, ReadOnlySpan{float}, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table, ReadOnlySpan<Half> source, Span<Half> destination, RopeShape shape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateOutOfPlace(rows, layout, source, destination, shape, positions);
        Rotate(rows, layout, inverse, positions, shape.Tokens, new RotationTarget<Half>(source, destination, shape), default);
    }

    /// <summary>Rotates float16 (Half) queries and keys out of place in one pass.</summary>
    /// <inheritdoc cref="Apply(RopeTable, ReadOnlySpan{float}, Span{float}, RopeShape, ReadOnlySpan{float}, Span{float}, RopeShape, RopePositions, RopeLayout, bool)"/>
    public void Apply(RopeTable table,
        ReadOnlySpan<Half> querySource, Span<Half> queryDestination, RopeShape queryShape,
        ReadOnlySpan<Half> keySource, Span<Half> keyDestination, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        RowSource rows = TableRows(table);
        ValidateOutOfPlace(rows, layout, querySource, queryDestination, queryShape, keySource, keyDestination, keyShape, positions);
        Rotate(rows, layout, inverse, positions, queryShape.Tokens,
            new RotationTarget<Half>(querySource, queryDestination, queryShape), new RotationTarget<Half>(keySource, keyDestination, keyShape));
    }

    internal abstract void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<Half> first, scoped in RotationTarget<Half> second);
}
