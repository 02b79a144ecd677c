using System.Diagnostics;
using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// Rotation of 16-bit elements (bfloat16, float16) in registers of <typeparamref name="TOps"/>: a block is one register
/// of 2·Count elements, widened exactly by <typeparamref name="TCodec"/> into a register of low-half elements and one of
/// high-half elements, rotated in float32, and rounded once on the way back.
/// </summary>
/// <remarks>
/// Both layouts reduce to a' = a·c − b·s, b' = a·s + b·c on whole registers (s negated for the inverse), evaluated as
/// two products and one sum, each rounded to float32 with no fused multiply-add, so every path and every CPU produces
/// the same bits. Interleaved: a lane holds one pair, so a is the low half and b the high half, and the slots hold
/// [c_k, c_k+1, ...] and [s_k, ...] of the block's pairs. Half-split: the low halves of a block hold its even
/// elements and the high halves its odd ones, so each slot holds the even elements' cos (sin) then the odd ones'.
/// </remarks>
internal readonly struct PackedKernel<TOps, TVector, TCodec, TElement> : IRotationKernel<TElement, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TCodec : IPackedCodec<TElement>
    where TElement : unmanaged
{
    private const uint SignBit = 0x8000_0000;

    public static int Count => 2 * TOps.Count;

    public static bool TwoHeadsPerPass => false;

    public static bool HalfSplitSlotsInPairOrder => false;

    // An interleaved block's slots are one register each; the codec needs about half the registers for itself.
    public static int ResidentInterleavedBlocks
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Math.Clamp((TOps.RegisterCount - 16) / 2, 0, 8);
    }

    // A half-split block's slots are two registers each (even and odd elements): loaded per block.
    public static int ResidentHalfSplitBlocks => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load(ref TElement source) => TOps.Load(ref Unsafe.As<TElement, float>(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(TVector value, ref TElement destination) => TOps.Store(value, ref Unsafe.As<TElement, float>(ref destination));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(ref float row, bool inverse, ref float cos, ref float sin)
    {
        ExpandInterleaved(ref row, inverse, out TVector cosines, out TVector sines);
        TOps.Store(cosines, ref cos);
        TOps.Store(sines, ref sin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(ref float row, bool inverse, out TVector cos, out TVector sin)
    {
        SplitRow(ref row, inverse, out TVector c, out TVector s);
        cos = TCodec.SlotValues<TOps, TVector>(c);
        sin = TCodec.SlotValues<TOps, TVector>(s);
    }

    // A half-split block's slots are two registers each; with no resident half-split blocks the driver never asks for this form.
    public static void ExpandHalfSplit(ref float pairs, bool inverse, out TVector cos, out TVector sin) => throw new UnreachableException();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(ref float pairs, bool inverse, ref float cos, ref float sin)
    {
        int count = TOps.Count;
        SplitRow(ref pairs, inverse, out TVector cosLow, out TVector sinLow);
        SplitRow(ref Unsafe.Add(ref pairs, 2 * count), inverse, out TVector cosHigh, out TVector sinHigh);
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipEven(cosLow, cosHigh)), ref cos);
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipOdd(cosLow, cosHigh)), ref Unsafe.Add(ref cos, count));
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipEven(sinLow, sinHigh)), ref sin);
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipOdd(sinLow, sinHigh)), ref Unsafe.Add(ref sin, count));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplitFromHalves(ref float cosines, ref float sines, bool inverse, ref float cos, ref float sin)
    {
        // The same slots as ExpandHalfSplit: its SplitRow de-interleaves what these runs already hold apart.
        int count = TOps.Count;
        TVector cosLow = TOps.Load(ref cosines), cosHigh = TOps.Load(ref Unsafe.Add(ref cosines, count));
        TVector sinLow = TOps.Load(ref sines), sinHigh = TOps.Load(ref Unsafe.Add(ref sines, count));
        if (inverse)
        {
            sinLow = TOps.Xor(sinLow, TOps.Broadcast(SignBit));
            sinHigh = TOps.Xor(sinHigh, TOps.Broadcast(SignBit));
        }

        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipEven(cosLow, cosHigh)), ref cos);
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipOdd(cosLow, cosHigh)), ref Unsafe.Add(ref cos, count));
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipEven(sinLow, sinHigh)), ref sin);
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.UnzipOdd(sinLow, sinHigh)), ref Unsafe.Add(ref sin, count));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleavedFromHalves(ref float cosines, ref float sines, int pair, int pairs, bool inverse, ref float cos, ref float sin)
    {
        // A block holds one vector of pairs, and its slots hold their cosines and sines in pair order: plain loads.
        TVector s = TOps.Load(ref Unsafe.Add(ref sines, pair));
        TOps.Store(TCodec.SlotValues<TOps, TVector>(TOps.Load(ref Unsafe.Add(ref cosines, pair))), ref cos);
        TOps.Store(TCodec.SlotValues<TOps, TVector>(inverse ? TOps.Xor(s, TOps.Broadcast(SignBit)) : s), ref sin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RotateInterleaved(TVector block, ref float cos, ref float sin) => RotateInterleaved(block, TOps.Load(ref cos), TOps.Load(ref sin));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RotateInterleaved(TVector block, TVector cos, TVector sin)
    {
        TCodec.Widen<TOps, TVector>(block, out TVector a, out TVector b);
        Rotate(ref a, ref b, cos, sin);
        return TCodec.NarrowRotated<TOps, TVector>(a, b);
    }

    // A half-split block's slots are two registers each; with no resident half-split blocks the driver never asks for this form.
    public static void RotateHalfSplit(ref TVector first, ref TVector second, TVector cos, TVector sin) => throw new UnreachableException();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref TVector first, ref TVector second, ref float cos, ref float sin)
    {
        int count = TOps.Count;
        TCodec.Widen<TOps, TVector>(first, out TVector aEven, out TVector aOdd);
        TCodec.Widen<TOps, TVector>(second, out TVector bEven, out TVector bOdd);
        Rotate(ref aEven, ref bEven, TOps.Load(ref cos), TOps.Load(ref sin));
        Rotate(ref aOdd, ref bOdd, TOps.Load(ref Unsafe.Add(ref cos, count)), TOps.Load(ref Unsafe.Add(ref sin, count)));
        first = TCodec.NarrowRotated<TOps, TVector>(aEven, aOdd);
        second = TCodec.NarrowRotated<TOps, TVector>(bEven, bOdd);
    }

    /// <summary>cos and sin of the Count pairs in 2·Count row floats, sin negated for the inverse.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SplitRow(ref float row, bool inverse, out TVector cos, out TVector sin)
    {
        TVector low = TOps.Load(ref row), high = TOps.Load(ref Unsafe.Add(ref row, TOps.Count));
        cos = TOps.UnzipEven(low, high);
        sin = TOps.UnzipOdd(low, high);
        if (inverse)
        {
            sin = TOps.Xor(sin, TOps.Broadcast(SignBit));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Rotate(ref TVector a, ref TVector b, TVector cos, TVector sin)
    {
        TVector first = TOps.Subtract(TOps.Multiply(a, cos), TOps.Multiply(b, sin));
        b = TOps.Add(TOps.Multiply(a, sin), TOps.Multiply(b, cos));
        a = first;
    }
}
