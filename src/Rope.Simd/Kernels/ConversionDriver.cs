using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Kernels;

/// <summary>
/// Span conversions between float32 and a 16-bit element type on one ISA. A block is 2·Count elements: two float
/// registers in natural order, unzipped into even and odd elements for the codec's lane halves (zipped back when
/// widening). The final block ends exactly at the end and may overlap the previous one (the spans do not overlap each
/// other, so converting an element twice writes the same bits); spans shorter than a block go through stack copies.
/// </summary>
internal static class ConversionDriver<TOps, TVector, TCodec, TElement>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TCodec : IPackedCodec<TElement>
    where TElement : unmanaged
{
    private const int WidestBlock = 32;

    [SkipLocalsInit]
    public static void Narrow(ReadOnlySpan<float> source, Span<TElement> destination)
    {
        int block = 2 * TOps.Count;
        int length = source.Length;
        if (length < block)
        {
            Span<float> spillSource = stackalloc float[WidestBlock];
            Span<TElement> spillDestination = stackalloc TElement[WidestBlock];
            spillSource.Clear();
            source.CopyTo(spillSource);
            NarrowBlock(ref MemoryMarshal.GetReference(spillSource), ref MemoryMarshal.GetReference(spillDestination));
            spillDestination[..length].CopyTo(destination);
            return;
        }

        ref float from = ref MemoryMarshal.GetReference(source);
        ref TElement to = ref MemoryMarshal.GetReference(destination);
        nuint last = (nuint)(length - block);
        for (nuint i = 0; ; i += (nuint)block)
        {
            i = Math.Min(i, last);
            NarrowBlock(ref Unsafe.Add(ref from, i), ref Unsafe.Add(ref to, i));
            if (i == last)
            {
                break;
            }
        }
    }

    [SkipLocalsInit]
    public static void Widen(ReadOnlySpan<TElement> source, Span<float> destination)
    {
        int block = 2 * TOps.Count;
        int length = source.Length;
        if (length < block)
        {
            Span<TElement> spillSource = stackalloc TElement[WidestBlock];
            Span<float> spillDestination = stackalloc float[WidestBlock];
            spillSource.Clear();
            source.CopyTo(spillSource);
            WidenBlock(ref MemoryMarshal.GetReference(spillSource), ref MemoryMarshal.GetReference(spillDestination));
            spillDestination[..length].CopyTo(destination);
            return;
        }

        ref TElement from = ref MemoryMarshal.GetReference(source);
        ref float to = ref MemoryMarshal.GetReference(destination);
        nuint last = (nuint)(length - block);
        for (nuint i = 0; ; i += (nuint)block)
        {
            i = Math.Min(i, last);
            WidenBlock(ref Unsafe.Add(ref from, i), ref Unsafe.Add(ref to, i));
            if (i == last)
            {
                break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NarrowBlock(ref float source, ref TElement destination)
    {
        TVector low = TOps.Load(ref source), high = TOps.Load(ref Unsafe.Add(ref source, TOps.Count));
        TVector packed = TCodec.Narrow<TOps, TVector>(TOps.UnzipEven(low, high), TOps.UnzipOdd(low, high));
        TOps.Store(packed, ref Unsafe.As<TElement, float>(ref destination));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WidenBlock(ref TElement source, ref float destination)
    {
        TCodec.Widen<TOps, TVector>(TOps.Load(ref Unsafe.As<TElement, float>(ref source)), out TVector even, out TVector odd);
        TOps.Store(TOps.ZipLow(even, odd), ref destination);
        TOps.Store(TOps.ZipHigh(even, odd), ref Unsafe.Add(ref destination, TOps.Count));
    }
}
