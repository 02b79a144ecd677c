using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// Conversion between a 16-bit floating-point element type and float32, two elements per 32-bit lane: the element at
/// the lower address in the low half of the lane, its neighbour in the high half. Keeping the two halves in separate
/// float registers needs no shuffles, and for interleaved pairs it splits each pair into its two members for free.
/// </summary>
internal interface IPackedCodec<TElement>
    where TElement : unmanaged
{
    /// <summary>The exact float32 values of the low-half and the high-half elements of each lane.</summary>
    static abstract void Widen<TOps, TVector>(TVector packed, out TVector low, out TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>Both float registers rounded to nearest even (NaN stays a quiet NaN) and packed back, low then high.</summary>
    static abstract TVector Narrow<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>
    /// <see cref="Narrow"/> for rotation results: the same bits, for values computed from widened elements and slots
    /// that went through <see cref="SlotValues"/> (a codec may rely on what that leaves out, e.g. NaN payload bits).
    /// </summary>
    static abstract TVector NarrowRotated<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>
    /// Each lane rounded as <see cref="Narrow"/> rounds it, its bits in the low 16 bits of the lane (the upper 16 zero):
    /// for values in element order, packed by <see cref="IVectorOps{TVector}.PackLowHalves"/>.
    /// </summary>
    static abstract TVector NarrowToLowHalves<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>Cos or sin values as the kernel keeps them in its slots; the rotation's results narrow the same either way.</summary>
    static abstract TVector SlotValues<TOps, TVector>(TVector values)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

}

/// <summary>
/// A codec with cheaper conversions that are exact on a range of values (<see cref="RangeKey"/>):
/// <see cref="RangedPackedKernel{TOps, TVector, TCodec, TElement}"/> uses them where every value of a block is in range
/// and the exact ones otherwise, so the bits never differ from <see cref="IPackedCodec{TElement}"/>'s.
/// </summary>
internal interface IRangedCodec<TElement> : IPackedCodec<TElement>
    where TElement : unmanaged
{
    /// <summary><see cref="IPackedCodec{TElement}.Widen"/>, exact wherever its results are in range (<see cref="RangeKey"/>).</summary>
    static abstract void WidenFast<TOps, TVector>(TVector packed, out TVector low, out TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary><see cref="IPackedCodec{TElement}.Narrow"/>, exact wherever its inputs are in range (<see cref="RangeKey"/>).</summary>
    static abstract TVector NarrowFast<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>
    /// Per lane, a key that tells whether both registers' values there are in the range where the fast conversions are
    /// exact; keys of several registers combine by <see cref="IVectorOps{TVector}.MaxBits"/> (a lane is in range only
    /// if it is in every one).
    /// </summary>
    static abstract TVector RangeKey<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>Whether every lane of a (combined) <see cref="RangeKey"/> is in range.</summary>
    static abstract bool InFastRange<TOps, TVector>(TVector key)
        where TOps : IVectorOps<TVector>
        where TVector : struct;
}
