using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Drivers;

/// <summary>
/// One token's float32 keys rotated in registers and rounded straight into a cache of another element type: the
/// token's row is expanded once into cos and sin slots (a few hundred bytes, resident in L1), then each head's blocks
/// are loaded, rotated, and two blocks at a time rounded into one register of cache elements and stored at the head's
/// place. Rotated keys never pass through memory as float32.
/// </summary>
/// <remarks>
/// The arithmetic is the float32 kernel's (products fused where the ISA has FMA) and the rounding the span
/// conversion's (<see cref="ElementConversion{TOps, TVector}.StoreNarrowed{TElement}"/>), so the cache holds the bits
/// of <c>Apply</c> followed by a conversion. Taken where the span is whole pairs of blocks.
/// </remarks>
internal static class NarrowedKeys<TOps, TVector, TCache>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TCache : unmanaged
{
    /// <summary>Whether a span of <paramref name="span"/> elements is whole pairs of blocks (one register of cache elements each).</summary>
    public static bool Fits(int span) => span > 0 && span % (2 * TOps.Count) == 0;

    /// <summary>Floats of scratch <see cref="Token"/> takes: the cos and sin slots.</summary>
    public static int ScratchLength(int span) => 2 * span;

    /// <summary>
    /// Rotates the token's keys (<paramref name="shape"/>'s heads from <paramref name="keys"/>) with the interleaved
    /// row <paramref name="row"/> and stores them at <paramref name="cache"/>, heads <paramref name="cacheHeadStride"/>
    /// elements apart; elements past the rotary dim are rounded as they are.
    /// </summary>
    public static void Token(ref float row, bool interleaved, bool inverse, int rotaryDim, ref float keys, RopeShape shape, ref TCache cache,
        nint cacheHeadStride, Span<float> scratch)
    {
        int span = interleaved ? rotaryDim : rotaryDim / 2, tail = shape.HeadDim - rotaryDim;
        ref float cos = ref MemoryMarshal.GetReference(scratch);
        ref float sin = ref Unsafe.Add(ref cos, span);
        nuint count = (nuint)TOps.Count;
        if (interleaved)
        {
            for (nuint i = 0; i < (nuint)span; i += count)
            {
                SingleKernel<TOps, TVector, FusedWhereAvailable>.ExpandInterleaved(ref Unsafe.Add(ref row, i), inverse, ref Unsafe.Add(ref cos, i),
                    ref Unsafe.Add(ref sin, i));
            }
        }
        else
        {
            for (nuint i = 0; i < (nuint)span; i += count)
            {
                SingleKernel<TOps, TVector, FusedWhereAvailable>.ExpandHalfSplit(ref Unsafe.Add(ref row, 2 * i), inverse, ref Unsafe.Add(ref cos, i),
                    ref Unsafe.Add(ref sin, i));
            }
        }

        for (int head = 0; head < shape.Heads; head++)
        {
            ref float from = ref Unsafe.Add(ref keys, (nint)head * shape.HeadStride);
            ref TCache to = ref Unsafe.Add(ref cache, head * cacheHeadStride);
            Head(ref from, ref to, interleaved, span, ref cos, ref sin);
            if (tail > 0)
            {
                ElementConversion<TOps, TVector>.Narrow(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref from, rotaryDim), tail),
                    MemoryMarshal.CreateSpan(ref Unsafe.Add(ref to, rotaryDim), tail));
            }
        }
    }

    /// <summary>One head's rotary span, two blocks (interleaved) or two blocks of each half (half-split) per step.</summary>
    private static void Head(ref float from, ref TCache to, bool interleaved, int span, ref float cos, ref float sin)
    {
        nuint count = (nuint)TOps.Count, step = 2 * count;
        if (interleaved)
        {
            for (nuint i = 0; i < (nuint)span; i += step)
            {
                TVector low = TOps.Load(ref Unsafe.Add(ref from, i));
                TVector high = TOps.Load(ref Unsafe.Add(ref from, i + count));
                low = SingleKernel<TOps, TVector, FusedWhereAvailable>.RotateInterleaved(low, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
                high = SingleKernel<TOps, TVector, FusedWhereAvailable>.RotateInterleaved(high, ref Unsafe.Add(ref cos, i + count),
                    ref Unsafe.Add(ref sin, i + count));
                ElementConversion<TOps, TVector>.StoreNarrowed(low, high, ref Unsafe.Add(ref to, i));
            }

            return;
        }

        nuint half = (nuint)span;
        for (nuint i = 0; i < half; i += step)
        {
            TVector firstLow = TOps.Load(ref Unsafe.Add(ref from, i));
            TVector firstHigh = TOps.Load(ref Unsafe.Add(ref from, i + count));
            TVector secondLow = TOps.Load(ref Unsafe.Add(ref from, half + i));
            TVector secondHigh = TOps.Load(ref Unsafe.Add(ref from, half + i + count));
            SingleKernel<TOps, TVector, FusedWhereAvailable>.RotateHalfSplit(ref firstLow, ref secondLow, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
            SingleKernel<TOps, TVector, FusedWhereAvailable>.RotateHalfSplit(ref firstHigh, ref secondHigh, ref Unsafe.Add(ref cos, i + count),
                ref Unsafe.Add(ref sin, i + count));
            ElementConversion<TOps, TVector>.StoreNarrowed(firstLow, firstHigh, ref Unsafe.Add(ref to, i));
            ElementConversion<TOps, TVector>.StoreNarrowed(secondLow, secondHigh, ref Unsafe.Add(ref to, half + i));
        }
    }
}
