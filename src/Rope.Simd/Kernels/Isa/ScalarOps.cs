using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Elements;

namespace Rope.Simd.Kernels.Isa;

/// <summary>
/// The scalar path's "register": two 32-bit lanes, one interleaved pair or two half-split elements, held as bit
/// patterns so the integer operations of the 16-bit codecs stay plain register operations.
/// </summary>
internal struct LanePair
{
    public uint Low;
    public uint High;

    public LanePair(uint low, uint high)
    {
        Low = low;
        High = high;
    }
}

/// <summary>Plain float32 and integer arithmetic, lane by lane; the path taken when hardware intrinsics are unavailable or disabled.</summary>
internal readonly struct ScalarOps : IVectorOps<LanePair>
{
    public static RopePath Path => RopePath.Scalar;

    public static bool IsSupported => true;

    public static bool IsAccelerated => true;

    public static int RegisterCount => 0;

    public static int Count => 2;

    // Unaligned accesses: 16-bit element buffers are read two elements per lane from any even address.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Load(ref float source) => Unsafe.ReadUnaligned<LanePair>(ref Unsafe.As<float, byte>(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(LanePair value, ref float destination) => Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref destination), value);


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair LoadBFloat16(ref ushort source) => new((uint)source << 16, (uint)Unsafe.Add(ref source, 1) << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Add(LanePair left, LanePair right) =>
        FromSingles(Single(left.Low) + Single(right.Low), Single(left.High) + Single(right.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Subtract(LanePair left, LanePair right) =>
        FromSingles(Single(left.Low) - Single(right.Low), Single(left.High) - Single(right.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Multiply(LanePair left, LanePair right) =>
        FromSingles(Single(left.Low) * Single(right.Low), Single(left.High) * Single(right.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair MultiplyAddEstimate(LanePair left, LanePair right, LanePair addend) => FromSingles(
        float.MultiplyAddEstimate(Single(left.Low), Single(right.Low), Single(addend.Low)),
        float.MultiplyAddEstimate(Single(left.High), Single(right.High), Single(addend.High)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair DuplicateEven(LanePair value) => new(value.Low, value.Low);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair DuplicateOdd(LanePair value) => new(value.High, value.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair SwapPairs(LanePair value) => new(value.High, value.Low);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair UnzipEven(LanePair low, LanePair high) => new(low.Low, high.Low);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair UnzipOdd(LanePair low, LanePair high) => new(low.High, high.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair ZipLow(LanePair even, LanePair odd) => new(even.Low, odd.Low);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair ZipHigh(LanePair even, LanePair odd) => new(even.High, odd.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Broadcast(uint bits) => new(bits, bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair PackLowHalves(LanePair first, LanePair second) => new(first.Low | (first.High << 16), second.Low | (second.High << 16));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair BroadcastPair(uint evenBits, uint oddBits) => new(evenBits, oddBits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair And(LanePair left, LanePair right) => new(left.Low & right.Low, left.High & right.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Or(LanePair left, LanePair right) => new(left.Low | right.Low, left.High | right.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Xor(LanePair left, LanePair right) => new(left.Low ^ right.Low, left.High ^ right.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair AddBits(LanePair left, LanePair right) => new(left.Low + right.Low, left.High + right.High);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair ShiftLeft(LanePair value, [ConstantExpected(Min = 0, Max = 31)] int count) => new(value.Low << count, value.High << count);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair ShiftRightLogical(LanePair value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        new(value.Low >>> count, value.High >>> count);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair ShiftRightArithmetic(LanePair value, [ConstantExpected(Min = 0, Max = 31)] int count) =>
        new((uint)((int)value.Low >> count), (uint)((int)value.High >> count));


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair MaxBits(LanePair left, LanePair right) =>
        new((uint)Math.Max((int)left.Low, (int)right.Low), (uint)Math.Max((int)left.High, (int)right.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyGreaterThanBits(LanePair left, LanePair right) => (int)left.Low > (int)right.Low || (int)left.High > (int)right.High;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair EqualsBits(LanePair left, LanePair right) => new(Mask(left.Low == right.Low), Mask(left.High == right.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair GreaterThanBits(LanePair left, LanePair right) =>
        new(Mask((int)left.Low > (int)right.Low), Mask((int)left.High > (int)right.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair IsNaN(LanePair value) => new(Mask((value.Low & 0x7FFF_FFFF) > 0x7F80_0000), Mask((value.High & 0x7FFF_FFFF) > 0x7F80_0000));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LanePair Select(LanePair mask, LanePair whenTrue, LanePair whenFalse) => new(
        (mask.Low & whenTrue.Low) | (~mask.Low & whenFalse.Low),
        (mask.High & whenTrue.High) | (~mask.High & whenFalse.High));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Single(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static LanePair FromSingles(float low, float high) => new(BitConverter.SingleToUInt32Bits(low), BitConverter.SingleToUInt32Bits(high));

    // All ones or zero, without a branch.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mask(bool condition) => (uint)-(int)Unsafe.BitCast<bool, byte>(condition);

    public static float FoldHalves(LanePair value) => Single(value.Low) + Single(value.High);

    public static LanePair Divide(LanePair left, LanePair right) =>
        FromSingles(Single(left.Low) / Single(right.Low), Single(left.High) / Single(right.High));

    public static LanePair SquareRoot(LanePair value) => FromSingles(MathF.Sqrt(Single(value.Low)), MathF.Sqrt(Single(value.High)));
}
