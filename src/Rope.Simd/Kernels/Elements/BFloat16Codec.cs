using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// bfloat16 is the upper half of a float32: widening is a shift (low half) or a mask (high half); narrowing adds
/// 0x7FFF plus the lowest kept bit and drops the lower 16 bits, which rounds to nearest even across every exponent,
/// subnormals and the overflow to infinity included. NaN would round to infinity or flip its sign that way, so it
/// keeps its upper bits with the quiet bit set instead.
/// </summary>
/// <remarks>
/// Rotation results skip that NaN case: a NaN result is an operand's NaN made quiet, or the default NaN, and its lower
/// 16 bits are zero when every operand's are: widened elements have none, and <see cref="SlotValues"/> clears them in
/// NaN slot values (setting the quiet bit, which the result would get anyway). Adding 0x7FFF plus the lowest kept bit
/// then carries nothing into the upper half, which already holds the quiet NaN the exact rule keeps.
/// </remarks>
internal readonly struct BFloat16Codec : IPackedCodec<BFloat16>
{
    private const uint HighHalf = 0xFFFF_0000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen<TOps, TVector>(TVector packed, out TVector low, out TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        low = TOps.ShiftLeft(packed, 16);
        high = TOps.And(packed, TOps.Broadcast(HighHalf));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Narrow<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        UpperHalves<TOps, TVector>(RoundToHighHalf<TOps, TVector>(low), RoundToHighHalf<TOps, TVector>(high));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowToLowHalves<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.ShiftRightLogical(RoundToHighHalf<TOps, TVector>(value), 16);

    /// <summary>The float32 bits with the rounded bfloat16 in the upper 16 bits (the lower 16 are garbage).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector RoundToHighHalf<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        return TOps.Select(TOps.IsNaN(value), TOps.Or(value, TOps.Broadcast(BFloat16.QuietBit << 16)), Rounded<TOps, TVector>(value));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowRotated<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        UpperHalves<TOps, TVector>(Rounded<TOps, TVector>(low), Rounded<TOps, TVector>(high));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector SlotValues<TOps, TVector>(TVector values)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.Select(TOps.IsNaN(values), TOps.Or(TOps.And(values, TOps.Broadcast(HighHalf)), TOps.Broadcast(BFloat16.QuietBit << 16)), values);

    /// <summary>The float32 bits rounded to nearest even at bit 16 (the lower 16 are garbage); not for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Rounded<TOps, TVector>(TVector value)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.AddBits(TOps.AddBits(value, TOps.Broadcast(0x7FFF)), TOps.And(TOps.ShiftRightLogical(value, 16), TOps.Broadcast(1)));

    /// <summary>The upper 16 bits of each lane of <paramref name="low"/> in the low half, those of <paramref name="high"/> in the high half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector UpperHalves<TOps, TVector>(TVector low, TVector high)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.Or(TOps.ShiftRightLogical(low, 16), TOps.And(high, TOps.Broadcast(HighHalf)));
}
