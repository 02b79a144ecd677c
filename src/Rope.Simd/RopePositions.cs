namespace Rope.Simd;

/// <summary>
/// The position of each token: either consecutive from a start (token t at start + t) or one per token from a span
/// (e.g. position ids after padding, or a K-shift). Converts implicitly from <see cref="int"/> and from a span.
/// </summary>
public readonly ref struct RopePositions
{
    private readonly ReadOnlySpan<int> explicitPositions;
    private readonly int start;
    private readonly bool isExplicit;

    private RopePositions(int start)
    {
        this.start = start;
    }

    private RopePositions(ReadOnlySpan<int> positions)
    {
        explicitPositions = positions;
        isExplicit = true;
    }

    /// <summary>Token t is at position <paramref name="start"/> + t.</summary>
    public static RopePositions Sequential(int start) => new(start);

    /// <summary>Token t is at position <c>positions[t]</c>; the span's length must equal the token count.</summary>
    public static RopePositions Explicit(ReadOnlySpan<int> positions) => new(positions);

    /// <summary>Same as <see cref="Sequential"/>.</summary>
    public static implicit operator RopePositions(int start) => new(start);

    /// <summary>Same as <see cref="Explicit"/>.</summary>
    public static implicit operator RopePositions(ReadOnlySpan<int> positions) => new(positions);

    /// <summary>Same as <see cref="Explicit"/>.</summary>
    public static implicit operator RopePositions(int[] positions) => new(positions);

    /// <summary>Whether positions come from a span rather than a start.</summary>
    public bool IsExplicit => isExplicit;

    /// <summary>The start of sequential positions (0 for explicit ones).</summary>
    public int Start => start;

    /// <summary>The explicit positions (empty for sequential ones).</summary>
    public ReadOnlySpan<int> Values => explicitPositions;

    /// <summary>Position of token <paramref name="token"/>; the caller has validated the range.</summary>
    internal int this[int token] => isExplicit ? explicitPositions[token] : start + token;

    /// <summary>Throws unless every one of <paramref name="tokens"/> positions has a row in <paramref name="table"/>.</summary>
    internal void Validate(RopeTable table, int tokens)
    {
        if (isExplicit)
        {
            if (explicitPositions.Length != tokens)
            {
                throw new ArgumentException(
                    $"{explicitPositions.Length} positions given for {tokens} tokens; one position per token is expected.", "positions");
            }

            foreach (int position in explicitPositions)
            {
                if (!table.Contains(position))
                {
                    throw table.PositionOutOfRange("positions", position);
                }
            }
        }
        else if (tokens > 0)
        {
            long last = (long)start + tokens - 1;
            if (!table.Contains(start) || last >= table.EndPosition)
            {
                throw table.PositionOutOfRange("positions", table.Contains(start) ? last : start);
            }
        }
    }
}
