using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// Every position of a call against the rows, and the counts against the shape, checked before anything is written.
/// The kernels check each position again where it indexes rows, since the caller's memory may change meanwhile.
/// </summary>
internal static class PositionChecks
{
    /// <summary>Throws unless every token of <paramref name="shape"/> has a position, and every position a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Check(scoped in RopePositions positions, scoped in RopeRows rows, RopeShape shape)
    {
        // A start position (every decode step) is checked inline; the other kinds walk caller memory anyway.
        if (positions.Kind == PositionKind.Sequential)
        {
            SequenceFrom(positions.Start, rows, shape.Tokens);
        }
        else
        {
            CheckValues(positions, rows, shape);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CheckValues(scoped in RopePositions positions, scoped in RopeRows rows, RopeShape shape)
    {
        int tokens = shape.Tokens, total = shape.TotalTokens;
        switch (positions.Kind)
        {
            case PositionKind.SequenceStarts:
                ReadOnlySpan<int> starts = positions.SequenceStarts;
                if (starts.Length != shape.Batch)
                {
                    Guard.ThrowInvalid($"{starts.Length} start positions given for {shape.Batch} sequences; one per sequence is expected.", "positions");
                }

                foreach (int sequenceStart in starts)
                {
                    SequenceFrom(sequenceStart, rows, tokens);
                }

                break;
            case PositionKind.Int32:
                Each(positions.Values, rows, total, "");
                break;
            case PositionKind.Int64:
                Each(positions.LongValues, rows, total, "");
                break;
            default:
                MropeSections sections = positions.Sections!;
                if (sections.PairCount != rows.RotaryDim / 2)
                {
                    Guard.ThrowInvalid($"The M-RoPE sections cover {sections.PairCount} pairs but the rows rotate {rows.RotaryDim / 2}.", "positions");
                }

                Each(positions.Values, rows, total, "temporal ");
                Each(positions.HeightValues, rows, total, "height ");
                Each(positions.WidthValues, rows, total, "width ");
                break;
        }
    }

    private static void SequenceFrom(int first, scoped in RopeRows rows, int tokens)
    {
        if (tokens > 0 && !rows.ContainsRange(first, tokens))
        {
            ThrowOutOfRange(rows, rows.Contains(first) ? (long)first + tokens - 1 : first);
        }
    }

    private static void Each<TIndex>(ReadOnlySpan<TIndex> positions, scoped in RopeRows rows, int tokens, string stream)
        where TIndex : IBinaryInteger<TIndex>
    {
        if (positions.Length != tokens)
        {
            Guard.ThrowInvalid($"{positions.Length} {stream}positions given for {tokens} tokens; one per token is expected.", "positions");
        }

        foreach (TIndex index in positions)
        {
            long position = long.CreateTruncating(index);
            if (!rows.Contains(position))
            {
                ThrowOutOfRange(rows, position);
            }
        }
    }

    // Out of line: the message is formatted only on failure, and the checks stay small enough to inline into a decode call.
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowOutOfRange(scoped in RopeRows rows, long position) => throw rows.PositionOutOfRange("positions", position);
}
