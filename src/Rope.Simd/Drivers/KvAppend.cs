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
/// Per token the key heads are widened into float32 scratch, rotated there by the float32 kernel (products fused where
/// the ISA has FMA for a float32 cache, as <c>Apply</c> rotates float32; each product and sum rounded for a 16-bit
/// cache, the same bits on every path) and rounded once into the cache; values are converted exactly as the span
/// conversions do. Positions and block-table entries were checked at the entry and are checked again here, where
/// they index the cache.
/// </remarks>
internal readonly unsafe struct KvAppend<TCache>(void* keyCache, void* valueCache, KvCacheAddressing addressing, int* blockTable, int blockTableLength)
    : IRotationOperation
    where TCache : unmanaged
{
    [SkipLocalsInit]
    public void Run<TOps, TVector, TElement, TRows, TPositions>(in TRows rows, in TPositions positions, RopeLayout layout, bool inverse,
        int firstToken, int endToken, int tokensPerSequence, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource
    {
        RopeShape shape = first.Shape;
        if (shape.Heads == 0 || endToken <= firstToken)
        {
            return;
        }

        int rotaryDim = rows.RotaryDim, headDim = shape.HeadDim, tokenLength = shape.Heads * headDim;
        int rowLength = positions.ScratchLength(rows.ScratchLength, rotaryDim);
        // The token's keys in float32, its row where one is written, and its values between two 16-bit types.
        int length = 2 * tokenLength + rowLength;
        float[]? rented = null;
        Span<float> scratch = length <= Scratch.StackLimit
            ? Scratch.AlignToCacheLine(stackalloc float[length + Scratch.CacheLineFloats], length)
            : (rented = ArrayPool<float>.Shared.Rent(length));
        var table = new ReadOnlySpan<int>(blockTable, blockTableLength);
        // Pinned: the token's row may be written here, and the rotation reads it through a pointer.
        fixed (float* pinned = scratch)
        {
            Span<float> values = scratch[..tokenLength], rowScratch = scratch.Slice(tokenLength, rowLength);
            Span<float> bridge = scratch.Slice(tokenLength + rowLength, tokenLength);
            var packed = new RopeShape(1, shape.Heads, headDim);
            var target = new RotationTarget<float>(values, values, packed);
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
                var tokenRow = new InterleavedRows<float>((byte*)Unsafe.AsPointer(ref row), rotaryDim, rotaryDim, 0);
                ElementConversion<TOps, TVector>.WidenHeads(first.Source, tokenOffset, shape, values);

                if (typeof(TCache) == typeof(float))
                {
                    RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, FusedWhereAvailable>, float>.Rotate(tokenRow, new SequentialPositions(0),
                        layout, inverse, 0, 1, 1, target, default);
                }
                else
                {
                    RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, RoundedTwice>, float>.Rotate(tokenRow, new SequentialPositions(0),
                        layout, inverse, 0, 1, 1, target, default);
                }

                // A position's heads lie one after another in the cache except head-major: then keys, and values whose
                // heads lie one after another too, go as one run each.
                bool keysAsRun = addressing.HeadsAdjacent, valuesAsRun = keysAsRun && shape.HeadStride == headDim;
                long firstHead = addressing.HeadOffset(sequence, position, 0, block);
                if (keysAsRun)
                {
                    Convert<TOps, TVector, float, TCache>(values, new Span<TCache>((TCache*)keyCache + firstHead, tokenLength), default);
                }

                if (valuesAsRun)
                {
                    Convert<TOps, TVector, TElement, TCache>(second.Source.Slice((int)tokenOffset, tokenLength),
                        new Span<TCache>((TCache*)valueCache + firstHead, tokenLength), bridge);
                }

                for (int head = 0; head < shape.Heads && !(keysAsRun && valuesAsRun); head++)
                {
                    long offset = addressing.HeadOffset(sequence, position, head, block);
                    if (!keysAsRun)
                    {
                        Convert<TOps, TVector, float, TCache>(values.Slice(head * headDim, headDim), new Span<TCache>((TCache*)keyCache + offset, headDim), default);
                    }

                    if (!valuesAsRun)
                    {
                        Convert<TOps, TVector, TElement, TCache>(second.Source.Slice((int)(tokenOffset + (nint)head * shape.HeadStride), headDim),
                            new Span<TCache>((TCache*)valueCache + offset, headDim), bridge);
                    }
                }


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
    /// Elements of one type into another: a copy for the same type, and otherwise through float32 (exact widening,
    /// rounding to nearest even), between the two 16-bit types by way of <paramref name="bridge"/>.
    /// </summary>
    private static void Convert<TOps, TVector, TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination, Span<float> bridge)
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
