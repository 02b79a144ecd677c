using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Rows;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Drivers;

/// <summary>
/// One tensor to rotate: its heads are read from <see cref="Source"/> and written to <see cref="Destination"/> (the same
/// memory in place), the destination laid out as the source or with token and batch strides of its own.
/// </summary>
internal readonly ref struct RotationTarget<TElement>
{
    private readonly nint destinationOrigin, destinationTokenStride, destinationBatchStride;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RotationTarget(ReadOnlySpan<TElement> source, Span<TElement> destination, RopeShape shape)
    {
        Source = source;
        Destination = destination;
        Shape = shape;
        destinationTokenStride = shape.TokenStride;
        destinationBatchStride = shape.BatchStride;
    }

    /// <summary>
    /// A destination laid out apart from the source: token t of sequence b starts at element
    /// <paramref name="origin"/> + b·<paramref name="batchStride"/> + t·<paramref name="tokenStride"/> of it (the origin
    /// may be negative where a call covers a range of tokens that starts past the destination's first), its heads
    /// <see cref="RopeShape.HeadStride"/> apart as the source's. Only the rotation drivers take such targets (not the
    /// norm's fallback, not the parallel engine).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RotationTarget(ReadOnlySpan<TElement> source, Span<TElement> destination, RopeShape shape, nint origin, nint tokenStride, nint batchStride)
    {
        Source = source;
        Destination = destination;
        Shape = shape;
        destinationOrigin = origin;
        destinationTokenStride = tokenStride;
        destinationBatchStride = batchStride;
    }

    public ReadOnlySpan<TElement> Source { get; }

    public Span<TElement> Destination { get; }

    public RopeShape Shape { get; }

    public bool InPlace => Unsafe.AreSame(ref MemoryMarshal.GetReference(Source), ref MemoryMarshal.GetReference(Destination)) && destinationOrigin == 0
        && destinationTokenStride == Shape.TokenStride && destinationBatchStride == Shape.BatchStride;

    /// <summary>Element of the source where token <paramref name="token"/> of sequence <paramref name="sequence"/> starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint SourceOffset(int sequence, int token) => Shape.TokenOffset(sequence, token);

    /// <summary>Element of the destination where that token starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint DestinationOffset(int sequence, int token) => destinationOrigin + (nint)sequence * destinationBatchStride + (nint)token * destinationTokenStride;
}

/// <summary>
/// Owns every loop, tail and scratch buffer of rotation, for any kernel and element type. Arguments arrive validated.
/// </summary>
/// <remarks>
/// A rotated span of L elements (rotaryDim for interleaved, rotaryDim/2 per half for half-split) is covered by blocks
/// of <c>TKernel.Count</c> elements at 0, Count, 2·Count, ... and one final block that ends exactly at L and may
/// overlap the previous one; its input is loaded before anything is stored, so in-place rotation stays correct.
/// Per token the row (read from the table, computed for the call, or the caller's) is expanded once into one cos and
/// one sin slot per block, then every head of both targets is rotated with them; where the span is a few whole blocks,
/// <see cref="ResidentRotation{TOps, TVector, TKernel, TElement}"/> takes the token instead and holds the expanded row
/// in registers. Spans shorter than one block go through block-sized stack copies of the row and of the elements.
/// Nothing outside the spans is read or written.
/// </remarks>
internal static class RotationDriver<TOps, TVector, TKernel, TElement>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TKernel : IRotationKernel<TElement, TVector>
    where TElement : unmanaged
{
    /// <summary>
    /// Rotates the tokens of <paramref name="work"/> of both targets; a target with no heads is skipped. Each token's
    /// row is read once.
    /// </summary>
    [SkipLocalsInit]
    public static void Rotate(in RotationWork work, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
    {
        TokenRange tokens = work.Tokens;
        // No heads means nothing to read or write: return before the token loop (a shape may claim 2^31 - 1 tokens of none).
        if (tokens.IsEmpty || (first.Shape.Heads == 0 && second.Shape.Heads == 0))
        {
            return;
        }

        ref readonly RowReader rows = ref work.Rows;
        int rotaryDim = rows.RotaryDim;
        int count = TKernel.Count;
        bool interleaved = work.Interleaved, inverse = work.Inverse, runs = rows.GivesRuns;
        int span = interleaved ? rotaryDim : rotaryDim / 2;
        // Spans of a few whole blocks keep their slots in registers across the token's heads.
        bool resident = ResidentRotation<TOps, TVector, TKernel, TElement>.Fits(span, interleaved);
        if (resident && !runs)
        {
            // Rows expand straight into registers: no slots, so no scratch beyond what a row needs.
            if (interleaved)
            {
                ResidentRotation<TOps, TVector, TKernel, TElement>.RotateRows<InterleavedPairs, PlainHeads<TVector>>(work, first, second, default);
            }
            else
            {
                ResidentRotation<TOps, TVector, TKernel, TElement>.RotateRows<HalfSplitPairs, PlainHeads<TVector>>(work, first, second, default);
            }

            return;
        }

        int slotsLength = (span + count - 1) / count * count;
        int rowScratchLength = rows.ScratchLength;
        // cos and sin slots, the row and element spills of spans shorter than a block, and the row scratch.
        int scratchLength = 2 * slotsLength + 4 * count + rowScratchLength;

        float[]? rented = null;
        Span<float> scratch = scratchLength <= Scratch.StackLimit
            ? Scratch.AlignToCacheLine(stackalloc float[scratchLength + Scratch.CacheLineFloats], scratchLength)
            : (rented = ArrayPool<float>.Shared.Rent(scratchLength));
        ref float cos = ref MemoryMarshal.GetReference(scratch);
        ref float sin = ref Unsafe.Add(ref cos, slotsLength);
        ref float rowSpill = ref Unsafe.Add(ref sin, slotsLength);
        // 2·Count elements of at most 4 bytes: the two halves of a short half-split span.
        ref TElement elementSpill = ref Unsafe.As<float, TElement>(ref Unsafe.Add(ref rowSpill, 2 * count));
        Span<float> rowScratch = scratch.Slice(2 * slotsLength + 4 * count, rowScratchLength);
        if (span < count)
        {
            MemoryMarshal.CreateSpan(ref rowSpill, 2 * count).Clear();
        }

        // Half-split slots are the runs themselves when the kernel's slots keep pair order, whole blocks cover the runs
        // and the signs stay as given.
        bool copyFirst = resident && ResidentRotation<TOps, TVector, TKernel, TElement>.CopiesPassThrough(first, rotaryDim);
        bool copySecond = resident && ResidentRotation<TOps, TVector, TKernel, TElement>.CopiesPassThrough(second, rotaryDim);
        bool slotsAreRuns = TKernel.HalfSplitSlotsInPairOrder && runs && !interleaved && !inverse && span % count == 0;
        for (TokenCursor cursor = tokens.Start(); cursor.Index < tokens.End; cursor.Next())
        {
            ref float tokenCos = ref cos, tokenSin = ref sin;
            RowView row = work.Row<TOps, TVector>(cursor, rowScratch);
            if (row.IsRuns)
            {
                // Cosines and sines the caller keeps apart go straight into the slots: no interleaved row between.
                if (slotsAreRuns)
                {
                    tokenCos = ref row.Cosines;
                    tokenSin = ref row.Sines;
                }
                else if (interleaved)
                {
                    ExpandInterleavedFromHalves(ref row.Cosines, ref row.Sines, span, inverse, ref cos, ref sin, ref rowSpill);
                }
                else
                {
                    ExpandHalfSplitFromHalves(ref row.Cosines, ref row.Sines, span, inverse, ref cos, ref sin, ref rowSpill);
                }
            }
            else if (interleaved)
            {
                ExpandInterleaved(ref row.Row, span, inverse, ref cos, ref sin, ref rowSpill);
            }
            else
            {
                ExpandHalfSplit(ref row.Row, span, inverse, ref cos, ref sin, ref rowSpill);
            }

            if (resident)
            {
                ResidentRotation<TOps, TVector, TKernel, TElement>.RotateToken(first, second, cursor.Sequence, cursor.Token, span, interleaved,
                    ref tokenCos, ref tokenSin);
                if (copyFirst)
                {
                    ResidentRotation<TOps, TVector, TKernel, TElement>.CopyPassThrough(first, cursor.Sequence, cursor.Token, rotaryDim);
                }

                if (copySecond)
                {
                    ResidentRotation<TOps, TVector, TKernel, TElement>.CopyPassThrough(second, cursor.Sequence, cursor.Token, rotaryDim);
                }
            }
            else
            {
                RotateTarget(first, cursor.Sequence, cursor.Token, span, rotaryDim, interleaved, ref tokenCos, ref tokenSin, ref elementSpill);
                RotateTarget(second, cursor.Sequence, cursor.Token, span, rotaryDim, interleaved, ref tokenCos, ref tokenSin, ref elementSpill);
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Row floats [c, s, ...] of the span's pairs: interleaved, element i's row float is i.</summary>
    private static void ExpandInterleaved(ref float row, int span, bool inverse, ref float cos, ref float sin, ref float rowSpill)
    {
        int count = TKernel.Count;
        if (span < count)
        {
            Copy(ref row, ref rowSpill, span);
            TKernel.ExpandInterleaved(ref rowSpill, inverse, ref cos, ref sin);
            return;
        }

        nuint last = (nuint)(span - count);
        for (nuint slot = 0, i = 0; ; slot += (nuint)count, i += (nuint)count)
        {
            i = Math.Min(i, last);
            TKernel.ExpandInterleaved(ref Unsafe.Add(ref row, i), inverse, ref Unsafe.Add(ref cos, slot), ref Unsafe.Add(ref sin, slot));
            if (i == last)
            {
                break;
            }
        }
    }

    /// <summary>Row floats of the span's pairs: half-split, element i of the first half pairs with row floats 2i and 2i + 1.</summary>
    private static void ExpandHalfSplit(ref float row, int span, bool inverse, ref float cos, ref float sin, ref float rowSpill)
    {
        int count = TKernel.Count;
        if (span < count)
        {
            Copy(ref row, ref rowSpill, 2 * span);
            TKernel.ExpandHalfSplit(ref rowSpill, inverse, ref cos, ref sin);
            return;
        }

        nuint last = (nuint)(span - count);
        for (nuint slot = 0, i = 0; ; slot += (nuint)count, i += (nuint)count)
        {
            i = Math.Min(i, last);
            TKernel.ExpandHalfSplit(ref Unsafe.Add(ref row, 2 * i), inverse, ref Unsafe.Add(ref cos, slot), ref Unsafe.Add(ref sin, slot));
            if (i == last)
            {
                break;
            }
        }
    }

    /// <summary>The same slots as <see cref="ExpandInterleaved(ref float, int, bool, ref float, ref float, ref float)"/>, from the span's span/2 cosines and sines as two runs.</summary>
    private static void ExpandInterleavedFromHalves(ref float cosines, ref float sines, int span, bool inverse, ref float cos, ref float sin, ref float rowSpill)
    {
        int count = TKernel.Count, pairs = span / 2;
        if (span < count)
        {
            // Runs padded to a block each (the spill's tail stays zero).
            Copy(ref cosines, ref rowSpill, pairs);
            Copy(ref sines, ref Unsafe.Add(ref rowSpill, count), pairs);
            TKernel.ExpandInterleavedFromHalves(ref rowSpill, ref Unsafe.Add(ref rowSpill, count), 0, count, inverse, ref cos, ref sin);
            return;
        }

        nuint last = (nuint)(span - count);
        for (nuint slot = 0, i = 0; ; slot += (nuint)count, i += (nuint)count)
        {
            i = Math.Min(i, last);
            TKernel.ExpandInterleavedFromHalves(ref cosines, ref sines, (int)(i / 2), pairs, inverse, ref Unsafe.Add(ref cos, slot), ref Unsafe.Add(ref sin, slot));
            if (i == last)
            {
                break;
            }
        }
    }

    /// <summary>The same slots as <see cref="ExpandHalfSplit(ref float, int, bool, ref float, ref float, ref float)"/>, from the span's cosines and sines as two runs.</summary>
    private static void ExpandHalfSplitFromHalves(ref float cosines, ref float sines, int span, bool inverse, ref float cos, ref float sin, ref float rowSpill)
    {
        int count = TKernel.Count;
        if (span < count)
        {
            Copy(ref cosines, ref rowSpill, span);
            Copy(ref sines, ref Unsafe.Add(ref rowSpill, count), span);
            TKernel.ExpandHalfSplitFromHalves(ref rowSpill, ref Unsafe.Add(ref rowSpill, count), inverse, ref cos, ref sin);
            return;
        }

        nuint last = (nuint)(span - count);
        for (nuint slot = 0, i = 0; ; slot += (nuint)count, i += (nuint)count)
        {
            i = Math.Min(i, last);
            TKernel.ExpandHalfSplitFromHalves(ref Unsafe.Add(ref cosines, i), ref Unsafe.Add(ref sines, i), inverse,
                ref Unsafe.Add(ref cos, slot), ref Unsafe.Add(ref sin, slot));
            if (i == last)
            {
                break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateTarget(scoped in RotationTarget<TElement> target, int sequence, int token, int span, int rotaryDim, bool interleaved,
        ref float cos, ref float sin, ref TElement spill)
    {
        if (target.Shape.Heads == 0)
        {
            return;
        }

        if (interleaved)
        {
            RotateHeads<InterleavedPairs>(target, target.SourceOffset(sequence, token), target.DestinationOffset(sequence, token), span, rotaryDim,
                ref cos, ref sin, ref spill);
        }
        else
        {
            RotateHeads<HalfSplitPairs>(target, target.SourceOffset(sequence, token), target.DestinationOffset(sequence, token), span, rotaryDim,
                ref cos, ref sin, ref spill);
        }
    }

    /// <summary>Every head of one token of one target, the token's first head at <paramref name="sourceOffset"/> and <paramref name="destinationOffset"/>.</summary>
    /// <remarks>
    /// Compiled once per layout (the layout is a type argument, so the other layout's loop is not even imported), and
    /// never inlined: the JIT's inlining budget grows with the size of the method it inlines into, and this one is large
    /// enough to take a whole 16-bit codec, where a single method holding every loop would leave much of it as calls.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RotateHeads<TLayout>(scoped in RotationTarget<TElement> target, nint sourceOffset, nint destinationOffset, int span, int rotaryDim,
        ref float cos, ref float sin, ref TElement spill)
        where TLayout : struct
    {
        RopeShape shape = target.Shape;
        bool copyPassThrough = shape.HeadDim > rotaryDim && !target.InPlace;
        // Decided once: the head loop then holds no call at all (even a property may stay a call once the budget is spent).
        bool shortSpan = span < TKernel.Count, twoHeads = TKernel.TwoHeadsPerPass && !shortSpan;
        ref TElement source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), sourceOffset);
        ref TElement destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), destinationOffset);
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = (nint)head * shape.HeadStride;
            ref TElement headSource = ref Unsafe.Add(ref source, offset);
            ref TElement headDestination = ref Unsafe.Add(ref destination, offset);
            if (twoHeads && head + 1 < shape.Heads)
            {
                ref TElement nextSource = ref Unsafe.Add(ref headSource, shape.HeadStride);
                ref TElement nextDestination = ref Unsafe.Add(ref headDestination, shape.HeadStride);
                if (typeof(TLayout) == typeof(InterleavedPairs))
                {
                    RotateInterleavedTwoHeads(ref headSource, ref headDestination, ref nextSource, ref nextDestination, span, ref cos, ref sin);
                }
                else
                {
                    RotateHalfSplitTwoHeads(ref headSource, ref headDestination, ref nextSource, ref nextDestination, span, ref cos, ref sin);
                }

                if (copyPassThrough)
                {
                    Copy(ref Unsafe.Add(ref headSource, rotaryDim), ref Unsafe.Add(ref headDestination, rotaryDim), shape.HeadDim - rotaryDim);
                    Copy(ref Unsafe.Add(ref nextSource, rotaryDim), ref Unsafe.Add(ref nextDestination, rotaryDim), shape.HeadDim - rotaryDim);
                }

                head++;
                continue;
            }

            if (shortSpan)
            {
                RotateThroughSpill(ref headSource, ref headDestination, span, typeof(TLayout) == typeof(InterleavedPairs), ref cos, ref sin, ref spill);
            }
            else if (typeof(TLayout) == typeof(InterleavedPairs))
            {
                RotateInterleaved(ref headSource, ref headDestination, span, ref cos, ref sin);
            }
            else
            {
                RotateHalfSplit(ref headSource, ref headDestination, span, ref cos, ref sin);
            }

            if (copyPassThrough)
            {
                Copy(ref Unsafe.Add(ref headSource, rotaryDim), ref Unsafe.Add(ref headDestination, rotaryDim), shape.HeadDim - rotaryDim);
            }
        }
    }

    /// <summary>
    /// Two heads of interleaved pairs, each block's cos and sin loaded once for both (float32 is bound by loads, not
    /// arithmetic). Each head's final block ends at the span and may overlap the previous one, so it is loaded first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateInterleavedTwoHeads(ref TElement sourceA, ref TElement destinationA, ref TElement sourceB, ref TElement destinationB,
        int span, ref float cos, ref float sin)
    {
        nuint count = (nuint)TKernel.Count;
        nuint last = (nuint)span - count;
        nuint lastSlot = ((nuint)span - 1) / count * count;
        TVector tailA = TKernel.Load(ref Unsafe.Add(ref sourceA, last)), tailB = TKernel.Load(ref Unsafe.Add(ref sourceB, last));
        for (nuint i = 0; i < last; i += count)
        {
            TVector a = TKernel.Load(ref Unsafe.Add(ref sourceA, i)), b = TKernel.Load(ref Unsafe.Add(ref sourceB, i));
            a = TKernel.RotateInterleaved(a, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
            b = TKernel.RotateInterleaved(b, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
            TKernel.Store(a, ref Unsafe.Add(ref destinationA, i));
            TKernel.Store(b, ref Unsafe.Add(ref destinationB, i));
        }

        tailA = TKernel.RotateInterleaved(tailA, ref Unsafe.Add(ref cos, lastSlot), ref Unsafe.Add(ref sin, lastSlot));
        tailB = TKernel.RotateInterleaved(tailB, ref Unsafe.Add(ref cos, lastSlot), ref Unsafe.Add(ref sin, lastSlot));
        TKernel.Store(tailA, ref Unsafe.Add(ref destinationA, last));
        TKernel.Store(tailB, ref Unsafe.Add(ref destinationB, last));
    }

    /// <summary>Two heads of half-split pairs, each block's cos and sin loaded once for both; final blocks loaded first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateHalfSplitTwoHeads(ref TElement sourceA, ref TElement destinationA, ref TElement sourceB, ref TElement destinationB,
        int span, ref float cos, ref float sin)
    {
        nuint count = (nuint)TKernel.Count;
        nuint last = (nuint)span - count;
        nuint lastSlot = ((nuint)span - 1) / count * count;
        ref TElement secondA = ref Unsafe.Add(ref sourceA, span), secondB = ref Unsafe.Add(ref sourceB, span);
        TVector tailA = TKernel.Load(ref Unsafe.Add(ref sourceA, last)), tailSecondA = TKernel.Load(ref Unsafe.Add(ref secondA, last));
        TVector tailB = TKernel.Load(ref Unsafe.Add(ref sourceB, last)), tailSecondB = TKernel.Load(ref Unsafe.Add(ref secondB, last));
        for (nuint i = 0; i < last; i += count)
        {
            TVector a = TKernel.Load(ref Unsafe.Add(ref sourceA, i)), aSecond = TKernel.Load(ref Unsafe.Add(ref secondA, i));
            TVector b = TKernel.Load(ref Unsafe.Add(ref sourceB, i)), bSecond = TKernel.Load(ref Unsafe.Add(ref secondB, i));
            TKernel.RotateHalfSplit(ref a, ref aSecond, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
            TKernel.RotateHalfSplit(ref b, ref bSecond, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
            TKernel.Store(a, ref Unsafe.Add(ref destinationA, i));
            TKernel.Store(aSecond, ref Unsafe.Add(ref destinationA, (nuint)span + i));
            TKernel.Store(b, ref Unsafe.Add(ref destinationB, i));
            TKernel.Store(bSecond, ref Unsafe.Add(ref destinationB, (nuint)span + i));
        }

        TKernel.RotateHalfSplit(ref tailA, ref tailSecondA, ref Unsafe.Add(ref cos, lastSlot), ref Unsafe.Add(ref sin, lastSlot));
        TKernel.RotateHalfSplit(ref tailB, ref tailSecondB, ref Unsafe.Add(ref cos, lastSlot), ref Unsafe.Add(ref sin, lastSlot));
        TKernel.Store(tailA, ref Unsafe.Add(ref destinationA, last));
        TKernel.Store(tailSecondA, ref Unsafe.Add(ref destinationA, (nuint)span + last));
        TKernel.Store(tailB, ref Unsafe.Add(ref destinationB, last));
        TKernel.Store(tailSecondB, ref Unsafe.Add(ref destinationB, (nuint)span + last));
    }

    /// <summary>A span shorter than one block: rotated in a block-sized stack copy (for half-split, one per half).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RotateThroughSpill(ref TElement source, ref TElement destination, int span, bool interleaved,
        ref float cos, ref float sin, ref TElement spill)
    {
        if (interleaved)
        {
            Copy(ref source, ref spill, span);
            TKernel.Store(TKernel.RotateInterleaved(TKernel.Load(ref spill), ref cos, ref sin), ref spill);
            Copy(ref spill, ref destination, span);
            return;
        }

        ref TElement spillSecond = ref Unsafe.Add(ref spill, TKernel.Count);
        Copy(ref source, ref spill, span);
        Copy(ref Unsafe.Add(ref source, span), ref spillSecond, span);
        TVector a = TKernel.Load(ref spill), b = TKernel.Load(ref spillSecond);
        TKernel.RotateHalfSplit(ref a, ref b, ref cos, ref sin);
        TKernel.Store(a, ref spill);
        TKernel.Store(b, ref spillSecond);
        Copy(ref spill, ref destination, span);
        Copy(ref spillSecond, ref Unsafe.Add(ref destination, span), span);
    }

    /// <summary>
    /// Blocks k = 0..n at offset min(k·Count, last) and slot k·Count, two per iteration (one block alone leaves the loop
    /// overhead and loads on the critical path). Both are loaded before either is stored, and the pairs end with
    /// (n − 1, n), so the final block, which may overlap its predecessor, never reads a rotated element; with an odd
    /// number of blocks, block 0 goes first, paired with itself. One copy of the kernel keeps the 16-bit codecs inlined.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RotateInterleaved(ref TElement source, ref TElement destination, int span, ref float cos, ref float sin)
    {
        nuint count = (nuint)TKernel.Count;
        nuint last = (nuint)span - count;
        nuint finalBlock = (last + count - 1) / count;
        nuint block = 0, partner = finalBlock % 2;
        while (true)
        {
            nuint slot0 = block * count, slot1 = partner * count;
            nuint offset0 = Math.Min(slot0, last), offset1 = Math.Min(slot1, last);
            TVector x0 = TKernel.Load(ref Unsafe.Add(ref source, offset0)), x1 = TKernel.Load(ref Unsafe.Add(ref source, offset1));
            x0 = TKernel.RotateInterleaved(x0, ref Unsafe.Add(ref cos, slot0), ref Unsafe.Add(ref sin, slot0));
            x1 = TKernel.RotateInterleaved(x1, ref Unsafe.Add(ref cos, slot1), ref Unsafe.Add(ref sin, slot1));
            TKernel.Store(x0, ref Unsafe.Add(ref destination, offset0));
            TKernel.Store(x1, ref Unsafe.Add(ref destination, offset1));
            if (partner == finalBlock)
            {
                break;
            }

            block = partner + 1;
            partner = block + 1;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RotateHalfSplit(ref TElement source, ref TElement destination, int span, ref float cos, ref float sin)
    {
        int count = TKernel.Count;
        nuint last = (nuint)(span - count);
        nuint lastSlot = (nuint)((span - 1) / count * count);
        ref TElement sourceSecond = ref Unsafe.Add(ref source, span);
        ref TElement destinationSecond = ref Unsafe.Add(ref destination, span);
        TVector tailFirst = TKernel.Load(ref Unsafe.Add(ref source, last));
        TVector tailSecond = TKernel.Load(ref Unsafe.Add(ref sourceSecond, last));
        for (nuint i = 0; i < last; i += (nuint)count)
        {
            TVector first = TKernel.Load(ref Unsafe.Add(ref source, i));
            TVector second = TKernel.Load(ref Unsafe.Add(ref sourceSecond, i));
            TKernel.RotateHalfSplit(ref first, ref second, ref Unsafe.Add(ref cos, i), ref Unsafe.Add(ref sin, i));
            TKernel.Store(first, ref Unsafe.Add(ref destination, i));
            TKernel.Store(second, ref Unsafe.Add(ref destinationSecond, i));
        }

        TKernel.RotateHalfSplit(ref tailFirst, ref tailSecond, ref Unsafe.Add(ref cos, lastSlot), ref Unsafe.Add(ref sin, lastSlot));
        TKernel.Store(tailFirst, ref Unsafe.Add(ref destination, last));
        TKernel.Store(tailSecond, ref Unsafe.Add(ref destinationSecond, last));
    }

    private static void Copy<T>(ref T source, ref T destination, int count) =>
        MemoryMarshal.CreateReadOnlySpan(ref source, count).CopyTo(MemoryMarshal.CreateSpan(ref destination, count));
}

/// <summary>Type argument selecting the interleaved loop of <see cref="RotationDriver{TOps, TVector, TKernel, TElement}"/>.</summary>
internal readonly struct InterleavedPairs;

/// <summary>Type argument selecting the half-split loop of <see cref="RotationDriver{TOps, TVector, TKernel, TElement}"/>.</summary>
internal readonly struct HalfSplitPairs;
