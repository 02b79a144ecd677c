using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels;

namespace Rope.Simd.Drivers;

/// <summary>
/// Rotation of one token with its cos and sin held in registers: the token's slots are loaded once, at most
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
    public static bool Fits(int span, bool interleaved)
    {
        int group = Group(interleaved);
        return group > 0 && span % TKernel.Count == 0 && span / TKernel.Count <= MaxGroups * group;
    }

    private static int Group(bool interleaved) => interleaved ? TKernel.ResidentInterleavedBlocks : TKernel.ResidentHalfSplitBlocks;

    /// <summary>Rotates one token of both targets with the slots at <paramref name="cos"/> and <paramref name="sin"/>; <see cref="Fits"/> holds.</summary>
    public static void RotateToken(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token,
        int span, bool interleaved, ref float cos, ref float sin)
    {
        if (interleaved)
        {
            RotateToken<InterleavedPairs>(first, second, sequence, token, span, ref cos, ref sin);
        }
        else
        {
            RotateToken<HalfSplitPairs>(first, second, sequence, token, span, ref cos, ref sin);
        }
    }

    private static void RotateToken<TLayout>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token,
        int span, ref float cos, ref float sin)
        where TLayout : struct
    {
        int blocks = span / TKernel.Count, group = Group(typeof(TLayout) == typeof(InterleavedPairs));
        for (int start = 0; start < blocks; start += group)
        {
            nuint offset = (nuint)(start * TKernel.Count);
            ref float groupCos = ref Unsafe.Add(ref cos, offset), groupSin = ref Unsafe.Add(ref sin, offset);
            switch (Math.Min(group, blocks - start))
            {
                case 1:
                    RotateGroup<TLayout, Blocks1>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                case 2:
                    RotateGroup<TLayout, Blocks2>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                case 3:
                    RotateGroup<TLayout, Blocks3>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                case 4:
                    RotateGroup<TLayout, Blocks4>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                case 5:
                    RotateGroup<TLayout, Blocks5>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                case 6:
                    RotateGroup<TLayout, Blocks6>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                case 7:
                    RotateGroup<TLayout, Blocks7>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
                default:
                    RotateGroup<TLayout, Blocks8>(first, second, sequence, token, span, offset, ref groupCos, ref groupSin);
                    break;
            }
        }
    }

    /// <summary>
    /// Loads the slots of <typeparamref name="TBlocks"/> blocks, the first at element <paramref name="offset"/> of the
    /// span, into registers once and rotates those blocks of every head of both targets with them.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RotateGroup<TLayout, TBlocks>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second,
        int sequence, int token, int span, nuint offset, ref float cos, ref float sin)
        where TLayout : struct
        where TBlocks : IBlockCount
    {
        int blocks = TBlocks.Value;
        nuint count = (nuint)TKernel.Count;
        TVector cos0 = TOps.Load(ref cos), sin0 = TOps.Load(ref sin);
        TVector cos1 = blocks > 1 ? TOps.Load(ref Unsafe.Add(ref cos, count)) : default, sin1 = blocks > 1 ? TOps.Load(ref Unsafe.Add(ref sin, count)) : default;
        TVector cos2 = blocks > 2 ? TOps.Load(ref Unsafe.Add(ref cos, 2 * count)) : default, sin2 = blocks > 2 ? TOps.Load(ref Unsafe.Add(ref sin, 2 * count)) : default;
        TVector cos3 = blocks > 3 ? TOps.Load(ref Unsafe.Add(ref cos, 3 * count)) : default, sin3 = blocks > 3 ? TOps.Load(ref Unsafe.Add(ref sin, 3 * count)) : default;
        TVector cos4 = blocks > 4 ? TOps.Load(ref Unsafe.Add(ref cos, 4 * count)) : default, sin4 = blocks > 4 ? TOps.Load(ref Unsafe.Add(ref sin, 4 * count)) : default;
        TVector cos5 = blocks > 5 ? TOps.Load(ref Unsafe.Add(ref cos, 5 * count)) : default, sin5 = blocks > 5 ? TOps.Load(ref Unsafe.Add(ref sin, 5 * count)) : default;
        TVector cos6 = blocks > 6 ? TOps.Load(ref Unsafe.Add(ref cos, 6 * count)) : default, sin6 = blocks > 6 ? TOps.Load(ref Unsafe.Add(ref sin, 6 * count)) : default;
        TVector cos7 = blocks > 7 ? TOps.Load(ref Unsafe.Add(ref cos, 7 * count)) : default, sin7 = blocks > 7 ? TOps.Load(ref Unsafe.Add(ref sin, 7 * count)) : default;
        RotateHeads<TLayout, TBlocks>(first, sequence, token, span, offset,
            cos0, cos1, cos2, cos3, cos4, cos5, cos6, cos7, sin0, sin1, sin2, sin3, sin4, sin5, sin6, sin7);
        RotateHeads<TLayout, TBlocks>(second, sequence, token, span, offset,
            cos0, cos1, cos2, cos3, cos4, cos5, cos6, cos7, sin0, sin1, sin2, sin3, sin4, sin5, sin6, sin7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RotateHeads<TLayout, TBlocks>(scoped in RotationTarget<TElement> target, int sequence, int token, int span, nuint offset,
        TVector cos0, TVector cos1, TVector cos2, TVector cos3, TVector cos4, TVector cos5, TVector cos6, TVector cos7,
        TVector sin0, TVector sin1, TVector sin2, TVector sin3, TVector sin4, TVector sin5, TVector sin6, TVector sin7)
        where TLayout : struct
        where TBlocks : IBlockCount
    {
        RopeShape shape = target.Shape;
        if (shape.Heads == 0)
        {
            return;
        }

        int blocks = TBlocks.Value;
        nuint count = (nuint)TKernel.Count;
        nint tokenOffset = (nint)sequence * shape.BatchStride + (nint)token * shape.TokenStride + (nint)offset;
        ref TElement source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), tokenOffset);
        ref TElement destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), tokenOffset);
        for (int head = 0; head < shape.Heads; head++)
        {
            ref TElement from = ref Unsafe.Add(ref source, (nint)head * shape.HeadStride);
            ref TElement to = ref Unsafe.Add(ref destination, (nint)head * shape.HeadStride);
            if (typeof(TLayout) == typeof(InterleavedPairs))
            {
                Interleaved(ref from, ref to, 0, cos0, sin0);
                if (blocks > 1)
                {
                    Interleaved(ref from, ref to, count, cos1, sin1);
                }

                if (blocks > 2)
                {
                    Interleaved(ref from, ref to, 2 * count, cos2, sin2);
                }

                if (blocks > 3)
                {
                    Interleaved(ref from, ref to, 3 * count, cos3, sin3);
                }

                if (blocks > 4)
                {
                    Interleaved(ref from, ref to, 4 * count, cos4, sin4);
                }

                if (blocks > 5)
                {
                    Interleaved(ref from, ref to, 5 * count, cos5, sin5);
                }

                if (blocks > 6)
                {
                    Interleaved(ref from, ref to, 6 * count, cos6, sin6);
                }

                if (blocks > 7)
                {
                    Interleaved(ref from, ref to, 7 * count, cos7, sin7);
                }
            }
            else
            {
                nuint half = (nuint)span;
                HalfSplit(ref from, ref to, 0, half, cos0, sin0);
                if (blocks > 1)
                {
                    HalfSplit(ref from, ref to, count, half, cos1, sin1);
                }

                if (blocks > 2)
                {
                    HalfSplit(ref from, ref to, 2 * count, half, cos2, sin2);
                }

                if (blocks > 3)
                {
                    HalfSplit(ref from, ref to, 3 * count, half, cos3, sin3);
                }

                if (blocks > 4)
                {
                    HalfSplit(ref from, ref to, 4 * count, half, cos4, sin4);
                }

                if (blocks > 5)
                {
                    HalfSplit(ref from, ref to, 5 * count, half, cos5, sin5);
                }

                if (blocks > 6)
                {
                    HalfSplit(ref from, ref to, 6 * count, half, cos6, sin6);
                }

                if (blocks > 7)
                {
                    HalfSplit(ref from, ref to, 7 * count, half, cos7, sin7);
                }
            }

        }
    }

    /// <summary>
    /// Out of place with partial rotary, the elements past the rotary dim of every head of one token are copied. Done
    /// after <see cref="RotateToken"/> returns: a call while the slots are in registers would make the JIT save and
    /// reload all of them around it (every vector register is caller-saved).
    /// </summary>
    public static void CopyPassThrough(scoped in RotationTarget<TElement> target, int sequence, int token, int rotaryDim)
    {
        RopeShape shape = target.Shape;
        if (shape.Heads == 0 || shape.HeadDim == rotaryDim || target.InPlace)
        {
            return;
        }

        nint tokenOffset = (nint)sequence * shape.BatchStride + (nint)token * shape.TokenStride;
        ref TElement source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), tokenOffset);
        ref TElement destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), tokenOffset);
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = (nint)head * shape.HeadStride + rotaryDim;
            MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref source, offset), shape.HeadDim - rotaryDim)
                .CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref destination, offset), shape.HeadDim - rotaryDim));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleaved(ref TElement from, ref TElement to, nuint offset, TVector cos, TVector sin)
    {
        TKernel.Store(TKernel.RotateInterleaved(TKernel.Load(ref Unsafe.Add(ref from, offset)), cos, sin), ref Unsafe.Add(ref to, offset));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HalfSplit(ref TElement from, ref TElement to, nuint offset, nuint half, TVector cos, TVector sin)
    {

        TVector first = TKernel.Load(ref Unsafe.Add(ref from, offset)), second = TKernel.Load(ref Unsafe.Add(ref from, half + offset));
        TKernel.RotateHalfSplit(ref first, ref second, cos, sin);
        TKernel.Store(first, ref Unsafe.Add(ref to, offset));
        TKernel.Store(second, ref Unsafe.Add(ref to, half + offset));
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

