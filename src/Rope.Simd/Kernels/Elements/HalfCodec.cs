using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// IEEE binary16 (<see cref="Half"/>) by integer and float32 operations, the same bits as the runtime's scalar
/// conversions (<c>(float)half</c> and <c>(Half)single</c>) for every input: widening moves exponent and mantissa into
/// place and rebiases, with subnormals normalized by one exact float subtraction; narrowing rounds to nearest even
/// by integer addition for normal results and by one exact-then-rounded float addition for subnormal ones.
/// NaN keeps its sign and upper payload bits and becomes quiet in both directions.
/// </summary>
/// <remarks>
/// The fast conversions cover magnitudes in [2^-14, 2^16), binary16's normal range and the values that round to its
/// infinity, with float32 arithmetic that never meets a float32 subnormal, so a host's flush-to-zero modes do not
/// change them. Widening: the binary16 bits shifted to the top of the lane and arithmetically back by 3 put sign,
/// exponent and mantissa where float32 keeps them, a value 2^112 times too small, so one multiply by 2^112 makes it
/// exact (infinity, NaN, zero and subnormals come out outside the range and are redone exactly). Narrowing: adding and
/// subtracting 2^(e+13), e the value's exponent, rounds it to binary16's 11 significant bits, to nearest even, by the
/// FPU; multiplied by 2^-112 its float32 exponent and upper mantissa bits are the binary16 ones (65536 becomes
/// infinity's pattern).
/// </remarks>
internal readonly struct HalfCodec : IRangedCodec<Half>
{
    private const uint HalfSignBit = 0x8000;
    private const uint HalfMagnitude = 0x7FFF;
    private const int MantissaShift = 23 - 10;
    private const uint RebiasToSingle = (127 - 15) << 23;
    // float32 exponent field of a binary16 infinity or NaN once shifted into place.
    private const uint ShiftedInfinity = 0x1Fu << 23;
    // 2^-14, the smallest normal binary16, as float32 bits.
    private const uint SmallestNormal = (127 - 14) << 23;
    // 65520: halfway between the largest binary16 (65504) and 2^16; rounds to infinity.
    private const uint OverflowThreshold = 0x477F_F000;
    // 0.5f: adding it rounds a value below 2^-14 to the binary16 subnormal spacing 2^-24.
    private const uint SubnormalRounder = 0x3F00_0000;
    private const uint SingleInfinity = 0x7F80_0000;
    private const uint SingleQuietBit = 0x0040_0000;
    // 2^112 and 2^-112 as float32 bits: the gap between the two formats' exponent biases.
    private const uint BiasGap = (127 + 112) << 23, InverseBiasGap = (127 - 112) << 23;
    // Sign, exponent and mantissa once the binary16 bits sit at 31, 27..23 and 22..13.
    private const uint ShiftedHalf = 0x8FFF_E000;
    private const uint FastRangeShift = 0x8000_0000 - SmallestNormal;
    private const int FastRangeTop = unchecked((int)(0x8000_0000 + 0x4780_0000 - SmallestNormal - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen<TOps, TVector>(TVector packed, out TVector low, out TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        low = ToSingle<TOps, TVector>(TOps.And(packed, TOps.Broadcast(0xFFFF)));
        high = ToSingle<TOps, TVector>(TOps.ShiftRightLogical(packed, 16));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Narrow<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        Packed<TOps, TVector>(FromSingle<TOps, TVector>(low), FromSingle<TOps, TVector>(high));

    /// <summary>float32 values of binary16 bit patterns held in the low 16 bits of each lane (upper bits zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector ToSingle<TOps, TVector>(TVector bits)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        TVector sign = TOps.ShiftLeft(TOps.And(bits, TOps.Broadcast(HalfSignBit)), 16);
        TVector magnitude = TOps.ShiftLeft(TOps.And(bits, TOps.Broadcast(HalfMagnitude)), MantissaShift);
        TVector exponent = TOps.And(magnitude, TOps.Broadcast(ShiftedInfinity));
        TVector normal = TOps.AddBits(magnitude, TOps.Broadcast(RebiasToSingle));
        TVector quietIfNaN = TOps.And(TOps.GreaterThanBits(magnitude, TOps.Broadcast(ShiftedInfinity)), TOps.Broadcast(SingleQuietBit));
        TVector infinityOrNaN = TOps.Or(TOps.AddBits(normal, TOps.Broadcast(RebiasToSingle)), quietIfNaN);
        // Subnormal m·2^-24: the float 2^-14·(1 + m·2^-10) minus 2^-14, both exact.
        TVector subnormal = TOps.Subtract(TOps.AddBits(magnitude, TOps.Broadcast(SmallestNormal)), TOps.Broadcast(SmallestNormal));
        TVector result = TOps.Select(TOps.EqualsBits(exponent, TOps.Broadcast(ShiftedInfinity)), infinityOrNaN, normal);
        result = TOps.Select(TOps.EqualsBits(exponent, default), subnormal, result);
        return TOps.Or(result, sign);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowToLowHalves<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct => FromSingle<TOps, TVector>(value);

    /// <summary>binary16 bit patterns, in the low 16 bits of each lane (upper bits zero), of float32 values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector FromSingle<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        TVector sign = TOps.And(TOps.ShiftRightLogical(value, 16), TOps.Broadcast(HalfSignBit));
        TVector magnitude = TOps.And(value, TOps.Broadcast(0x7FFF_FFFF));
        TVector lowestKeptBit = TOps.And(TOps.ShiftRightLogical(magnitude, MantissaShift), TOps.Broadcast(1));
        TVector normal = TOps.ShiftRightLogical(
            TOps.AddBits(TOps.AddBits(magnitude, TOps.Broadcast(unchecked(0u - RebiasToSingle + 0xFFF))), lowestKeptBit), MantissaShift);
        TVector subnormal = TOps.AddBits(TOps.Add(magnitude, TOps.Broadcast(SubnormalRounder)), TOps.Broadcast(unchecked(0u - SubnormalRounder)));
        TVector nan = TOps.Or(TOps.And(TOps.ShiftRightLogical(magnitude, MantissaShift), TOps.Broadcast(0x3FF)), TOps.Broadcast(0x7E00));
        TVector result = TOps.Select(TOps.GreaterThanBits(TOps.Broadcast(SmallestNormal), magnitude), subnormal, normal);
        result = TOps.Select(TOps.GreaterThanBits(magnitude, TOps.Broadcast(OverflowThreshold - 1)), TOps.Broadcast(0x7C00), result);
        result = TOps.Select(TOps.GreaterThanBits(magnitude, TOps.Broadcast(SingleInfinity)), nan, result);
        return TOps.Or(result, sign);
    }

    // NaN results take the exact narrowing here, whatever their payload: slots need nothing.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowRotated<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct => Narrow<TOps, TVector>(low, high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector SlotValues<TOps, TVector>(TVector values)
        where TOps : IVectorOps<TVector>
        where TVector : struct => values;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WidenFast<TOps, TVector>(TVector packed, out TVector low, out TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        TVector scale = TOps.Broadcast(BiasGap), fields = TOps.Broadcast(ShiftedHalf);
        low = TOps.Multiply(TOps.And(TOps.ShiftRightArithmetic(TOps.ShiftLeft(packed, 16), 3), fields), scale);
        high = TOps.Multiply(TOps.And(TOps.ShiftRightArithmetic(packed, 3), fields), scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowFast<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        Packed<TOps, TVector>(NarrowInRange<TOps, TVector>(low), NarrowInRange<TOps, TVector>(high));

    // Magnitude bits plus 2^31 - 2^-14's bits, read as signed: in range exactly up to FastRangeTop (magnitudes below
    // 2^-14 wrap to large values, those from 2^16 on exceed the top), so one maximum combines lanes and registers.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RangeKey<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        TVector magnitude = TOps.Broadcast(0x7FFF_FFFF), shift = TOps.Broadcast(FastRangeShift);
        return TOps.MaxBits(TOps.AddBits(TOps.And(low, magnitude), shift), TOps.AddBits(TOps.And(high, magnitude), shift));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InFastRange<TOps, TVector>(TVector key)
        where TOps : IVectorOps<TVector>
        where TVector : struct => !TOps.AnyGreaterThanBits(key, TOps.Broadcast(unchecked((uint)FastRangeTop)));

    /// <summary>binary16 bits (low 16 bits of each lane, upper 16 zero) of values whose magnitudes lie in [2^-14, 2^16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowInRange<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        TVector magnitude = TOps.And(value, TOps.Broadcast(0x7FFF_FFFF));
        TVector rounder = TOps.AddBits(TOps.And(magnitude, TOps.Broadcast(SingleInfinity)), TOps.Broadcast(13 << 23));
        TVector rounded = TOps.Subtract(TOps.Add(magnitude, rounder), rounder);
        TVector bits = TOps.ShiftRightLogical(TOps.Multiply(rounded, TOps.Broadcast(InverseBiasGap)), MantissaShift);
        return TOps.Or(bits, TOps.And(TOps.ShiftRightLogical(value, 16), TOps.Broadcast(HalfSignBit)));
    }

    /// <summary>Two registers of binary16 bits (low 16 bits of each lane) packed into one, low then high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Packed<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct => TOps.Or(low, TOps.ShiftLeft(high, 16));
}
