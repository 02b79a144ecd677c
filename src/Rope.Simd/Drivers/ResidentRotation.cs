using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// Rotation of one token with its cos and sin held in registers: the token's row is expanded (or, for caller rows kept
/// as separate runs, its slots are loaded) once, at most
/// <see cref="IRotationKernel{TElement, TVector}.ResidentInterleavedBlocks"/> registers of each (half-split:
/// <see cref="IRotationKernel{TElement, TVector}.ResidentHalfSplitBlocks"/>), and every head of both targets is
/// rotated with them, one head per pass and block after block in memory order, so the heads form one sequential
/// stream for the hardware prefetcher and a head costs nothing but its own loads, arithmetic and stores.
/// </summary>
/// <remarks>
/// Used where a span is whole blocks (no final block overlapping its predecessor, so blocks are independent and
/// rotation in place needs no ordering). The block count is a type argument (<see cref="IBlockCount"/>), so each
/// count compiles to straight-line code with exactly its registers live; the arithmetic is the kernel's, so the bits
/// are those of the slot loop.
/// </remarks>
internal static class ResidentRotation<TOps, TVector, TKernel, TElement>
    where TOps : IVectorOps<TVector>
    where TVector : struct
    where TKernel : IRotationKernel<TElement, TVector>
    where TElement : unmanaged
{
    // A span of more blocks than the registers hold is rotated in groups, each group one pass over the token's heads;
    // beyond this many passes the heads would no longer stay in L1 between them.
    private const int MaxGroups = 4;

    /// <summary>Whether a span of <paramref name="span"/> elements is whole blocks that a few register groups cover.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Fits(int span, bool interleaved)
    {
        int group = Group(interleaved);
        return group > 0 && span % TKernel.Count == 0 && span / TKernel.Count <= MaxGroups * group;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Group(bool interleaved) => interleaved ? TKernel.ResidentInterleavedBlocks : TKernel.ResidentHalfSplitBlocks;

    /// <summary>Rotates one token of both targets with the slots at <paramref name="cos"/> and <paramref name="sin"/>; <see cref="Fits"/> holds.</summary>
    public static void RotateToken(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token,
        int span, bool interleaved, ref float cos, ref float sin)
    {
        if (interleaved)
        {
            RotateToken<InterleavedPairs, SlotsInMemory, PlainHeads<TVector>>(first, second, sequence, token, span, false, ref cos, ref sin, default);
        }
        else
        {
            RotateToken<HalfSplitPairs, SlotsInMemory, PlainHeads<TVector>>(first, second, sequence, token, span, false, ref cos, ref sin, default);
        }
    }

    /// <summary>
    /// Rotates the tokens of <paramref name="work"/> of both targets with their rows
    /// <c>[c0, s0, c1, s1, ...]</c>, each expanded straight into registers (no slots written and read back);
    /// <see cref="Fits"/> holds for the layout's span. Scratch is taken only where a row is written for the call.
    /// <paramref name="heads"/> may transform each block before it is rotated (<see cref="PlainHeads{TVector}"/>: none).
    /// </summary>
    [SkipLocalsInit]
    public static void RotateRows<TLayout, THeads>(in RotationWork work, scoped in RotationTarget<TElement> first,
        scoped in RotationTarget<TElement> second, in THeads heads)
        where TLayout : struct
        where THeads : struct, IHeadTransform<TVector>
    {
        ref readonly RowReader rows = ref work.Rows;
        TokenRange tokens = work.Tokens;
        bool inverse = work.Inverse;
        int rotaryDim = rows.RotaryDim;
        int span = typeof(TLayout) == typeof(InterleavedPairs) ? rotaryDim : rotaryDim / 2;
        // A head transform writes what lies past the rotary dim itself (EndToken); rotation alone copies it out of place.
        bool plain = typeof(THeads) == typeof(PlainHeads<TVector>);
        bool copyFirst = plain && CopiesPassThrough(first, rotaryDim), copySecond = plain && CopiesPassThrough(second, rotaryDim);
        int scratchLength = rows.ScratchLength;
        float[]? rented = null;
        Span<float> scratch = scratchLength == 0 ? default
            : scratchLength <= Scratch.StackLimit ? Scratch.AlignToCacheLine(stackalloc float[scratchLength + Scratch.CacheLineFloats], scratchLength)
            : (rented = ArrayPool<float>.Shared.Rent(scratchLength));
        for (TokenCursor cursor = tokens.Start(); cursor.Index < tokens.End; cursor.Next())
        {
            int sequence = cursor.Sequence, token = cursor.Token;
            ref float row = ref rows.Interleaved<TOps, TVector>(work.Positions.Read(cursor), scratch);
            if (typeof(THeads) != typeof(PlainHeads<TVector>))
            {
                heads.BeginToken(first, second, sequence, token);
            }

            RotateToken<TLayout, RowInRegisters, THeads>(first, second, sequence, token, span, inverse, ref row, ref row, heads);
            if (typeof(THeads) != typeof(PlainHeads<TVector>))
            {
                heads.EndToken(first, second, sequence, token, rotaryDim);
            }

            if (copyFirst)
            {
                CopyPassThrough(first, sequence, token, rotaryDim);
            }

            if (copySecond)
            {
                CopyPassThrough(second, sequence, token, rotaryDim);
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateToken<TLayout, TSource, THeads>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second,
        int sequence, int token, int span, bool inverse, ref float cos, ref float sin, in THeads heads)
        where TLayout : struct
        where TSource : ISlotSource
        where THeads : struct, IHeadTransform<TVector>
    {
        int blocks = span / TKernel.Count, group = Group(typeof(TLayout) == typeof(InterleavedPairs));
        for (int start = 0; start < blocks; start += group)
        {
            nuint offset = (nuint)(start * TKernel.Count);
            switch (Math.Min(group, blocks - start))
            {
                case 1:
                    RotateGroup<TLayout, Blocks1, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                case 2:
                    RotateGroup<TLayout, Blocks2, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                case 3:
                    RotateGroup<TLayout, Blocks3, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                case 4:
                    RotateGroup<TLayout, Blocks4, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                case 5:
                    RotateGroup<TLayout, Blocks5, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                case 6:
                    RotateGroup<TLayout, Blocks6, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                case 7:
                    RotateGroup<TLayout, Blocks7, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
                default:
                    RotateGroup<TLayout, Blocks8, TSource, THeads>(first, second, sequence, token, span, offset, inverse, ref cos, ref sin, heads);
                    break;
            }
        }
    }

    /// <summary>
    /// Loads the cos and sin of <typeparamref name="TBlocks"/> blocks, the first at element <paramref name="offset"/> of
    /// the span, into registers once and rotates those blocks of every head of both targets with them.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RotateGroup<TLayout, TBlocks, TSource, THeads>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second,
        int sequence, int token, int span, nuint offset, bool inverse, ref float cos, ref float sin, in THeads heads)
        where TLayout : struct
        where TBlocks : IBlockCount
        where TSource : ISlotSource
        where THeads : struct, IHeadTransform<TVector>
    {
        int blocks = TBlocks.Value;
        nuint count = (nuint)TKernel.Count;
        TVector cos1 = default, cos2 = default, cos3 = default, cos4 = default, cos5 = default, cos6 = default, cos7 = default;
        TVector sin1 = default, sin2 = default, sin3 = default, sin4 = default, sin5 = default, sin6 = default, sin7 = default;
        TSource.Load<TLayout>(ref cos, ref sin, offset, inverse, out TVector cos0, out TVector sin0);
        if (blocks > 1)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + count, inverse, out cos1, out sin1);
        }

        if (blocks > 2)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + 2 * count, inverse, out cos2, out sin2);
        }

        if (blocks > 3)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + 3 * count, inverse, out cos3, out sin3);
        }

        if (blocks > 4)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + 4 * count, inverse, out cos4, out sin4);
        }

        if (blocks > 5)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + 5 * count, inverse, out cos5, out sin5);
        }

        if (blocks > 6)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + 6 * count, inverse, out cos6, out sin6);
        }

        if (blocks > 7)
        {
            TSource.Load<TLayout>(ref cos, ref sin, offset + 7 * count, inverse, out cos7, out sin7);
        }

        // One copy of the head loop for both targets: two would spend the JIT's inlining budget of the 16-bit loops.
        for (int targetIndex = 0; targetIndex < 2; targetIndex++)
        {
            RotateHeads<TLayout, TBlocks, THeads>(targetIndex == 0 ? first : second, targetIndex, sequence, token, span, offset, heads,
                cos0, cos1, cos2, cos3, cos4, cos5, cos6, cos7, sin0, sin1, sin2, sin3, sin4, sin5, sin6, sin7);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateHeads<TLayout, TBlocks, THeads>(scoped in RotationTarget<TElement> target, int targetIndex, int sequence, int token,
        int span, nuint offset, in THeads heads,
        TVector cos0, TVector cos1, TVector cos2, TVector cos3, TVector cos4, TVector cos5, TVector cos6, TVector cos7,
        TVector sin0, TVector sin1, TVector sin2, TVector sin3, TVector sin4, TVector sin5, TVector sin6, TVector sin7)
        where TLayout : struct
        where TBlocks : IBlockCount
        where THeads : struct, IHeadTransform<TVector>
    {
        RopeShape shape = target.Shape;
        if (shape.Heads == 0)
        {
            return;
        }

        int blocks = TBlocks.Value;
        nuint count = (nuint)TKernel.Count;
        ref TElement source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), target.SourceOffset(sequence, token) + (nint)offset);
        ref TElement destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), target.DestinationOffset(sequence, token) + (nint)offset);
        for (int head = 0; head < shape.Heads; head++)
        {
            ref TElement from = ref Unsafe.Add(ref source, (nint)head * shape.HeadStride);
            ref TElement to = ref Unsafe.Add(ref destination, (nint)head * shape.HeadStride);
            TVector factor = heads.Factor(targetIndex, head);
            ref float weights = ref heads.Weights(targetIndex, offset);
            if (typeof(TLayout) == typeof(InterleavedPairs))
            {
                heads.Interleaved<TKernel, TElement>(ref from, ref to, 0, cos0, sin0, factor, ref weights);
                if (blocks > 1)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, count, cos1, sin1, factor, ref weights);
                }

                if (blocks > 2)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, 2 * count, cos2, sin2, factor, ref weights);
                }

                if (blocks > 3)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, 3 * count, cos3, sin3, factor, ref weights);
                }

                if (blocks > 4)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, 4 * count, cos4, sin4, factor, ref weights);
                }

                if (blocks > 5)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, 5 * count, cos5, sin5, factor, ref weights);
                }

                if (blocks > 6)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, 6 * count, cos6, sin6, factor, ref weights);
                }

                if (blocks > 7)
                {
                    heads.Interleaved<TKernel, TElement>(ref from, ref to, 7 * count, cos7, sin7, factor, ref weights);
                }
            }
            else
            {
                nuint half = (nuint)span;
                heads.HalfSplit<TKernel, TElement>(ref from, ref to, 0, half, cos0, sin0, factor, ref weights);
                if (blocks > 1)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, count, half, cos1, sin1, factor, ref weights);
                }

                if (blocks > 2)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, 2 * count, half, cos2, sin2, factor, ref weights);
                }

                if (blocks > 3)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, 3 * count, half, cos3, sin3, factor, ref weights);
                }

                if (blocks > 4)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, 4 * count, half, cos4, sin4, factor, ref weights);
                }

                if (blocks > 5)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, 5 * count, half, cos5, sin5, factor, ref weights);
                }

                if (blocks > 6)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, 6 * count, half, cos6, sin6, factor, ref weights);
                }

                if (blocks > 7)
                {
                    heads.HalfSplit<TKernel, TElement>(ref from, ref to, 7 * count, half, cos7, sin7, factor, ref weights);
                }
            }

        }
    }

    /// <summary>Whether <paramref name="target"/> has elements past the rotary dim that <see cref="CopyPassThrough"/> must copy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool CopiesPassThrough(scoped in RotationTarget<TElement> target, int rotaryDim) =>
        target.Shape.Heads > 0 && target.Shape.HeadDim > rotaryDim && !target.InPlace;

    /// <summary>
    /// Out of place with partial rotary, the elements past the rotary dim of every head of one token are copied. Done
    /// after the token is rotated: a call while the slots are in registers would make the JIT save and
    /// reload all of them around it (every vector register is caller-saved).
    /// </summary>
    public static void CopyPassThrough(scoped in RotationTarget<TElement> target, int sequence, int token, int rotaryDim)
    {
        RopeShape shape = target.Shape;
        ref TElement source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), target.SourceOffset(sequence, token));
        ref TElement destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), target.DestinationOffset(sequence, token));
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = (nint)head * shape.HeadStride + rotaryDim;
            MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref source, offset), shape.HeadDim - rotaryDim)
                .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref destination, offset), shape.HeadDim - rotaryDim));
        }
    }

    /// <summary>Where a block's cos and sin registers come from: slots in memory, or the token's row itself.</summary>
    private interface ISlotSource
    {
        /// <summary>The registers of the block at element <paramref name="offset"/> of the span.</summary>
        static abstract void Load<TLayout>(ref float first, ref float second, nuint offset, bool inverse, out TVector cos, out TVector sin)
            where TLayout : struct;
    }

    /// <summary>Slots the driver filled (or caller runs that are slots as they lie): cos at the first, sin at the second.</summary>
    private readonly struct SlotsInMemory : ISlotSource
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load<TLayout>(ref float first, ref float second, nuint offset, bool inverse, out TVector cos, out TVector sin)
            where TLayout : struct
        {
            cos = TOps.Load(ref Unsafe.Add(ref first, offset));
            sin = TOps.Load(ref Unsafe.Add(ref second, offset));
        }
    }

    /// <summary>The row <c>[c0, s0, c1, s1, ...]</c> at the first, expanded by the kernel as it would fill the slots.</summary>
    private readonly struct RowInRegisters : ISlotSource
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load<TLayout>(ref float first, ref float second, nuint offset, bool inverse, out TVector cos, out TVector sin)
            where TLayout : struct
        {
            // Interleaved element i has row float i; half-split element i of the first half has row floats 2i and 2i + 1.
            if (typeof(TLayout) == typeof(InterleavedPairs))
            {
                TKernel.ExpandInterleaved(ref Unsafe.Add(ref first, offset), inverse, out cos, out sin);
            }
            else
            {
                TKernel.ExpandHalfSplit(ref Unsafe.Add(ref first, 2 * offset), inverse, out cos, out sin);
            }
        }
    }
}

/// <summary>A block count as a type argument, so code specialized per count folds it as a constant.</summary>
internal interface IBlockCount
{
    static abstract int Value { get; }
}

internal readonly struct Blocks1 : IBlockCount
{
    public static int Value => 1;
}

internal readonly struct Blocks2 : IBlockCount
{
    public static int Value => 2;
}

internal readonly struct Blocks3 : IBlockCount
{
    public static int Value => 3;
}

internal readonly struct Blocks4 : IBlockCount
{
    public static int Value => 4;
}

internal readonly struct Blocks5 : IBlockCount
{
    public static int Value => 5;
}

internal readonly struct Blocks6 : IBlockCount
{
    public static int Value => 6;
}

internal readonly struct Blocks7 : IBlockCount
{
    public static int Value => 7;
}

internal readonly struct Blocks8 : IBlockCount
{
    public static int Value => 8;
}

