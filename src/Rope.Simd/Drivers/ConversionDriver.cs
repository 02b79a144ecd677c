using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Drivers;

/// <summary>
/// Span conversions between float32 and a 16-bit element type on one ISA. A block is 2·Count elements: two float
/// registers in natural order, each rounded lane by lane and the two packed in order when narrowing; when widening,
/// the codec's even and odd lane halves zipped back into order. The final block ends exactly at the end and may overlap the previous one (the spans do not overlap each
/// other, so converting an element twice writes the same bits); spans shorter than a block go through stack copies.
/// </summary>
internal static class ConversionDriver<TOps, TVector, TCodec, TElement>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TCodec : IPackedCodec<TElement>
    where TElement : unmanaged
{
    private const int WidestBlock = 32;

    public static void Narrow(ReadOnlySpan<float> source, Span<TElement> destination) => Convert<float, TElement, Narrowing>(source, destination);

    public static void Widen(ReadOnlySpan<TElement> source, Span<float> destination) => Convert<TElement, float, Widening>(source, destination);

    /// <summary>
    /// The 2·Count floats of two registers (<paramref name="low"/> first, in element order) rounded into one register of
    /// elements, as the span conversion rounds them: each register rounded lane by lane, then the two packed in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector NarrowBlock(TVector low, TVector high)
    {
        // float16: the cheap rounding where every value of the block lies in binary16's normal range (exact there),
        // the full one elsewhere: the same bits either way.
        if (typeof(TCodec) == typeof(HalfCodec) && HalfCodec.InFastRange<TOps, TVector>(HalfCodec.RangeKey<TOps, TVector>(low, high)))
        {
            return TOps.PackLowHalves(HalfCodec.NarrowInRange<TOps, TVector>(low), HalfCodec.NarrowInRange<TOps, TVector>(high));
        }

        return TOps.PackLowHalves(TCodec.NarrowToLowHalves<TOps, TVector>(low), TCodec.NarrowToLowHalves<TOps, TVector>(high));
    }

    [SkipLocalsInit]
    private static void Convert<TFrom, TTo, TBlock>(ReadOnlySpan<TFrom> source, Span<TTo> destination)
        where TFrom : unmanaged
        where TTo : unmanaged
        where TBlock : IBlockConversion<TFrom, TTo>
    {
        int block = 2 * TOps.Count;
        int length = source.Length;
        if (length < block)
        {
            Span<TFrom> spillSource = stackalloc TFrom[WidestBlock];
            Span<TTo> spillDestination = stackalloc TTo[WidestBlock];
            spillSource.Clear();
            source.CopyTo(spillSource);
            TBlock.Convert(ref MemoryMarshal.GetReference(spillSource), ref MemoryMarshal.GetReference(spillDestination));
            spillDestination[..length].CopyTo(destination);
            return;
        }

        ref TFrom from = ref MemoryMarshal.GetReference(source);
        ref TTo to = ref MemoryMarshal.GetReference(destination);
        nuint last = (nuint)(length - block);
        for (nuint i = 0; ; i += (nuint)block)
        {
            i = Math.Min(i, last);
            TBlock.Convert(ref Unsafe.Add(ref from, i), ref Unsafe.Add(ref to, i));
            if (i == last)
            {
                break;
            }
        }
    }

    private interface IBlockConversion<TFrom, TTo>
    {
        /// <summary>Converts one block of 2·Count elements.</summary>
        static abstract void Convert(ref TFrom source, ref TTo destination);
    }

    private readonly struct Narrowing : IBlockConversion<float, TElement>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Convert(ref float source, ref TElement destination)
        {
            TVector packed = NarrowBlock(TOps.Load(ref source), TOps.Load(ref Unsafe.Add(ref source, TOps.Count)));
            TOps.Store(packed, ref Unsafe.As<TElement, float>(ref destination));
        }
    }

    private readonly struct Widening : IBlockConversion<TElement, float>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Convert(ref TElement source, ref float destination)
        {
            TCodec.Widen<TOps, TVector>(TOps.Load(ref Unsafe.As<TElement, float>(ref source)), out TVector even, out TVector odd);
            TOps.Store(TOps.ZipLow(even, odd), ref destination);
            TOps.Store(TOps.ZipHigh(even, odd), ref Unsafe.Add(ref destination, TOps.Count));
        }
    }
}
