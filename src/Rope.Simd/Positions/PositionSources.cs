using System.Diagnostics;
using System.Runtime.CompilerServices;
using Rope.Simd.Kernels;
using Rope.Simd.Rows;

namespace Rope.Simd.Positions;

/// <summary>
/// The position of each token of a call, and through it the token's row. One implementation per kind of
/// <see cref="RopePositions"/>, passed to the driver as a type argument; caller spans are pinned by the entry.
/// </summary>
internal interface IPositionSource
{
    /// <summary>Floats of scratch a row needs, given what the row source needs per row.</summary>
    int ScratchLength(int rowScratch, int rotaryDim);

    /// <summary>
    /// The row of token <paramref name="index"/> of the call, counted over all sequences: token <paramref name="token"/>
    /// of sequence <paramref name="sequence"/> (validated by the entry; rechecked by the row source).
    /// </summary>
    ref float Row<TRows, TOps, TVector>(in TRows rows, int index, int sequence, int token, Span<float> scratch)
        where TRows : IRowSource
        where TOps : IVectorOps<TVector>
        where TVector : struct;

    /// <summary>Whether each token has one position (<see cref="Position"/>), rather than a row assembled from several.</summary>
    static abstract bool IsSingleStream { get; }

    /// <summary>The position of token <paramref name="index"/> (one read of caller memory); called only where <see cref="IsSingleStream"/> is true.</summary>
    long Position(int index, int sequence, int token);
}

/// <summary>Every sequence's tokens at start, start + 1, ...</summary>
internal readonly struct SequentialPositions(long start) : IPositionSource
{
    public int ScratchLength(int rowScratch, int rotaryDim) => rowScratch;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Row<TRows, TOps, TVector>(in TRows rows, int index, int sequence, int token, Span<float> scratch)
        where TRows : IRowSource
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        ref rows.Row<TOps, TVector>(start + token, scratch);

    public static bool IsSingleStream => true;

    public long Position(int index, int sequence, int token) => start + token;
}

/// <summary>Sequence b's tokens at starts[b], starts[b] + 1, ... (pinned caller memory).</summary>
internal readonly unsafe struct SequenceStartPositions(int* starts) : IPositionSource
{
    public int ScratchLength(int rowScratch, int rotaryDim) => rowScratch;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Row<TRows, TOps, TVector>(in TRows rows, int index, int sequence, int token, Span<float> scratch)
        where TRows : IRowSource
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        ref rows.Row<TOps, TVector>(Position(index, sequence, token), scratch);

    public static bool IsSingleStream => true;

    public long Position(int index, int sequence, int token) => (long)Volatile.Read(ref starts[sequence]) + token;
}

/// <summary>One position per token of every sequence (<c>[batch][tokens]</c>), read from pinned caller memory of int32 or int64.</summary>
internal readonly unsafe struct ExplicitPositions<TIndex>(TIndex* values) : IPositionSource
    where TIndex : unmanaged
{
    public int ScratchLength(int rowScratch, int rotaryDim) => rowScratch;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Row<TRows, TOps, TVector>(in TRows rows, int index, int sequence, int token, Span<float> scratch)
        where TRows : IRowSource
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        // One read of the caller's value: the row source checks exactly the value it uses.
        return ref rows.Row<TOps, TVector>(Position(index, sequence, token), scratch);
    }

    public static bool IsSingleStream => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Position(int index, int sequence, int token) =>
        typeof(TIndex) == typeof(int) ? Volatile.Read(ref ((int*)values)[index]) : Volatile.Read(ref ((long*)values)[index]);
}

/// <summary>Three positions per token (temporal, height, width); each pair takes its stream's row (M-RoPE).</summary>
internal readonly unsafe struct MultimodalPositions(int* temporal, int* height, int* width, MropeSections sections) : IPositionSource
{
    // The assembled row, then one scratch row per stream for sources that write rows.
    public int ScratchLength(int rowScratch, int rotaryDim) => rotaryDim + 3 * rowScratch;

    public ref float Row<TRows, TOps, TVector>(in TRows rows, int index, int sequence, int token, Span<float> scratch)
        where TRows : IRowSource
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        int rotaryDim = rows.RotaryDim, computed = rows.ScratchLength;
        Span<float> composite = scratch[..rotaryDim];
        ref float temporalRow = ref rows.Row<TOps, TVector>(Volatile.Read(ref temporal[index]), scratch.Slice(rotaryDim, computed));
        ref float heightRow = ref rows.Row<TOps, TVector>(Volatile.Read(ref height[index]), scratch.Slice(rotaryDim + computed, computed));
        ref float widthRow = ref rows.Row<TOps, TVector>(Volatile.Read(ref width[index]), scratch.Slice(rotaryDim + 2 * computed, computed));
        for (int pair = 0; pair < sections.PairCount; pair++)
        {
            int stream = sections.StreamOf(pair);
            ref float row = ref stream == MropeSections.Height ? ref heightRow : ref stream == MropeSections.Width ? ref widthRow : ref temporalRow;
            composite[2 * pair] = Unsafe.Add(ref row, 2 * pair);
            composite[2 * pair + 1] = Unsafe.Add(ref row, 2 * pair + 1);
        }

        return ref composite[0];
    }

    public static bool IsSingleStream => false;

    // Three streams make one row pair by pair; the driver asks only single-stream sources for a position.
    public long Position(int index, int sequence, int token) => throw new UnreachableException();
}
