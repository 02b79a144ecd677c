using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Kernels;

/// <summary>One tensor to rotate: its heads are read from <see cref="Source"/> and written to <see cref="Destination"/> (the same memory in place).</summary>
internal readonly ref struct RotationTarget
{
    public RotationTarget(ReadOnlySpan<float> source, Span<float> destination, RopeShape shape)
    {
        Source = source;
        Destination = destination;
        Shape = shape;
    }

    public ReadOnlySpan<float> Source { get; }

    public Span<float> Destination { get; }

    public RopeShape Shape { get; }

    public bool InPlace => Unsafe.AreSame(ref MemoryMarshal.GetReference(Source), ref MemoryMarshal.GetReference(Destination));
}

/// <summary>
/// Owns every loop, tail and scratch buffer of rotation, for any kernel. Arguments arrive validated.
/// </summary>
/// <remarks>
/// Per token the table row is expanded once into cos and sin scratch vectors (see <see cref="IRotationKernel{TVector}"/>),
/// then every head of both targets is rotated with them. A rotated span of L floats (rotaryDim for interleaved,
/// rotaryDim/2 per half for half-split) is covered by whole vectors plus one final vector that ends exactly at L and
/// may overlap the previous one; its input is loaded before anything is stored, so in-place rotation stays correct.
/// Spans shorter than one vector go through a vector-sized stack copy. Nothing outside the spans is read or written.
/// </remarks>
internal static class RotationDriver<TKernel, TVector>
    where TKernel : IRotationKernel<TVector>
    where TVector : struct
{
    // cos and sin for a rotary dim of 1024 plus two spill vectors of the widest kernel, on the stack.
    private const int StackScratchLimit = 2 * 1024 + 2 * 16;
    private const int CacheLineFloats = 64 / sizeof(float);

    [SkipLocalsInit]
    public static void Rotate(RopeTable table, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget first, scoped in RotationTarget second)
    {
        int rotaryDim = table.RotaryDim;
        int width = TKernel.Count;
        int span = layout == RopeLayout.Interleaved ? rotaryDim : rotaryDim / 2;
        int scratchSpan = Math.Max(span, width);
        int scratchLength = 2 * scratchSpan + 2 * width;

        float[]? rented = null;
        Span<float> scratch = scratchLength <= StackScratchLimit
            ? AlignToCacheLine(stackalloc float[StackScratchLimit + CacheLineFloats])
            : (rented = ArrayPool<float>.Shared.Rent(scratchLength));
        ref float cos = ref MemoryMarshal.GetReference(scratch);
        ref float sin = ref Unsafe.Add(ref cos, scratchSpan);
        ref float spill = ref Unsafe.Add(ref sin, scratchSpan);

        for (int token = 0; token < tokens; token++)
        {
            ref float row = ref table.RowReference(positions[token]);
            if (layout == RopeLayout.Interleaved)
            {
                ExpandInterleaved(ref row, span, inverse, ref cos, ref sin);
                RotateHeads(first, token, span, rotaryDim, interleaved: true, ref cos, ref sin, ref spill);
                RotateHeads(second, token, span, rotaryDim, interleaved: true, ref cos, ref sin, ref spill);
            }
            else
            {
                ExpandHalfSplit(ref row, span, inverse, ref cos, ref sin);
                RotateHeads(first, token, span, rotaryDim, interleaved: false, ref cos, ref sin, ref spill);
                RotateHeads(second, token, span, rotaryDim, interleaved: false, ref cos, ref sin, ref spill);
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static void ExpandInterleaved(ref float row, int span, bool inverse, ref float cos, ref float sin)
    {
        int width = TKernel.Count;
        if (span < width)
        {
            for (int i = 0; i < span; i += 2)
            {
                float c = Unsafe.Add(ref row, i), s = Unsafe.Add(ref row, i + 1);
                Unsafe.Add(ref cos, i) = c;
                Unsafe.Add(ref cos, i + 1) = c;
                Unsafe.Add(ref sin, i) = inverse ? s : -s;
                Unsafe.Add(ref sin, i + 1) = inverse ? -s : s;
            }

            return;
        }

        nuint last = (nuint)(span - width);
        for (nuint i = 0; ; i += (nuint)width)
        {
            i = Math.Min(i, last);
            TKernel.ExpandInterleaved(TKernel.Load(ref Unsafe.Add(ref row, i)), inverse, out TVector c, out TVector s);
            TKernel.Store(c, ref Unsafe.Add(ref cos, i));
            TKernel.Store(s, ref Unsafe.Add(ref sin, i));
            if (i == last)
            {
                break;
            }
        }
    }

    private static void ExpandHalfSplit(ref float row, int span, bool inverse, ref float cos, ref float sin)
    {
        int width = TKernel.Count;
        if (span < width)
        {
            for (int i = 0; i < span; i++)
            {
                Unsafe.Add(ref cos, i) = Unsafe.Add(ref row, 2 * i);
                float s = Unsafe.Add(ref row, 2 * i + 1);
                Unsafe.Add(ref sin, i) = inverse ? -s : s;
            }

            return;
        }

        nuint last = (nuint)(span - width);
        for (nuint i = 0; ; i += (nuint)width)
        {
            i = Math.Min(i, last);
            ref float pairs = ref Unsafe.Add(ref row, 2 * i);
            TKernel.ExpandHalfSplit(TKernel.Load(ref pairs), TKernel.Load(ref Unsafe.Add(ref pairs, width)), inverse,
                out TVector c, out TVector s);
            TKernel.Store(c, ref Unsafe.Add(ref cos, i));
            TKernel.Store(s, ref Unsafe.Add(ref sin, i));
            if (i == last)
            {
                break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateHeads(scoped in RotationTarget target, int token, int span, int rotaryDim, bool interleaved,
        ref float cos, ref float sin, ref float spill)
    {
        RopeShape shape = target.Shape;
        if (shape.Heads == 0)
        {
            return;
        }

        bool copyPassThrough = shape.HeadDim > rotaryDim && !target.InPlace;
        ref float source = ref MemoryMarshal.GetReference(target.Source);
        ref float destination = ref MemoryMarshal.GetReference(target.Destination);
        nint tokenOffset = (nint)token * shape.TokenStride;
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = tokenOffset + (nint)head * shape.HeadStride;
            ref float headSource = ref Unsafe.Add(ref source, offset);
            ref float headDestination = ref Unsafe.Add(ref destination, offset);
            if (interleaved)
            {
                RotateInterleaved(ref headSource, ref headDestination, span, ref cos, ref sin, ref spill);
            }
            else
            {
                RotateHalfSplit(ref headSource, ref headDestination, span, ref cos, ref sin, ref spill);
            }

            if (copyPassThrough)
            {
                Copy(ref Unsafe.Add(ref headSource, rotaryDim), ref Unsafe.Add(ref headDestination, rotaryDim), shape.HeadDim - rotaryDim);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateInterleaved(ref float source, ref float destination, int span, ref float cos, ref float sin, ref float spill)
    {
        int width = TKernel.Count;
        if (span < width)
        {
            Copy(ref source, ref spill, span);
            TKernel.Store(TKernel.RotateInterleaved(TKernel.Load(ref spill), TKernel.Load(ref cos), TKernel.Load(ref sin)), ref spill);
            Copy(ref spill, ref destination, span);
            return;
        }

        nuint last = (nuint)(span - width);
        TVector tail = TKernel.Load(ref Unsafe.Add(ref source, last));
        nuint i = 0;
        // Two vectors per iteration: one interleaved vector alone leaves the loop overhead and loads on the critical path.
        for (; i + (nuint)(2 * width) <= last; i += (nuint)(2 * width))
        {
            ref float next = ref Unsafe.Add(ref source, i + (nuint)width);
            TVector x0 = TKernel.Load(ref Unsafe.Add(ref source, i)), x1 = TKernel.Load(ref next);
            x0 = TKernel.RotateInterleaved(x0, TKernel.Load(ref Unsafe.Add(ref cos, i)), TKernel.Load(ref Unsafe.Add(ref sin, i)));
            x1 = TKernel.RotateInterleaved(x1, TKernel.Load(ref Unsafe.Add(ref cos, i + (nuint)width)), TKernel.Load(ref Unsafe.Add(ref sin, i + (nuint)width)));
            TKernel.Store(x0, ref Unsafe.Add(ref destination, i));
            TKernel.Store(x1, ref Unsafe.Add(ref destination, i + (nuint)width));
        }

        for (; i < last; i += (nuint)width)
        {
            TVector x = TKernel.Load(ref Unsafe.Add(ref source, i));
            TKernel.Store(TKernel.RotateInterleaved(x, TKernel.Load(ref Unsafe.Add(ref cos, i)), TKernel.Load(ref Unsafe.Add(ref sin, i))),
                ref Unsafe.Add(ref destination, i));
        }

        TKernel.Store(TKernel.RotateInterleaved(tail, TKernel.Load(ref Unsafe.Add(ref cos, last)), TKernel.Load(ref Unsafe.Add(ref sin, last))),
            ref Unsafe.Add(ref destination, last));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateHalfSplit(ref float source, ref float destination, int span, ref float cos, ref float sin, ref float spill)
    {
        int width = TKernel.Count;
        if (span < width)
        {
            ref float spillSecond = ref Unsafe.Add(ref spill, width);
            Copy(ref source, ref spill, span);
            Copy(ref Unsafe.Add(ref source, span), ref spillSecond, span);
            TVector a = TKernel.Load(ref spill), b = TKernel.Load(ref spillSecond);
            TKernel.RotateHalfSplit(ref a, ref b, TKernel.Load(ref cos), TKernel.Load(ref sin));
            TKernel.Store(a, ref spill);
            TKernel.Store(b, ref spillSecond);
            Copy(ref spill, ref destination, span);
            Copy(ref spillSecond, ref Unsafe.Add(ref destination, span), span);
            return;
        }

        nuint last = (nuint)(span - width);
        ref float sourceSecond = ref Unsafe.Add(ref source, span);
        ref float destinationSecond = ref Unsafe.Add(ref destination, span);
        TVector tailFirst = TKernel.Load(ref Unsafe.Add(ref source, last));
        TVector tailSecond = TKernel.Load(ref Unsafe.Add(ref sourceSecond, last));
        for (nuint i = 0; i < last; i += (nuint)width)
        {
            TVector first = TKernel.Load(ref Unsafe.Add(ref source, i));
            TVector second = TKernel.Load(ref Unsafe.Add(ref sourceSecond, i));
            TKernel.RotateHalfSplit(ref first, ref second, TKernel.Load(ref Unsafe.Add(ref cos, i)), TKernel.Load(ref Unsafe.Add(ref sin, i)));
            TKernel.Store(first, ref Unsafe.Add(ref destination, i));
            TKernel.Store(second, ref Unsafe.Add(ref destinationSecond, i));
        }

        TKernel.RotateHalfSplit(ref tailFirst, ref tailSecond, TKernel.Load(ref Unsafe.Add(ref cos, last)), TKernel.Load(ref Unsafe.Add(ref sin, last)));
        TKernel.Store(tailFirst, ref Unsafe.Add(ref destination, last));
        TKernel.Store(tailSecond, ref Unsafe.Add(ref destinationSecond, last));
    }

    /// <summary>Starts the scratch on a 64-byte boundary so no vector load from it splits a cache line.</summary>
    private static unsafe Span<float> AlignToCacheLine(Span<float> stackMemory)
    {
        int misalignment = (int)((nuint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(stackMemory)) / sizeof(float) % CacheLineFloats);
        return stackMemory.Slice((CacheLineFloats - misalignment) % CacheLineFloats);
    }

    private static void Copy(ref float source, ref float destination, int count) =>
        MemoryMarshal.CreateReadOnlySpan(ref source, count).CopyTo(MemoryMarshal.CreateSpan(ref destination, count));
}
