namespace Rope.Simd;

/// <summary>
/// The position of each token: either consecutive from a start (token t at start + t), one per token from a span
/// (e.g. position ids after padding, or a K-shift), or three per token for multimodal RoPE (temporal, height and
/// width, with <see cref="MropeSections"/> saying which pairs follow which). Converts implicitly from
/// <see cref="int"/> and from a span.
/// </summary>
public readonly ref struct RopePositions
{
    private readonly ReadOnlySpan<int> explicitPositions;
    private readonly ReadOnlySpan<int> heightPositions;
    private readonly ReadOnlySpan<int> widthPositions;
    private readonly MropeSections? sections;
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

    private RopePositions(ReadOnlySpan<int> temporal, ReadOnlySpan<int> height, ReadOnlySpan<int> width, MropeSections sections)
    {
        explicitPositions = temporal;
        heightPositions = height;
        widthPositions = width;
        this.sections = sections;
        isExplicit = true;
    }

    /// <summary>Token t is at position <paramref name="start"/> + t.</summary>
    public static RopePositions Sequential(int start) => new(start);

    /// <summary>Token t is at position <c>positions[t]</c>; the span's length must equal the token count.</summary>
    public static RopePositions Explicit(ReadOnlySpan<int> positions) => new(positions);

    /// <summary>
    /// Multimodal RoPE (Qwen2-VL, Qwen3-VL): token t has positions temporal[t], height[t] and width[t], and pair i
    /// rotates by the one its section says. Each span's length must equal the token count; text tokens carry the same
    /// value in all three.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="sections"/> is null.</exception>
    public static RopePositions Multimodal(ReadOnlySpan<int> temporal, ReadOnlySpan<int> height, ReadOnlySpan<int> width, MropeSections sections)
    {
        ArgumentNullException.ThrowIfNull(sections);
        return new(temporal, height, width, sections);
    }

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

    /// <summary>The multimodal sections, or null for one position per token.</summary>
    public MropeSections? Sections => sections;

    /// <summary>Position of token <paramref name="token"/> (the temporal one for multimodal positions); the caller has validated the range.</summary>
    internal int this[int token] => isExplicit ? explicitPositions[token] : start + token;

    /// <summary>
    /// The table row token <paramref name="token"/> rotates by: the table's own row, or for multimodal positions a row
    /// assembled in <paramref name="composite"/> (rotaryDim floats) pair by pair from the rows of the three streams.
    /// </summary>
    internal ref float Row(RopeTable table, int token, Span<float> composite)
    {
        if (sections is null)
        {
            return ref table.RowReference(this[token]);
        }

        ReadOnlySpan<float> temporal = table.GetRow(explicitPositions[token]);
        ReadOnlySpan<float> height = table.GetRow(heightPositions[token]);
        ReadOnlySpan<float> width = table.GetRow(widthPositions[token]);
        for (int pair = 0; pair < sections.PairCount; pair++)
        {
            ReadOnlySpan<float> row = sections.StreamOf(pair) switch
            {
                MropeSections.Height => height,
                MropeSections.Width => width,
                _ => temporal,
            };
            composite[2 * pair] = row[2 * pair];
            composite[2 * pair + 1] = row[2 * pair + 1];
        }

        return ref composite[0];
    }

    /// <summary>Throws unless every one of <paramref name="tokens"/> positions has a row in <paramref name="table"/>.</summary>
    internal void Validate(RopeTable table, int tokens)
    {
        if (sections is not null)
        {
            if (sections.PairCount != table.RotaryDim / 2)
            {
                throw new ArgumentException(
                    $"The M-RoPE sections cover {sections.PairCount} pairs but the table rotates {table.RotaryDim / 2}.", "positions");
            }

            Each(heightPositions, table, tokens, "height");
            Each(widthPositions, table, tokens, "width");
        }

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

    private static void Each(ReadOnlySpan<int> positions, RopeTable table, int tokens, string stream)
    {
        if (positions.Length != tokens)
        {
            throw new ArgumentException($"{positions.Length} {stream} positions given for {tokens} tokens; one per token is expected.", "positions");
        }

        foreach (int position in positions)
        {
            if (!table.Contains(position))
            {
                throw table.PositionOutOfRange("positions", position);
            }
        }
    }
}
