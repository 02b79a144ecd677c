using System.Runtime.CompilerServices;

namespace Rope.Simd.Kernels;

/// <summary>Two floats: the scalar kernel's "vector", one interleaved pair or two half-split elements.</summary>
internal struct FloatPair
{
    public float First;
    public float Second;

    public FloatPair(float first, float second)
    {
        First = first;
        Second = second;
    }
}

/// <summary>Plain float32 arithmetic; the path taken when hardware intrinsics are unavailable or disabled.</summary>
internal readonly struct ScalarKernel : IRotationKernel<FloatPair>
{
    public static RopePath Path => RopePath.Scalar;

    public static bool IsSupported => true;

    public static bool IsAccelerated => true;

    public static int Count => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPair Load(ref float source) => new(source, Unsafe.Add(ref source, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(FloatPair value, ref float destination)
    {
        destination = value.First;
        Unsafe.Add(ref destination, 1) = value.Second;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(FloatPair row, bool inverse, out FloatPair cos, out FloatPair sin)
    {
        float s = inverse ? -row.Second : row.Second;
        cos = new FloatPair(row.First, row.First);
        sin = new FloatPair(-s, s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(FloatPair rowLow, FloatPair rowHigh, bool inverse, out FloatPair cos, out FloatPair sin)
    {
        cos = new FloatPair(rowLow.First, rowHigh.First);
        sin = inverse ? new FloatPair(-rowLow.Second, -rowHigh.Second) : new FloatPair(rowLow.Second, rowHigh.Second);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatPair RotateInterleaved(FloatPair x, FloatPair cos, FloatPair sin) => new(
        float.MultiplyAddEstimate(x.Second, sin.First, x.First * cos.First),
        float.MultiplyAddEstimate(x.First, sin.Second, x.Second * cos.Second));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref FloatPair first, ref FloatPair second, FloatPair cos, FloatPair sin)
    {
        FloatPair a = first, b = second;
        first = new FloatPair(
            float.MultiplyAddEstimate(-b.First, sin.First, a.First * cos.First),
            float.MultiplyAddEstimate(-b.Second, sin.Second, a.Second * cos.Second));
        second = new FloatPair(
            float.MultiplyAddEstimate(a.First, sin.First, b.First * cos.First),
            float.MultiplyAddEstimate(a.Second, sin.Second, b.Second * cos.Second));
    }
}
