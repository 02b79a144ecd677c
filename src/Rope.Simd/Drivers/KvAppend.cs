using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels;
using Rope.Simd.Positions;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// Rotated keys and converted values written into a cache of <typeparamref name="TCache"/> at each token's position:
/// the first target is the keys, the second the values (their sources are read; nothing is written to them).
/// </summary>
/// <remarks>
/// Keys go from their source to the cache in one pass where the rotated span is whole pair blocks
/// (<see cref="PairBlock{TOps, TVector}"/>): each block is widened as it is loaded, normalized where the keys have a
/// norm, rotated by the float32 arithmetic (products fused where the ISA has FMA for a float32 cache, as <c>Apply</c>
/// rotates float32; each product and sum rounded for a 16-bit cache, the same bits on every path) and rounded once as
/// it is stored. Other spans, and keys that lie in the cache themselves, are widened into float32 scratch per token
/// first and rotated there with the same arithmetic: the same bits. Values are converted exactly as the span
/// conversions do. Positions and block-table entries were checked at the entry and are checked again here, where
/// they index the cache.
/// </remarks>
internal readonly unsafe struct KvAppend<TCache>(void* keyCache, void* valueCache, KvCacheAddressing addressing, int* blockTable, int blockTableLength,
    PinnedHeadNorm keyNorm, bool keysInCache)
    : IRotationOperation
    where TCache : unmanaged
{
    public void Run<TOps, TVector, TElement, TRows, TPositions>(in TRows rows, in TPositions positions, RopeLayout layout, bool inverse,
        int firstToken, int endToken, int tokensPerSequence, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource
    {
        if (first.Shape.Heads == 0 || endToken <= firstToken)
        {
            return;
        }

        if (typeof(TCache) == typeof(float))
        {
            Append<TOps, TVector, TElement, TRows, TPositions, FusedWhereAvailable>(rows, positions, layout, inverse, firstToken, endToken,
                tokensPerSequence, first, second);
        }
        else
        {
            Append<TOps, TVector, TElement, TRows, TPositions, RoundedTwice>(rows, positions, layout, inverse, firstToken, endToken,
                tokensPerSequence, first, second);
        }
    }

    [SkipLocalsInit]
    private void Append<TOps, TVector, TElement, TRows, TPositions, TProducts>(in TRows rows, in TPositions positions, RopeLayout layout, bool inverse,
        int firstToken, int endToken, int tokensPerSequence, scoped in RotationTarget<TElement> keys, scoped in RotationTarget<TElement> values)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource
        where TProducts : IProductSum
    {
        RopeShape shape = keys.Shape;
        int rotaryDim = rows.RotaryDim, headDim = shape.HeadDim, headCount = shape.Heads, tokenLength = headCount * headDim;
        bool interleaved = layout == RopeLayout.Interleaved, normalizes = keyNorm.Kind != RopeHeadNormKind.None;
        int span = interleaved ? rotaryDim : rotaryDim / 2;
        bool direct = span % PairBlock<TOps, TVector>.Count == 0;
        // Keys are read from float32 scratch where the float32 driver rotates them, where 16-bit keys need their scales
        // first, and where they lie in the cache (a token's keys are all read before any is written).
        bool widens = !direct || keysInCache || (normalizes && typeof(TElement) != typeof(float));
        int rowLength = positions.ScratchLength(rows.ScratchLength, rotaryDim);
        // The widened keys, a bridge for values between two 16-bit types and normalized elements past the rotary dim,
        // the token's row where one is written, its expanded cos and sin, the heads' scales and the effective weights.
        int length = 2 * tokenLength + rowLength + rotaryDim + headCount + headDim;
        float[]? rented = null;
        Span<float> scratch = length <= Scratch.StackLimit
            ? Scratch.AlignToCacheLine(stackalloc float[length + Scratch.CacheLineFloats], length)
            : (rented = ArrayPool<float>.Shared.Rent(length));
        var table = new ReadOnlySpan<int>(blockTable, blockTableLength);
        // Pinned: the token's row may be written here, and the rotation reads it through a pointer.
        fixed (float* pinned = scratch)
        {
            Span<float> widened = scratch[..tokenLength], bridge = scratch.Slice(tokenLength, tokenLength);
            Span<float> rowScratch = scratch.Slice(2 * tokenLength, rowLength), slots = scratch.Slice(2 * tokenLength + rowLength, rotaryDim);
            Span<float> scales = scratch.Slice(2 * tokenLength + rowLength + rotaryDim, headCount);
            float* weights = normalizes ? NormalizedRotationDriver<TOps, TVector>.EffectiveWeights(keyNorm, headDim, pinned + length - headDim) : null;
            (int sequence, int token) = Math.DivRem(firstToken, tokensPerSequence);
            for (int index = firstToken; index < endToken; index++)
            {
                long position = positions.Position(index, sequence, token);
                long block = 0;
                if (position < 0 || position >= addressing.Capacity || (addressing.IsPaged && (block = addressing.Block(table, sequence, position)) < 0))
                {
                    ThrowChanged(position);
                }

                nint tokenOffset = (nint)sequence * shape.BatchStride + (nint)token * shape.TokenStride;
                ref float row = ref positions.Row<TRows, TOps, TVector>(rows, index, sequence, token, rowScratch);
                if (widens)
                {
                    ElementConversion<TOps, TVector>.WidenHeads(keys.Source, tokenOffset, shape, widened);
                }

                if (normalizes)
                {
                    // The keys as float32: the widened copy, or float32 keys where they lie.
                    if (widens)
                    {
                        NormalizedRotationDriver<TOps, TVector>.Scales(widened, 0, new RopeShape(1, headCount, headDim), true, keyNorm.Epsilon, scales);
                    }
                    else
                    {
                        NormalizedRotationDriver<TOps, TVector>.Scales(MemoryMarshal.Cast<TElement, float>(keys.Source), tokenOffset, shape, true,
                            keyNorm.Epsilon, scales);
                    }
                }

                TCache* firstHead = (TCache*)keyCache + addressing.HeadOffset(sequence, position, 0, block);
                if (!direct)
                {
                    RotateWidened<TOps, TVector, TProducts>(ref row, rotaryDim, widened, new RopeShape(1, headCount, headDim), layout, inverse, normalizes,
                        scales, weights);
                    for (int head = 0; head < headCount; head++)
                    {
                        Convert<TOps, TVector, float, TCache>(widened.Slice(head * headDim, headDim),
                            new Span<TCache>(firstHead + head * addressing.HeadStride, headDim), default);
                    }
                }
                else
                {
                    ExpandSlots<TOps, TVector>(ref row, ref MemoryMarshal.GetReference(slots), span, interleaved, inverse);
                    var heads = new CacheHeads<TCache>(firstHead, addressing.HeadStride, shape.Heads, headDim, rotaryDim, normalizes,
                        (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(scales)), weights);
                    if (widens)
                    {
                        heads.Append<TOps, TVector, float, TProducts>(ref MemoryMarshal.GetReference(widened), headDim, ref MemoryMarshal.GetReference(slots),
                            span, interleaved, bridge);
                    }
                    else
                    {
                        heads.Append<TOps, TVector, TElement, TProducts>(ref Unsafe.Add(ref MemoryMarshal.GetReference(keys.Source), tokenOffset),
                            shape.HeadStride, ref MemoryMarshal.GetReference(slots), span, interleaved, bridge);
                    }
                }

                AppendValues<TOps, TVector, TElement>(values, tokenOffset, sequence, position, block, bridge);
                if (++token == tokensPerSequence)
                {
                    token = 0;
                    sequence++;
                }
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The token's row <c>[c0, s0, c1, s1, ...]</c> as per-block cos and sin registers in pair-block order: interleaved,
    /// block k's cosines then its sines (one per pair, 2·Count floats per block); half-split, block k's cosines of its
    /// even then odd elements, then its sines likewise (4·Count floats). Sines negated for the inverse.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExpandSlots<TOps, TVector>(ref float row, ref float slots, int span, bool interleaved, bool inverse)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        nuint count = (nuint)TOps.Count;
        TVector signs = TOps.Broadcast(inverse ? 0x8000_0000 : 0);
        for (nuint offset = 0; offset < (nuint)span; offset += 2 * count)
        {
            if (interleaved)
            {
                TVector low = TOps.Load(ref Unsafe.Add(ref row, offset)), high = TOps.Load(ref Unsafe.Add(ref row, offset + count));
                TOps.Store(TOps.UnzipEven(low, high), ref Unsafe.Add(ref slots, offset));
                TOps.Store(TOps.Xor(TOps.UnzipOdd(low, high), signs), ref Unsafe.Add(ref slots, offset + count));
            }
            else
            {
                // The block's 2·Count pairs are 4·Count row floats: cosines and sines of its first and second Count pairs, then
                // each split into the block's even and odd elements.
                ref float pairs = ref Unsafe.Add(ref row, 2 * offset);
                TVector row0 = TOps.Load(ref pairs), row1 = TOps.Load(ref Unsafe.Add(ref pairs, count));
                TVector row2 = TOps.Load(ref Unsafe.Add(ref pairs, 2 * count)), row3 = TOps.Load(ref Unsafe.Add(ref pairs, 3 * count));
                TVector cosLow = TOps.UnzipEven(row0, row1), sinLow = TOps.UnzipOdd(row0, row1);
                TVector cosHigh = TOps.UnzipEven(row2, row3), sinHigh = TOps.UnzipOdd(row2, row3);
                ref float slot = ref Unsafe.Add(ref slots, 2 * offset);
                TOps.Store(TOps.UnzipEven(cosLow, cosHigh), ref slot);
                TOps.Store(TOps.UnzipOdd(cosLow, cosHigh), ref Unsafe.Add(ref slot, count));
                TOps.Store(TOps.Xor(TOps.UnzipEven(sinLow, sinHigh), signs), ref Unsafe.Add(ref slot, 2 * count));
                TOps.Store(TOps.Xor(TOps.UnzipOdd(sinLow, sinHigh), signs), ref Unsafe.Add(ref slot, 3 * count));
            }
        }
    }

    /// <summary>
    /// One token's widened keys where the rotated span is no whole pair blocks: normalized in place where the keys have
    /// a norm, then rotated by the float32 driver with the token's row as a one-row cache.
    /// </summary>
    private static void RotateWidened<TOps, TVector, TProducts>(ref float row, int rotaryDim, Span<float> widened, RopeShape packed, RopeLayout layout,
        bool inverse, bool normalizes, ReadOnlySpan<float> scales, float* weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TProducts : IProductSum
    {
        int headDim = packed.HeadDim;
        if (normalizes)
        {
            for (int head = 0; head < packed.Heads; head++)
            {
                ref float values = ref widened[head * headDim];
                RmsNorm<TOps, TVector>.Scale<TimesWeight>(ref values, ref values, headDim, scales[head], ref Unsafe.AsRef<float>(weights));
            }
        }

        var target = new RotationTarget<float>(widened, widened, packed);
        var tokenRow = new InterleavedRows<float>((byte*)Unsafe.AsPointer(ref row), rotaryDim, rotaryDim, 0);
        RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, TProducts>, float>.Rotate(tokenRow, new SequentialPositions(0), layout, inverse,
            0, 1, 1, target, default);
    }

    /// <summary>One token's values into the cache at its place, as one run where the heads lie one after another in both.</summary>
    private void AppendValues<TOps, TVector, TElement>(scoped in RotationTarget<TElement> values, nint tokenOffset, int sequence, long position, long block,
        Span<float> bridge)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        RopeShape shape = values.Shape;
        int headDim = shape.HeadDim;
        if (addressing.HeadsAdjacent && shape.HeadStride == headDim)
        {
            int tokenLength = shape.Heads * headDim;
            Convert<TOps, TVector, TElement, TCache>(values.Source.Slice((int)tokenOffset, tokenLength),
                new Span<TCache>((TCache*)valueCache + addressing.HeadOffset(sequence, position, 0, block), tokenLength), bridge);
            return;
        }

        for (int head = 0; head < shape.Heads; head++)
        {
            Convert<TOps, TVector, TElement, TCache>(values.Source.Slice((int)(tokenOffset + (nint)head * shape.HeadStride), headDim),
                new Span<TCache>((TCache*)valueCache + addressing.HeadOffset(sequence, position, head, block), headDim), bridge);
        }
    }

    /// <summary>
    /// Elements of one type into another: a copy for the same type, and otherwise through float32 (exact widening,
    /// rounding to nearest even), between the two 16-bit types by way of <paramref name="bridge"/>.
    /// </summary>
    internal static void Convert<TOps, TVector, TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination, Span<float> bridge)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TFrom : unmanaged
        where TTo : unmanaged
    {
        if (typeof(TFrom) == typeof(TTo))
        {
            MemoryMarshal.Cast<TFrom, TTo>(source).CopyTo(destination);
        }
        else if (typeof(TFrom) == typeof(float))
        {
            ElementConversion<TOps, TVector>.Narrow(MemoryMarshal.Cast<TFrom, float>(source), destination);
        }
        else if (typeof(TTo) == typeof(float))
        {
            ElementConversion<TOps, TVector>.Widen(source, MemoryMarshal.Cast<TTo, float>(destination));
        }
        else
        {
            Span<float> widened = bridge[..source.Length];
            ElementConversion<TOps, TVector>.Widen(source, widened);
            ElementConversion<TOps, TVector>.Narrow(widened, destination);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowChanged(long position) =>
        throw new ArgumentOutOfRangeException("positions", position,
            $"Position {position} has no place in the cache (or its block-table entry names no block); it had one when the call was validated, so the " +
            "positions or the block table changed while the call ran.");
}

/// <summary>
/// One token's key heads in a cache of <typeparamref name="TCache"/>: the first head's place and the stride between
/// heads, and the norm's scales and effective weights where the keys have one.
/// </summary>
internal readonly unsafe struct CacheHeads<TCache>(TCache* first, long stride, int heads, int headDim, int rotaryDim, bool normalizes, float* scales,
    float* weights)
    where TCache : unmanaged
{
    /// <summary>
    /// Every head of the token from <paramref name="token"/> (heads <paramref name="sourceStride"/> elements apart) into
    /// the cache, its rotated span a pair block at a time; then the elements past the rotary dim.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Append<TOps, TVector, TSource, TProducts>(ref TSource token, nint sourceStride, ref float slots, int span, bool interleaved,
        Span<float> bridge)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TSource : unmanaged
        where TProducts : IProductSum
    {
        ref float headWeights = ref Unsafe.AsRef<float>(weights);
        for (int head = 0; head < heads; head++)
        {
            TVector factor = normalizes ? TOps.Broadcast(BitConverter.SingleToUInt32Bits(scales[head])) : default;
            AppendHead<TOps, TVector, TSource, TProducts>(ref Unsafe.Add(ref token, head * sourceStride), ref first[head * stride], ref slots, span,
                interleaved, factor, ref headWeights);
        }

        if (rotaryDim < headDim)
        {
            for (int head = 0; head < heads; head++)
            {
                PassThrough<TOps, TVector, TSource>(ref Unsafe.Add(ref token, head * sourceStride), ref first[head * stride], scales[head], bridge);
            }
        }
    }

    /// <summary>
    /// The rotated span of one head from <paramref name="from"/> into the cache at <paramref name="to"/>, a pair block
    /// at a time: loaded and widened, normalized as (x·scale)·w' where the keys have a norm, rotated, rounded and stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AppendHead<TOps, TVector, TSource, TProducts>(ref TSource from, ref TCache to, ref float slots, int span, bool interleaved,
        TVector factor, ref float weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TSource : unmanaged
        where TProducts : IProductSum
    {
        nuint count = (nuint)TOps.Count, block = 2 * count;
        if (interleaved)
        {
            for (nuint offset = 0; offset < (nuint)span; offset += block)
            {
                PairBlock<TOps, TVector>.Load(ref Unsafe.Add(ref from, offset), out TVector first, out TVector second);
                if (normalizes)
                {
                    Normalize<TOps, TVector>(ref first, ref second, factor, ref Unsafe.Add(ref weights, offset));
                }

                SingleKernel<TOps, TVector, TProducts>.RotateHalfSplit(ref first, ref second, TOps.Load(ref Unsafe.Add(ref slots, offset)),
                    TOps.Load(ref Unsafe.Add(ref slots, offset + count)));
                PairBlock<TOps, TVector>.Store(first, second, ref Unsafe.Add(ref to, offset));
            }

            return;
        }

        nuint half = (nuint)span;
        for (nuint offset = 0; offset < half; offset += block)
        {
            PairBlock<TOps, TVector>.Load(ref Unsafe.Add(ref from, offset), out TVector firstEven, out TVector firstOdd);
            PairBlock<TOps, TVector>.Load(ref Unsafe.Add(ref from, half + offset), out TVector secondEven, out TVector secondOdd);
            if (normalizes)
            {
                Normalize<TOps, TVector>(ref firstEven, ref firstOdd, factor, ref Unsafe.Add(ref weights, offset));
                Normalize<TOps, TVector>(ref secondEven, ref secondOdd, factor, ref Unsafe.Add(ref weights, half + offset));
            }

            ref float slot = ref Unsafe.Add(ref slots, 2 * offset);
            SingleKernel<TOps, TVector, TProducts>.RotateHalfSplit(ref firstEven, ref secondEven, TOps.Load(ref slot),
                TOps.Load(ref Unsafe.Add(ref slot, 2 * count)));
            SingleKernel<TOps, TVector, TProducts>.RotateHalfSplit(ref firstOdd, ref secondOdd, TOps.Load(ref Unsafe.Add(ref slot, count)),
                TOps.Load(ref Unsafe.Add(ref slot, 3 * count)));
            PairBlock<TOps, TVector>.Store(firstEven, firstOdd, ref Unsafe.Add(ref to, offset));
            PairBlock<TOps, TVector>.Store(secondEven, secondOdd, ref Unsafe.Add(ref to, half + offset));
        }
    }

    /// <summary>(x·scale)·w' of a pair block, the weights split into even and odd elements as the block is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Normalize<TOps, TVector>(ref TVector even, ref TVector odd, TVector factor, ref float weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        PairBlock<TOps, TVector>.Load(ref weights, out TVector evenWeights, out TVector oddWeights);
        even = TOps.Multiply(TOps.Multiply(even, factor), evenWeights);
        odd = TOps.Multiply(TOps.Multiply(odd, factor), oddWeights);
    }

    /// <summary>The elements past the rotary dim of one head into the cache: normalized where the keys have a norm, converted.</summary>
    private void PassThrough<TOps, TVector, TSource>(ref TSource from, ref TCache to, float scale, Span<float> bridge)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TSource : unmanaged
    {
        int length = headDim - rotaryDim;
        var destination = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref to, rotaryDim), length);
        if (normalizes)
        {
            // Normalized keys are float32 here: widened into scratch, or float32 where they lie.
            Span<float> normalized = bridge[..length];
            RmsNorm<TOps, TVector>.Scale<TimesWeight>(ref Unsafe.Add(ref Unsafe.As<TSource, float>(ref from), rotaryDim),
                ref MemoryMarshal.GetReference(normalized), length, scale, ref Unsafe.AsRef<float>(weights + rotaryDim));
            ElementConversion<TOps, TVector>.Narrow(normalized, destination);
        }
        else
        {
            KvAppend<TCache>.Convert<TOps, TVector, TSource, TCache>(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref from, rotaryDim), length),
                destination, bridge);
        }
    }
}
