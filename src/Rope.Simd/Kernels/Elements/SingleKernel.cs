using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// float32 rotation in registers of <typeparamref name="TOps"/>: a block is one register.
/// Interleaved: x' = x·cos + swapPairs(x)·sin with cos = [c0, c0, c1, c1, ...] and sin = [−s0, s0, −s1, s1, ...]
/// (signs flipped for the inverse). Half-split: a' = a·cos − b·sin, b' = b·cos + a·sin, sin negated for the inverse.
/// Each product pair is combined as <typeparamref name="TProducts"/> says: one multiply-add, fused where the ISA has
/// FMA (float32 results), or two products and one sum each rounded (results rounded on to 16 bits, the same bits on
/// every path).
/// </summary>
internal readonly struct SingleKernel<TOps, TVector, TProducts> : IRotationKernel<float, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TProducts : IProductSum
{
    private const uint SignBit = 0x8000_0000;

    public static int Count => TOps.Count;

    public static bool TwoHeadsPerPass => true;

    public static bool HalfSplitSlotsInPairOrder => true;

    // Eight blocks (16 registers) cover a rotary dim of 128 interleaved at 512 bits; loads and results need the rest.
    public static int ResidentInterleavedBlocks
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Math.Clamp((TOps.RegisterCount - 8) / 2, 0, 8);
    }

    public static int ResidentHalfSplitBlocks => ResidentInterleavedBlocks;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load(ref float source) => TOps.Load(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(TVector value, ref float destination) => TOps.Store(value, ref destination);

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
        TVector pairs = TOps.Load(ref row);
        TVector signs = inverse ? TOps.BroadcastPair(0, SignBit) : TOps.BroadcastPair(SignBit, 0);
        cos = TOps.DuplicateEven(pairs);
        sin = TOps.Xor(TOps.DuplicateOdd(pairs), signs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(ref float pairs, bool inverse, ref float cos, ref float sin)
    {
        ExpandHalfSplit(ref pairs, inverse, out TVector cosines, out TVector sines);
        TOps.Store(cosines, ref cos);
        TOps.Store(sines, ref sin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplit(ref float pairs, bool inverse, out TVector cos, out TVector sin)
    {
        TVector low = TOps.Load(ref pairs), high = TOps.Load(ref Unsafe.Add(ref pairs, TOps.Count));
        cos = TOps.UnzipEven(low, high);
        TVector sines = TOps.UnzipOdd(low, high);
        sin = inverse ? TOps.Xor(sines, TOps.Broadcast(SignBit)) : sines;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandHalfSplitFromHalves(ref float cosines, ref float sines, bool inverse, ref float cos, ref float sin)
    {
        TOps.Store(TOps.Load(ref cosines), ref cos);
        TVector values = TOps.Load(ref sines);
        TOps.Store(inverse ? TOps.Xor(values, TOps.Broadcast(SignBit)) : values, ref sin);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExpandInterleavedFromHalves(ref float cosines, ref float sines, int pair, int pairs, bool inverse, ref float cos, ref float sin)
    {
        // A block holds Count/2 pairs: one load of Count cosines covers two blocks (the low or the high half of the load),
        // taken from inside the runs; a block that no such load lines up with is written value by value.
        int count = TOps.Count, half = count / 2;
        if (pairs >= count)
        {
            int load = Math.Min(pair, pairs - count), offset = pair - load;
            if (offset == 0 || offset == half)
            {
                TVector c = TOps.Load(ref Unsafe.Add(ref cosines, load)), s = TOps.Load(ref Unsafe.Add(ref sines, load));
                TVector signs = inverse ? TOps.BroadcastPair(0, SignBit) : TOps.BroadcastPair(SignBit, 0);
                TOps.Store(offset == 0 ? TOps.ZipLow(c, c) : TOps.ZipHigh(c, c), ref cos);
                TOps.Store(TOps.Xor(offset == 0 ? TOps.ZipLow(s, s) : TOps.ZipHigh(s, s), signs), ref sin);
                return;
            }
        }

        for (int k = 0; k < half; k++)
        {
            float c = Unsafe.Add(ref cosines, pair + k);
            int s = BitConverter.SingleToInt32Bits(Unsafe.Add(ref sines, pair + k)), negated = s ^ int.MinValue;
            Unsafe.Add(ref cos, 2 * k) = Unsafe.Add(ref cos, 2 * k + 1) = c;
            Unsafe.Add(ref sin, 2 * k) = BitConverter.Int32BitsToSingle(inverse ? s : negated);
            Unsafe.Add(ref sin, 2 * k + 1) = BitConverter.Int32BitsToSingle(inverse ? negated : s);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RotateInterleaved(TVector block, ref float cos, ref float sin) => RotateInterleaved(block, TOps.Load(ref cos), TOps.Load(ref sin));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector RotateInterleaved(TVector block, TVector cos, TVector sin) =>
        TProducts.MultiplyAdd<TOps, TVector>(TOps.SwapPairs(block), sin, TOps.Multiply(block, cos));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref TVector first, ref TVector second, ref float cos, ref float sin) =>
        RotateHalfSplit(ref first, ref second, TOps.Load(ref cos), TOps.Load(ref sin));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotateHalfSplit(ref TVector first, ref TVector second, TVector cos, TVector sin)
    {
        TVector a = first, b = second;
        first = TProducts.MultiplyAdd<TOps, TVector>(TOps.Xor(b, TOps.Broadcast(SignBit)), sin, TOps.Multiply(a, cos));
        second = TProducts.MultiplyAdd<TOps, TVector>(a, sin, TOps.Multiply(b, cos));
    }
}
