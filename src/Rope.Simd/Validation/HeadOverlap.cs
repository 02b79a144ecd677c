using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// Exact tests of whether strided heads share memory: the heads of one shape among themselves, and the heads of two
/// tensors (queries and keys) with each other. Work is in bytes, so spans that are not element-aligned with each other
/// are compared exactly too.
/// </summary>
/// <remarks>
/// A tensor's heads form a lattice: head (t, h) covers [offset + t·T + h·H, + extent). Two heads of one shape meet
/// when some (Δt, Δh) ≠ (0, 0) within the counts has |Δt·T + Δh·H| &lt; headDim; for each Δ along the shorter axis only
/// the two Δ along the other axis nearest to cancelling it can come closest, so the test takes min(tokens, heads)
/// steps, and none when the strides step over each other's extent (the usual layouts). Two tensors meet when some head
/// of one intersects some head of the other: the tensor with fewer heads is walked, and for each of its heads the
/// other's candidates are found by division, so the cost is bounded by the heads of the smaller tensor, and to one
/// token when both share the token count and stride (packed QKV slices), by the periodicity of the token axis.
/// </remarks>
internal static class HeadOverlap
{
    /// <summary>
    /// Whether two heads of the shape share an element; if so, <paramref name="offender"/> is the stride to blame and
    /// <paramref name="witness"/> describes two heads that meet.
    /// </summary>
    public static bool WithinShape(int tokens, int heads, int headDim, int tokenStride, int headStride, out string offender, out string witness)
    {
        offender = witness = "";
        if (tokens == 0 || heads == 0)
        {
            return false;
        }

        if (heads > 1 && headStride < headDim)
        {
            offender = "headStride";
            witness = $"heads 0 and 1 of a token start {headStride} elements apart";
            return true;
        }

        if (tokens > 1 && tokenStride < headDim)
        {
            offender = "tokenStride";
            witness = $"head 0 of tokens 0 and 1 start {tokenStride} elements apart";
            return true;
        }

        if (tokens == 1 || heads == 1)
        {
            return false;
        }

        // The usual case: one axis steps over everything the other spans.
        bool headsInner = headStride <= tokenStride;
        (long innerStride, long innerCount, long outerStride) = headsInner ? (headStride, heads, tokenStride) : (tokenStride, tokens, (long)headStride);
        if (outerStride >= (innerCount - 1) * innerStride + headDim)
        {
            return false;
        }

        // Walk Δ along the axis with fewer entries; along the other, only the steps nearest to cancelling it can meet.
        bool walkTokens = tokens <= heads;
        (long walkStride, long walkCount, long otherStride, long otherCount) = walkTokens
            ? (tokenStride, tokens, headStride, heads)
            : (headStride, heads, tokenStride, (long)tokens);
        for (long step = 1; step < walkCount; step++)
        {
            long distance = step * walkStride;
            long nearest = distance / otherStride;
            for (long other = Math.Max(nearest - 1, -(otherCount - 1)); other <= Math.Min(nearest + 1, otherCount - 1); other++)
            {
                long gap = Math.Abs(distance - other * otherStride);
                if (gap < headDim)
                {
                    offender = tokenStride >= headStride ? "tokenStride" : "headStride";
                    (long tokenStep, long headStep) = walkTokens ? (step, -other) : (-other, step);
                    witness = tokenStep >= 0
                        ? $"head {Math.Max(0, -headStep)} of token 0 and head {Math.Max(0, headStep)} of token {tokenStep} start {gap} elements apart"
                        : $"head {Math.Max(0, headStep)} of token 0 and head {Math.Max(0, -headStep)} of token {-tokenStep} start {gap} elements apart";
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// <see cref="Between"/> for shapes with sequences: whole extents that do not meet never overlap; otherwise, with the
    /// same batch count and stride, sequence i of the first is compared with each sequence of the second its block can
    /// reach. Tensors that share memory with different batch layouts are reported as overlapping.
    /// </summary>
    public static bool BetweenSequences(RopeShape first, int firstExtent, RopeShape second, int secondExtent, long secondOffset, int elementSize)
    {
        if (first.Batch <= 1 && second.Batch <= 1)
        {
            return Between(first, firstExtent, second, secondExtent, secondOffset, elementSize);
        }

        if (first.RequiredLength == 0 || second.RequiredLength == 0
            || secondOffset >= (long)first.RequiredLength * elementSize || secondOffset + (long)second.RequiredLength * elementSize <= 0)
        {
            return false;
        }

        if (first.Batch != second.Batch || first.BatchStride != second.BatchStride)
        {
            return true;
        }

        RopeShape firstSequence = new(first.Tokens, first.Heads, first.HeadDim, first.TokenStride, first.HeadStride);
        RopeShape secondSequence = new(second.Tokens, second.Heads, second.HeadDim, second.TokenStride, second.HeadStride);
        long stride = (long)first.BatchStride * elementSize;
        long firstLength = (long)first.SequenceLength * elementSize, secondLength = (long)second.SequenceLength * elementSize;
        for (int delta = 1 - first.Batch; delta < first.Batch; delta++)
        {
            long offset = secondOffset + delta * stride;
            if (offset < firstLength && offset + secondLength > 0
                && Between(firstSequence, firstExtent, secondSequence, secondExtent, offset, elementSize))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether any element of one tensor's heads lies in memory of another's: each head covers its first
    /// <paramref name="firstExtent"/> (resp. <paramref name="secondExtent"/>) elements of <paramref name="elementSize"/>
    /// bytes, and the second tensor starts <paramref name="secondOffset"/> bytes after the first.
    /// </summary>
    public static bool Between(RopeShape first, int firstExtent, RopeShape second, int secondExtent, long secondOffset, int elementSize)
    {
        if (first.RequiredLength == 0 || second.RequiredLength == 0)
        {
            return false;
        }

        var a = new Lattice(0, first.Tokens, (long)first.TokenStride * elementSize, first.Heads, (long)first.HeadStride * elementSize, (long)firstExtent * elementSize);
        var b = new Lattice(secondOffset, second.Tokens, (long)second.TokenStride * elementSize, second.Heads, (long)second.HeadStride * elementSize,
            (long)secondExtent * elementSize);
        if (b.Start >= a.End || a.Start >= b.End)
        {
            return false;
        }

        // With one token stride and count, token t of one tensor meets token t' of the other exactly when token 0 of
        // the first meets token t' - t of the second, so one token against 2·tokens - 1 covers every pair.
        if (first.Tokens == second.Tokens && first.Tokens > 1 && first.TokenStride == second.TokenStride)
        {
            long tokens = first.Tokens;
            a = a with { TokenCount = 1 };
            b = b with { Offset = b.Offset - (tokens - 1) * b.TokenStride, TokenCount = 2 * tokens - 1 };
        }

        return a.TokenCount * a.HeadCount <= b.TokenCount * b.HeadCount ? a.AnyHeadMeets(b) : b.AnyHeadMeets(a);
    }

    /// <summary>Heads at Offset + t·TokenStride + h·HeadStride, each Extent bytes long.</summary>
    private readonly record struct Lattice(long Offset, long TokenCount, long TokenStride, long HeadCount, long HeadStride, long Extent)
    {
        public long Start => Offset;

        public long End => Offset + (TokenCount - 1) * TokenStride + (HeadCount - 1) * HeadStride + Extent;

        public bool AnyHeadMeets(Lattice other)
        {
            for (long token = 0; token < TokenCount; token++)
            {
                for (long head = 0; head < HeadCount; head++)
                {
                    if (other.Meets(Offset + token * TokenStride + head * HeadStride, Extent))
                    {
                        return true;
                    }
                }
            }

            return false;
        }

        /// <summary>Whether a head of this lattice intersects [start, start + length).</summary>
        private bool Meets(long start, long length)
        {
            // A head at Offset + x meets the range when start - Extent < Offset + x < start + length.
            long low = start - Extent - Offset, high = start + length - Offset;
            bool headsInner = HeadCount == 1 || (TokenCount > 1 && HeadStride <= TokenStride);
            (long innerStride, long innerCount, long outerStride, long outerCount) = headsInner
                ? (HeadStride, HeadCount, TokenStride, TokenCount)
                : (TokenStride, TokenCount, HeadStride, HeadCount);
            if (outerCount == 1)
            {
                return InnerMeets(low, high, innerStride, innerCount);
            }

            // Outer steps o whose inner run can reach the range: o·outerStride in (low - (innerCount - 1)·innerStride, high).
            long firstOuter = Math.Max(0, FloorDivide(low - (innerCount - 1) * innerStride, outerStride) + 1);
            long lastOuter = Math.Min(outerCount - 1, CeilingDivide(high, outerStride) - 1);
            for (long outer = firstOuter; outer <= lastOuter; outer++)
            {
                long shift = outer * outerStride;
                if (InnerMeets(low - shift, high - shift, innerStride, innerCount))
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>Whether some i in [0, count) has i·stride strictly between low and high.</summary>
        private static bool InnerMeets(long low, long high, long stride, long count)
        {
            if (count == 1 || stride == 0)
            {
                return low < 0 && 0 < high;
            }

            long first = Math.Max(0, FloorDivide(low, stride) + 1), last = Math.Min(count - 1, CeilingDivide(high, stride) - 1);
            return first <= last;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long FloorDivide(long value, long divisor)
    {
        long quotient = Math.DivRem(value, divisor, out long remainder);
        return remainder < 0 ? quotient - 1 : quotient;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long CeilingDivide(long value, long divisor)
    {
        long quotient = Math.DivRem(value, divisor, out long remainder);
        return remainder > 0 ? quotient + 1 : quotient;
    }
}
