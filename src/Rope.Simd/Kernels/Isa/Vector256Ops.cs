using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rope.Simd.Kernels.Elements;

namespace Rope.Simd.Kernels.Isa;

/// <summary>256-bit registers on AVX2 with FMA: movsldup/movshdup and vpermilps within pairs; shuffles within 128-bit lanes, then vpermpd or vperm2f128 across them.</summary>
internal readonly struct Vector256Ops : IVectorOps<Vector256<float>>
{
    public static RopePath Path => RopePath.Vector256;

    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    public static bool IsAccelerated => IsSupported && Vector256.IsHardwareAccelerated;

    // With AVX-512 the JIT encodes ymm16-31 too.
    public static int RegisterCount => Avx512F.VL.IsSupported ? 32 : 16;

    public static int Count => Vector256<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadBFloat16(ref ushort source) =>
        Vector256.ShiftLeft(Vector256.WidenLower(Vector128.LoadUnsafe(ref source).ToVector256Unsafe()), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> left, Vector256<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> left, Vector256<float> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> left, Vector256<float> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAddEstimate(Vector256<float> left, Vector256<float> right, Vector256<float> addend) =>
        Vector256.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DuplicateEven(Vector256<float> value) => Avx.DuplicateEvenIndexed(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DuplicateOdd(Vector256<float> value) => Avx.DuplicateOddIndexed(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SwapPairs(Vector256<float> value) => Avx.Permute(value, 0b10_11_00_01);

    // shufps picks within each 128-bit lane: [l0 l2 h0 h2 | l4 l6 h4 h6]; vpermpd 0b11_01_10_00 puts the 64-bit halves in order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> UnzipEven(Vector256<float> low, Vector256<float> high) =>
        Avx2.Permute4x64(Avx.Shuffle(low, high, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> UnzipOdd(Vector256<float> low, Vector256<float> high) =>
        Avx2.Permute4x64(Avx.Shuffle(low, high, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();

    // unpcklps/unpckhps interleave within each 128-bit lane; vperm2f128 then takes the low (high) lanes of both.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ZipLow(Vector256<float> even, Vector256<float> odd) =>
        Avx.Permute2x128(Avx.UnpackLow(even, odd), Avx.UnpackHigh(even, odd), 0x20);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ZipHigh(Vector256<float> even, Vector256<float> odd) =>
        Avx.Permute2x128(Avx.UnpackLow(even, odd), Avx.UnpackHigh(even, odd), 0x31);

    // vpackusdw packs within each 128-bit lane ([f0-3 s0-3 | f4-7 s4-7], exact: every value fits 16 bits); vpermq puts
    // the 64-bit quarters in order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> PackLowHalves(Vector256<float> first, Vector256<float> second) =>
        Avx2.Permute4x64(Avx2.PackUnsignedSaturate(first.AsInt32(), second.AsInt32()).AsInt64(), 0b11_01_10_00).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(uint bits) => Vector256.Create(bits).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BroadcastPair(uint evenBits, uint oddBits) =>
        Vector256.Create(((ulong)oddBits << 32) | evenBits).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> And(Vector256<float> left, Vector256<float> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Or(Vector256<float> left, Vector256<float> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Xor(Vector256<float> left, Vector256<float> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddBits(Vector256<float> left, Vector256<float> right) => (left.AsUInt32() + right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftLeft(Vector256<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector256.ShiftLeft(value.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftRightLogical(Vector256<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector256.ShiftRightLogical(value.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ShiftRightArithmetic(Vector256<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector256.ShiftRightArithmetic(value.AsInt32(), count).AsSingle();


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaxBits(Vector256<float> left, Vector256<float> right) => Vector256.Max(left.AsInt32(), right.AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyGreaterThanBits(Vector256<float> left, Vector256<float> right) => Vector256.GreaterThanAny(left.AsInt32(), right.AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> EqualsBits(Vector256<float> left, Vector256<float> right) =>
        Vector256.Equals(left.AsUInt32(), right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GreaterThanBits(Vector256<float> left, Vector256<float> right) =>
        Vector256.GreaterThan(left.AsInt32(), right.AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> IsNaN(Vector256<float> value) => Vector256.IsNaN(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> whenTrue, Vector256<float> whenFalse) =>
        Vector256.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FoldHalves(Vector256<float> value) => Vector128Ops.FoldHalves(value.GetLower() + value.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> left, Vector256<float> right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SquareRoot(Vector256<float> value) => Vector256.Sqrt(value);
}
