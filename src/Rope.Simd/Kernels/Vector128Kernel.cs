using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Rope.Simd.Kernels;

/// <summary>128-bit vectors: SSE shuffles on x64, AdvSimd (NEON) trn/uzp/rev64 on ARM64.</summary>
internal readonly struct Vector128Kernel : IRotationKernel<Vector128<float>>
{
    public static RopePath Path => RopePath.Vector128;

    public static bool IsSupported => Vector128.IsHardwareAccelerated && (Sse.IsSupported || AdvSimd.Arm64.IsSupported);

    public static bool IsAccelerated => IsSupported;

    public static int Count => Vector128<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source) => Vector128.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(Vector128<float> row, bool inverse, out Vector128<float> cos, out Vector128<float> sin)
    {
        Vector128<float> sinOdd;
        if (Sse.IsSupported)
        {
            cos = Sse.Shuffle(row, row, 0b10_10_00_00);
            sinOdd = Sse.Shuffle(row, row, 0b11_11_01_01);
        }
        else
        {
            cos = AdvSimd.Arm64.TransposeEven(row, row);
            sinOdd = AdvSimd.Arm64.TransposeOdd(row, row);
        }

        // Sign bit of the even lanes (forward) or the odd lanes (inverse) of each 64-bit pair.
        sin = sinOdd ^ Vector128.Create(inverse ? 0x8000_0000_0000_0000UL : 0x0000_0000_8000_0000UL).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(Vector128<float> rowLow, Vector128<float> rowHigh, bool inverse,
        out Vector128<float> cos, out Vector128<float> sin)
    {
        if (Sse.IsSupported)
        {
            cos = Sse.Shuffle(rowLow, rowHigh, 0b10_00_10_00);
            sin = Sse.Shuffle(rowLow, rowHigh, 0b11_01_11_01);
        }
        else
        {
            cos = AdvSimd.Arm64.UnzipEven(rowLow, rowHigh);
            sin = AdvSimd.Arm64.UnzipOdd(rowLow, rowHigh);
        }

        if (inverse)
        {
            sin = -sin;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> RotateInterleaved(Vector128<float> x, Vector128<float> cos, Vector128<float> sin)
    {
        Vector128<float> swapped = Sse.IsSupported
            ? Sse.Shuffle(x, x, 0b10_11_00_01)
            : AdvSimd.ReverseElement32(x.AsUInt64()).AsSingle();
        return Vector128.MultiplyAddEstimate(swapped, sin, x * cos);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref Vector128<float> first, ref Vector128<float> second, Vector128<float> cos, Vector128<float> sin)
    {
        Vector128<float> a = first, b = second;
        first = Vector128.MultiplyAddEstimate(-b, sin, a * cos);
        second = Vector128.MultiplyAddEstimate(a, sin, b * cos);
    }
}
