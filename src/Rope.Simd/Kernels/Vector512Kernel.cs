using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rope.Simd.Kernels;

/// <summary>512-bit vectors on AVX-512F: vpermilps for the pair swap, vpermt2ps to split a row into cos and sin.</summary>
internal readonly struct Vector512Kernel : IRotationKernel<Vector512<float>>
{
    public static RopePath Path => RopePath.Vector512;

    public static bool IsSupported => Avx512F.IsSupported;

    public static bool IsAccelerated => IsSupported && Vector512.IsHardwareAccelerated;

    public static int Count => Vector512<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(Vector512<float> row, bool inverse, out Vector512<float> cos, out Vector512<float> sin)
    {
        // Sign bit of the even lanes (forward) or the odd lanes (inverse) of each 64-bit pair.
        Vector512<float> signs = Vector512.Create(inverse ? 0x8000_0000_0000_0000UL : 0x0000_0000_8000_0000UL).AsSingle();
        cos = Avx512F.DuplicateEvenIndexed(row);
        sin = Avx512F.DuplicateOddIndexed(row) ^ signs;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(Vector512<float> rowLow, Vector512<float> rowHigh, bool inverse,
        out Vector512<float> cos, out Vector512<float> sin)
    {
        Vector512<int> evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        cos = Avx512F.PermuteVar16x32x2(rowLow, evens, rowHigh);
        sin = Avx512F.PermuteVar16x32x2(rowLow, evens + Vector512<int>.One, rowHigh);
        if (inverse)
        {
            sin = -sin;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> RotateInterleaved(Vector512<float> x, Vector512<float> cos, Vector512<float> sin) =>
        Vector512.MultiplyAddEstimate(Avx512F.Permute4x32(x, 0b10_11_00_01), sin, x * cos);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref Vector512<float> first, ref Vector512<float> second, Vector512<float> cos, Vector512<float> sin)
    {
        Vector512<float> a = first, b = second;
        first = Vector512.MultiplyAddEstimate(-b, sin, a * cos);
        second = Vector512.MultiplyAddEstimate(a, sin, b * cos);
    }
}
