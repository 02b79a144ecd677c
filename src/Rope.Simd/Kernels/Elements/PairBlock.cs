using System.Runtime.CompilerServices;

namespace Rope.Simd.Kernels;

/// <summary>
/// 2·Count consecutive elements of any element type as two float32 registers of <typeparamref name="TOps"/>: the
/// even-indexed elements and the odd-indexed ones. For interleaved pairs these are each pair's first and second
/// member, so rotation needs no shuffle; for half-split pairs a block and its partner block pair up lane by lane.
/// The 16-bit codecs' packed lanes are this form already (one load, one store); float32 takes one unzip or zip per
/// register. Loads widen exactly; stores round to nearest even exactly as the span conversions do, so an element
/// converted here and one converted by a span conversion are the same bits.
/// </summary>
internal static class PairBlock<TOps, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>Elements per block.</summary>
    public static int Count
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => 2 * TOps.Count;
    }

    /// <summary>The block at <paramref name="source"/>, widened exactly to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load<TElement>(ref TElement source, out TVector even, out TVector odd)
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(float))
        {
            ref float first = ref Unsafe.As<TElement, float>(ref source);
            TVector low = TOps.Load(ref first), high = TOps.Load(ref Unsafe.Add(ref first, TOps.Count));
            even = TOps.UnzipEven(low, high);
            odd = TOps.UnzipOdd(low, high);
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            BFloat16Codec.Widen<TOps, TVector>(TOps.Load(ref Unsafe.As<TElement, float>(ref source)), out even, out odd);
        }
        else
        {
            HalfCodec.Widen<TOps, TVector>(TOps.Load(ref Unsafe.As<TElement, float>(ref source)), out even, out odd);
        }
    }

    /// <summary>The block rounded to <typeparamref name="TElement"/> (to nearest even) and stored at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<TElement>(TVector even, TVector odd, ref TElement destination)
        where TElement : unmanaged
    {
        ref float first = ref Unsafe.As<TElement, float>(ref destination);
        if (typeof(TElement) == typeof(float))
        {
            TOps.Store(TOps.ZipLow(even, odd), ref first);
            TOps.Store(TOps.ZipHigh(even, odd), ref Unsafe.Add(ref first, TOps.Count));
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            TOps.Store(BFloat16Codec.Narrow<TOps, TVector>(even, odd), ref first);
        }
        else
        {
            TOps.Store(HalfCodec.Narrow<TOps, TVector>(even, odd), ref first);
        }
    }
}
