using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rope.Simd.Kernels.Elements;

namespace Rope.Simd.Kernels.Isa;

/// <summary>512-bit registers on AVX-512F: movsldup/movshdup and vpermilps within pairs, vpermt2ps across the register.</summary>
internal readonly struct Vector512Ops : IVectorOps<Vector512<float>>
{
    public static RopePath Path => RopePath.Vector512;

    public static bool IsSupported => Avx512F.IsSupported;

    public static bool IsAccelerated => IsSupported && Vector512.IsHardwareAccelerated;

    public static int RegisterCount => 32;

    public static int Count => Vector512<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadBFloat16(ref ushort source) =>
        Vector512.ShiftLeft(Vector512.WidenLower(Vector256.LoadUnsafe(ref source).ToVector512Unsafe()), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> left, Vector512<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> left, Vector512<float> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> left, Vector512<float> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAddEstimate(Vector512<float> left, Vector512<float> right, Vector512<float> addend) =>
        Vector512.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DuplicateEven(Vector512<float> value) => Avx512F.DuplicateEvenIndexed(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DuplicateOdd(Vector512<float> value) => Avx512F.DuplicateOddIndexed(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SwapPairs(Vector512<float> value) => Avx512F.Permute4x32(value, 0b10_11_00_01);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> UnzipEven(Vector512<float> low, Vector512<float> high) =>
        Avx512F.PermuteVar16x32x2(low, Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> UnzipOdd(Vector512<float> low, Vector512<float> high) =>
        Avx512F.PermuteVar16x32x2(low, Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ZipLow(Vector512<float> even, Vector512<float> odd) =>
        Avx512F.PermuteVar16x32x2(even, Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), odd);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ZipHigh(Vector512<float> even, Vector512<float> odd) =>
        Avx512F.PermuteVar16x32x2(even, Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), odd);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(uint bits) => Vector512.Create(bits).AsSingle();

    // Truncating narrows (vpmovdw) of each register, joined: exact, every value fits 16 bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> PackLowHalves(Vector512<float> first, Vector512<float> second) =>
        Vector512.Narrow(first.AsUInt32(), second.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BroadcastPair(uint evenBits, uint oddBits) =>
        Vector512.Create(((ulong)oddBits << 32) | evenBits).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> And(Vector512<float> left, Vector512<float> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Or(Vector512<float> left, Vector512<float> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Xor(Vector512<float> left, Vector512<float> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddBits(Vector512<float> left, Vector512<float> right) => (left.AsUInt32() + right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftLeft(Vector512<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector512.ShiftLeft(value.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftRightLogical(Vector512<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector512.ShiftRightLogical(value.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ShiftRightArithmetic(Vector512<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector512.ShiftRightArithmetic(value.AsInt32(), count).AsSingle();


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaxBits(Vector512<float> left, Vector512<float> right) => Vector512.Max(left.AsInt32(), right.AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyGreaterThanBits(Vector512<float> left, Vector512<float> right) => Vector512.GreaterThanAny(left.AsInt32(), right.AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> EqualsBits(Vector512<float> left, Vector512<float> right) =>
        Vector512.Equals(left.AsUInt32(), right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> GreaterThanBits(Vector512<float> left, Vector512<float> right) =>
        Vector512.GreaterThan(left.AsInt32(), right.AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> IsNaN(Vector512<float> value) => Vector512.IsNaN(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> whenTrue, Vector512<float> whenFalse) =>
        Vector512.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FoldHalves(Vector512<float> value) => Vector256Ops.FoldHalves(value.GetLower() + value.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> left, Vector512<float> right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SquareRoot(Vector512<float> value) => Vector512.Sqrt(value);
}
