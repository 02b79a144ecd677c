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

    /// <summary>Whether <see cref="Halves"/> gives a row's cosines and sines as two runs (then half-split pairs skip the interleaved row).</summary>
    static abstract bool HasHalves { get; }

    /// <summary>
    /// The cosines and the sines of <paramref name="position"/>'s row as two runs of RotaryDim/2 floats, read where they
    /// lie or widened into <paramref name="scratch"/>; called only where <see cref="HasHalves"/> is true.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The position has no row (the positions changed during the call).</exception>
    RowHalves Halves<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct;
}

/// <summary>A row's cosines and sines as two runs.</summary>
internal readonly ref struct RowHalves(ref float cosines, ref float sines)
{
    public readonly ref float Cosines = ref cosines;

    public readonly ref float Sines = ref sines;
}
