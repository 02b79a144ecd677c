using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Rope.Simd.Kernels;

/// <summary>256-bit vectors on AVX2 with FMA: vpermilps for the pair swap, movsldup/movshdup to duplicate.</summary>
internal readonly struct Vector256Kernel : IRotationKernel<Vector256<float>>
{
    public static RopePath Path => RopePath.Vector256;

    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    public static bool IsAccelerated => IsSupported && Vector256.IsHardwareAccelerated;

    public static int Count => Vector256<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(Vector256<float> row, bool inverse, out Vector256<float> cos, out Vector256<float> sin)
    {
        // Sign bit of the even lanes (forward) or the odd lanes (inverse) of each 64-bit pair.
        Vector256<float> signs = Vector256.Create(inverse ? 0x8000_0000_0000_0000UL : 0x0000_0000_8000_0000UL).AsSingle();
        cos = Avx.DuplicateEvenIndexed(row);
        sin = Avx.DuplicateOddIndexed(row) ^ signs;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(Vector256<float> rowLow, Vector256<float> rowHigh, bool inverse,
        out Vector256<float> cos, out Vector256<float> sin)
    {
        // Within each 128-bit lane pick evens (odds) of both inputs, then restore order across lanes.
        const byte LanesInOrder = 0b11_01_10_00;
        cos = Avx2.Permute4x64(Avx.Shuffle(rowLow, rowHigh, 0b10_00_10_00).AsDouble(), LanesInOrder).AsSingle();
        sin = Avx2.Permute4x64(Avx.Shuffle(rowLow, rowHigh, 0b11_01_11_01).AsDouble(), LanesInOrder).AsSingle();
        if (inverse)
        {
            sin = -sin;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> RotateInterleaved(Vector256<float> x, Vector256<float> cos, Vector256<float> sin) =>
        Vector256.MultiplyAddEstimate(Avx.Permute(x, 0b10_11_00_01), sin, x * cos);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref Vector256<float> first, ref Vector256<float> second, Vector256<float> cos, Vector256<float> sin)
    {
        Vector256<float> a = first, b = second;
        first = Vector256.MultiplyAddEstimate(-b, sin, a * cos);
        second = Vector256.MultiplyAddEstimate(a, sin, b * cos);
    }
}
