using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Rope.Simd.Kernels.Elements;

namespace Rope.Simd.Kernels.Isa;

/// <summary>128-bit registers: SSE shuffles on x64, AdvSimd (NEON) trn/uzp/zip/rev64 on ARM64.</summary>
internal readonly struct Vector128Ops : IVectorOps<Vector128<float>>
{
    public static RopePath Path => RopePath.Vector128;

    public static bool IsSupported => Vector128.IsHardwareAccelerated && (Sse.IsSupported || AdvSimd.Arm64.IsSupported);

    public static bool IsAccelerated => IsSupported;

    // ARM64 has 32 vector registers; x64 has xmm16-31 with AVX-512.
    public static int RegisterCount => AdvSimd.Arm64.IsSupported || Avx512F.VL.IsSupported ? 32 : 16;

    public static int Count => Vector128<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source) => Vector128.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination) => value.StoreUnsafe(ref destination);


    // Four values are 8 bytes: one scalar load, then zero-extended to 32-bit lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadBFloat16(ref ushort source) =>
        Vector128.ShiftLeft(Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<ushort, byte>(ref source))).AsUInt16()), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> left, Vector128<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> left, Vector128<float> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> left, Vector128<float> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAddEstimate(Vector128<float> left, Vector128<float> right, Vector128<float> addend) =>
        Vector128.MultiplyAddEstimate(left, right, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DuplicateEven(Vector128<float> value) =>
        Sse.IsSupported ? Sse.Shuffle(value, value, 0b10_10_00_00) : AdvSimd.Arm64.TransposeEven(value, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DuplicateOdd(Vector128<float> value) =>
        Sse.IsSupported ? Sse.Shuffle(value, value, 0b11_11_01_01) : AdvSimd.Arm64.TransposeOdd(value, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SwapPairs(Vector128<float> value) =>
        Sse.IsSupported ? Sse.Shuffle(value, value, 0b10_11_00_01) : AdvSimd.ReverseElement32(value.AsUInt64()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> UnzipEven(Vector128<float> low, Vector128<float> high) =>
        Sse.IsSupported ? Sse.Shuffle(low, high, 0b10_00_10_00) : AdvSimd.Arm64.UnzipEven(low, high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> UnzipOdd(Vector128<float> low, Vector128<float> high) =>
        Sse.IsSupported ? Sse.Shuffle(low, high, 0b11_01_11_01) : AdvSimd.Arm64.UnzipOdd(low, high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ZipLow(Vector128<float> even, Vector128<float> odd) =>
        Sse.IsSupported ? Sse.UnpackLow(even, odd) : AdvSimd.Arm64.ZipLow(even, odd);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ZipHigh(Vector128<float> even, Vector128<float> odd) =>
        Sse.IsSupported ? Sse.UnpackHigh(even, odd) : AdvSimd.Arm64.ZipHigh(even, odd);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(uint bits) => Vector128.Create(bits).AsSingle();

    // uzp1 of 16-bit elements on ARM64; packusdw (SSE4.1, exact: every value fits 16 bits) on x64, the runtime's
    // truncating narrow without it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> PackLowHalves(Vector128<float> first, Vector128<float> second) =>
        AdvSimd.Arm64.IsSupported ? AdvSimd.Arm64.UnzipEven(first.AsUInt16(), second.AsUInt16()).AsSingle()
        : Sse41.IsSupported ? Sse41.PackUnsignedSaturate(first.AsInt32(), second.AsInt32()).AsSingle()
        : Vector128.Narrow(first.AsUInt32(), second.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> BroadcastPair(uint evenBits, uint oddBits) =>
        Vector128.Create(((ulong)oddBits << 32) | evenBits).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> And(Vector128<float> left, Vector128<float> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Or(Vector128<float> left, Vector128<float> right) => left | right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Xor(Vector128<float> left, Vector128<float> right) => left ^ right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AddBits(Vector128<float> left, Vector128<float> right) => (left.AsUInt32() + right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftLeft(Vector128<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector128.ShiftLeft(value.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftRightLogical(Vector128<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector128.ShiftRightLogical(value.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ShiftRightArithmetic(Vector128<float> value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        Vector128.ShiftRightArithmetic(value.AsInt32(), count).AsSingle();


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MaxBits(Vector128<float> left, Vector128<float> right) => Vector128.Max(left.AsInt32(), right.AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyGreaterThanBits(Vector128<float> left, Vector128<float> right) => Vector128.GreaterThanAny(left.AsInt32(), right.AsInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> EqualsBits(Vector128<float> left, Vector128<float> right) =>
        Vector128.Equals(left.AsUInt32(), right.AsUInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> GreaterThanBits(Vector128<float> left, Vector128<float> right) =>
        Vector128.GreaterThan(left.AsInt32(), right.AsInt32()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> IsNaN(Vector128<float> value) => Vector128.IsNaN(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Select(Vector128<float> mask, Vector128<float> whenTrue, Vector128<float> whenFalse) =>
        Vector128.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FoldHalves(Vector128<float> value)
    {
        Vector128<float> pairs = value + Vector128.Shuffle(value, Vector128.Create(2, 3, 0, 1));
        return pairs.ToScalar() + pairs.GetElement(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Divide(Vector128<float> left, Vector128<float> right) => left / right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SquareRoot(Vector128<float> value) => Vector128.Sqrt(value);
}
