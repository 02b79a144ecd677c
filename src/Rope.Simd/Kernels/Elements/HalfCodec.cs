using System.Runtime.CompilerServices;

namespace Rope.Simd.Kernels;

/// <summary>
/// IEEE binary16 (<see cref="Half"/>) by integer and float32 operations, the same bits as the runtime's scalar
/// conversions (<c>(float)half</c> and <c>(Half)single</c>) for every input: widening moves exponent and mantissa into
/// place and rebiases, with subnormals normalized by one exact float subtraction; narrowing rounds to nearest even
/// by integer addition for normal results and by one exact-then-rounded float addition for subnormal ones.
/// NaN keeps its sign and upper payload bits and becomes quiet in both directions.
/// </summary>
internal readonly struct HalfCodec : IPackedCodec<Half>
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
        TOps.Or(FromSingle<TOps, TVector>(low), TOps.ShiftLeft(FromSingle<TOps, TVector>(high), 16));

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
}
