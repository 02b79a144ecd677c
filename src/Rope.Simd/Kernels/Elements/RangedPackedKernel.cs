using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// <see cref="PackedKernel{TOps, TVector, TCodec, TElement}"/> for a codec with fast conversions exact on a range of
/// values (float16): each block is widened fast, rotated and, if every input and every result is in range, narrowed
/// fast; otherwise (infinity, NaN, zero, subnormals, magnitudes from 2^16 on: rare in activations) the block is redone
/// from its input by the exact kernel, out of line. Same arithmetic, same bits; the slots are the packed kernel's.
/// </summary>
internal readonly struct RangedPackedKernel<TOps, TVector, TCodec, TElement> : IRotationKernel<TElement, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TCodec : IRangedCodec<TElement>
    where TElement : unmanaged
{
    public static int Count => PackedKernel<TOps, TVector, TCodec, TElement>.Count;

    public static bool TwoHeadsPerPass => PackedKernel<TOps, TVector, TCodec, TElement>.TwoHeadsPerPass;

    public static bool HalfSplitSlotsInPairOrder => PackedKernel<TOps, TVector, TCodec, TElement>.HalfSplitSlotsInPairOrder;

    // Slots stay in memory: with the fast path, its checks and the out-of-line exact paths, register-resident blocks
    // would spend the JIT's inlining budget (and measured slower).
    public static int ResidentInterleavedBlocks => 0;

    public static int ResidentHalfSplitBlocks => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load(ref TElement source) => PackedKernel<TOps, TVector, TCodec, TElement>.Load(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(TVector value, ref TElement destination) => PackedKernel<TOps, TVector, TCodec, TElement>.Store(value, ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(ref float row, bool inverse, ref float cos, ref float sin) => PackedKernel<TOps, TVector, TCodec, TElement>.ExpandInterleaved(ref row, inverse, ref cos, ref sin);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(ref float pairs, bool inverse, ref float cos, ref float sin) => PackedKernel<TOps, TVector, TCodec, TElement>.ExpandHalfSplit(ref pairs, inverse, ref cos, ref sin);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleaved(ref float row, bool inverse, out TVector cos, out TVector sin) =>
        PackedKernel<TOps, TVector, TCodec, TElement>.ExpandInterleaved(ref row, inverse, out cos, out sin);

    public static void ExpandHalfSplit(ref float pairs, bool inverse, out TVector cos, out TVector sin) =>
        PackedKernel<TOps, TVector, TCodec, TElement>.ExpandHalfSplit(ref pairs, inverse, out cos, out sin);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplitFromHalves(ref float cosines, ref float sines, bool inverse, ref float cos, ref float sin) =>
        PackedKernel<TOps, TVector, TCodec, TElement>.ExpandHalfSplitFromHalves(ref cosines, ref sines, inverse, ref cos, ref sin);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleavedFromHalves(ref float cosines, ref float sines, int pair, int pairs, bool inverse, ref float cos, ref float sin) =>
        PackedKernel<TOps, TVector, TCodec, TElement>.ExpandInterleavedFromHalves(ref cosines, ref sines, pair, pairs, inverse, ref cos, ref sin);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RotateInterleaved(TVector block, ref float cos, ref float sin) => RotateInterleaved(block, TOps.Load(ref cos), TOps.Load(ref sin));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RotateInterleaved(TVector block, TVector cos, TVector sin)
    {
        // One check for the inputs and the results together; the exact kernel redoes the block from its input.
        TCodec.WidenFast<TOps, TVector>(block, out TVector x, out TVector y);
        TVector key = TCodec.RangeKey<TOps, TVector>(x, y);
        PackedKernel<TOps, TVector, TCodec, TElement>.Rotate(ref x, ref y, cos, sin);
        key = TOps.MaxBits(key, TCodec.RangeKey<TOps, TVector>(x, y));
        return TCodec.InFastRange<TOps, TVector>(key) ? TCodec.NarrowFast<TOps, TVector>(x, y) : InterleavedExactly(block, cos, sin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref TVector first, ref TVector second, ref float cos, ref float sin)
    {
        int count = TOps.Count;
        TCodec.WidenFast<TOps, TVector>(first, out TVector xEven, out TVector xOdd);
        TCodec.WidenFast<TOps, TVector>(second, out TVector yEven, out TVector yOdd);
        TVector key = TOps.MaxBits(TCodec.RangeKey<TOps, TVector>(xEven, xOdd), TCodec.RangeKey<TOps, TVector>(yEven, yOdd));
        PackedKernel<TOps, TVector, TCodec, TElement>.Rotate(ref xEven, ref yEven, TOps.Load(ref cos), TOps.Load(ref sin));
        PackedKernel<TOps, TVector, TCodec, TElement>.Rotate(ref xOdd, ref yOdd, TOps.Load(ref Unsafe.Add(ref cos, count)), TOps.Load(ref Unsafe.Add(ref sin, count)));
        key = TOps.MaxBits(key, TOps.MaxBits(TCodec.RangeKey<TOps, TVector>(xEven, xOdd), TCodec.RangeKey<TOps, TVector>(yEven, yOdd)));
        if (TCodec.InFastRange<TOps, TVector>(key))
        {
            first = TCodec.NarrowFast<TOps, TVector>(xEven, xOdd);
            second = TCodec.NarrowFast<TOps, TVector>(yEven, yOdd);
        }
        else
        {
            (first, second) = HalfSplitExactly(first, second, ref cos, ref sin);
        }
    }

    // A half-split block has no slot form in registers (ResidentHalfSplitBlocks is 0), as for the exact kernel.
    public static void RotateHalfSplit(ref TVector first, ref TVector second, TVector cos, TVector sin) =>
        PackedKernel<TOps, TVector, TCodec, TElement>.RotateHalfSplit(ref first, ref second, cos, sin);

    // The exact paths are out of line: inlined, they would spend the JIT's inlining budget of the loops that use the
    // kernel, and the fast path's helpers would become calls.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static TVector InterleavedExactly(TVector block, TVector cos, TVector sin) => PackedKernel<TOps, TVector, TCodec, TElement>.RotateInterleaved(block, cos, sin);

    // The block goes in and out by value: passing the loop's registers by reference would keep them in memory (address
    // exposed) on the fast path too.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (TVector First, TVector Second) HalfSplitExactly(TVector first, TVector second, ref float cos, ref float sin)
    {
        PackedKernel<TOps, TVector, TCodec, TElement>.RotateHalfSplit(ref first, ref second, ref cos, ref sin);
        return (first, second);
    }
}
