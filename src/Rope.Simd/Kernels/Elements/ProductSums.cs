using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>How a kernel evaluates left·right + addend: the choice between speed and the same bits on every path.</summary>
internal interface IProductSum
{
    static abstract TVector MultiplyAdd<TOps, TVector>(TVector left, TVector right, TVector addend)
        where TOps : IVectorOps<TVector>
        where TVector : struct;
}

/// <summary>One rounding where the ISA has FMA, two elsewhere: float32 rotation, whose results are within its bound on every path.</summary>
internal readonly struct FusedWhereAvailable : IProductSum
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector MultiplyAdd<TOps, TVector>(TVector left, TVector right, TVector addend)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.MultiplyAddEstimate(left, right, addend);
}

/// <summary>The product rounded, then the sum rounded, on every path: results that are rounded on to 16 bits get the same bits everywhere.</summary>
internal readonly struct RoundedTwice : IProductSum
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector MultiplyAdd<TOps, TVector>(TVector left, TVector right, TVector addend)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.Add(TOps.Multiply(left, right), addend);
}
