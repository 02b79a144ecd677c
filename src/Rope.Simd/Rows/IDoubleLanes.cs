namespace Rope.Simd.Rows;

/// <summary>
/// The operations the table builder needs on a register of <see cref="Count"/> doubles, so one generic writer serves
/// <see cref="System.Numerics.Vector{T}"/> and, where the runtime accelerates it, the twice wider Vector512.
/// </summary>
internal interface IDoubleLanes<TVector>
    where TVector : struct
{
    static abstract int Count { get; }

    static abstract TVector Create(double value);

    static abstract TVector Load(ref double source);

    static abstract TVector Add(TVector left, TVector right);

    static abstract TVector Subtract(TVector left, TVector right);

    static abstract TVector Multiply(TVector left, TVector right);

    /// <summary>Flips the sign bit (−0 for +0).</summary>
    static abstract TVector Negate(TVector value);

    /// <summary>left·right + addend with one rounding (exact FMA semantics on every path).</summary>
    static abstract TVector FusedMultiplyAdd(TVector left, TVector right, TVector addend);

    /// <summary>Rounds to the nearest integer, ties to even.</summary>
    static abstract TVector Round(TVector value);

    /// <summary>All ones in lanes where the 64-bit pattern, masked by <paramref name="mask"/>, equals <paramref name="bits"/>.</summary>
    static abstract TVector BitsEqual(TVector value, long mask, long bits);

    static abstract TVector Select(TVector mask, TVector whenTrue, TVector whenFalse);

    /// <summary>
    /// Narrows cos and sin to float32 and stores [c0, s0, c1, s1, ...] for the first <paramref name="pairs"/> lanes;
    /// a partial register goes through <paramref name="scratch"/> (2·Count floats).
    /// </summary>
    static abstract void StoreInterleaved(TVector cos, TVector sin, ref float destination, int pairs, Span<float> scratch);
}
