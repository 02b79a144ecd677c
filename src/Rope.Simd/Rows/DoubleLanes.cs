using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rope.Simd.Rows;

/// <summary><see cref="Vector{T}"/> of double: 128 or 256 bits on x64, 128 on ARM64; software lanes without intrinsics.</summary>
internal readonly struct VectorDoubleLanes : IDoubleLanes<Vector<double>>
{
    public static int Count => Vector<double>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Create(double value) => new(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Load(ref double source) => Vector.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Add(Vector<double> left, Vector<double> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Subtract(Vector<double> left, Vector<double> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Multiply(Vector<double> left, Vector<double> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Negate(Vector<double> value) => -value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> FusedMultiplyAdd(Vector<double> left, Vector<double> right, Vector<double> addend) =>
        Vector.FusedMultiplyAdd(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Round(Vector<double> value) => Vector.Round(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> BitsEqual(Vector<double> value, long mask, long bits) =>
        Vector.Equals(Vector.AsVectorInt64(value) & new Vector<long>(mask), new Vector<long>(bits)).As<long, double>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Select(Vector<double> mask, Vector<double> whenTrue, Vector<double> whenFalse) =>
        Vector.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInterleaved(Vector<double> cos, Vector<double> sin, ref float destination, int pairs, Span<float> scratch)
    {
        Vector<float> narrowed = Vector.Narrow(cos, sin);
        // [c0, c1, ..., s0, s1, ...] into row order with one permute.
        Vector<float> interleaved = Vector<float>.Count switch
        {
            4 => Vector128.Shuffle(narrowed.AsVector128(), Vector128.Create(0, 2, 1, 3)).AsVector(),
            _ => Vector256.Shuffle(narrowed.AsVector256(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsVector(),
        };
        if (pairs == Count)
        {
            interleaved.StoreUnsafe(ref destination);
            return;
        }

        interleaved.CopyTo(scratch);
        scratch[..(2 * pairs)].CopyTo(MemoryMarshal.CreateSpan(ref destination, 2 * pairs));
    }
}

/// <summary>Vector512 of double, used where the runtime accelerates it (Vector{T} stays 256-bit on AVX-512 machines).</summary>
internal readonly struct Vector512DoubleLanes : IDoubleLanes<Vector512<double>>
{
    public static int Count => Vector512<double>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Create(double value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Load(ref double source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Add(Vector512<double> left, Vector512<double> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Subtract(Vector512<double> left, Vector512<double> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Multiply(Vector512<double> left, Vector512<double> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Negate(Vector512<double> value) => -value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> FusedMultiplyAdd(Vector512<double> left, Vector512<double> right, Vector512<double> addend) =>
        Vector512.FusedMultiplyAdd(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Round(Vector512<double> value) => Vector512.Round(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> BitsEqual(Vector512<double> value, long mask, long bits) =>
        Vector512.Equals(value.AsInt64() & Vector512.Create(mask), Vector512.Create(bits)).AsDouble();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> Select(Vector512<double> mask, Vector512<double> whenTrue, Vector512<double> whenFalse) =>
        Vector512.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInterleaved(Vector512<double> cos, Vector512<double> sin, ref float destination, int pairs, Span<float> scratch)
    {
        Vector512<float> interleaved = Vector512.Shuffle(Vector512.Narrow(cos, sin),
            Vector512.Create(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
        if (pairs == Count)
        {
            interleaved.StoreUnsafe(ref destination);
            return;
        }

        interleaved.CopyTo(scratch);
        scratch[..(2 * pairs)].CopyTo(MemoryMarshal.CreateSpan(ref destination, 2 * pairs));
    }
}
