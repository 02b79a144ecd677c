using Rope.Simd.Kernels;

namespace Rope.Simd.Rows;

/// <summary>
/// Where the driver reads a position's row <c>[c0, s0, c1, s1, ...]</c> of float32: a table, the frequencies, or the
/// caller's cache in its own layout and type. One implementation per kind, passed to the driver as a type argument, so
/// the kind is decided once per call.
/// </summary>
internal interface IRowSource
{
    /// <summary>Rotated elements per head.</summary>
    int RotaryDim { get; }

    /// <summary>Floats of scratch one row needs (0 when rows are read where they lie).</summary>
    int ScratchLength { get; }

    /// <summary>Whether <paramref name="position"/> has a row.</summary>
    bool Contains(long position);

    /// <summary>
    /// The row of <paramref name="position"/>: a reference into stored rows, or the row written into
    /// <paramref name="scratch"/> (<see cref="ScratchLength"/> floats). Positions were validated at the entry but live in
    /// caller memory that may change during the call, so each is checked here, where it indexes rows.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The position has no row (the positions changed during the call).</exception>
    ref float Row<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct;
}
