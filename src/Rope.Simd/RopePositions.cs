using System.Runtime.CompilerServices;
using Rope.Simd.Tables;

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

    /// <summary>The height positions of multimodal positions (empty otherwise).</summary>
    internal ReadOnlySpan<int> HeightValues => heightPositions;

    /// <summary>The width positions of multimodal positions (empty otherwise).</summary>
    internal ReadOnlySpan<int> WidthValues => widthPositions;

    /// <summary>Position of token <paramref name="token"/> (the temporal one for multimodal positions); the caller has validated the range.</summary>
    internal int this[int token] => isExplicit ? explicitPositions[token] : start + token;

    /// <summary>
    /// The row token <paramref name="token"/> rotates by. <paramref name="scratch"/> holds <see cref="ScratchLength"/>
    /// floats: a computed row, or for multimodal positions the row assembled pair by pair from the three streams' rows
    /// (each computed into its own part of the scratch when rows are not stored).
    /// </summary>
    internal ref float Row(in RowSource rows, int token, Span<float> scratch)
    {
        if (sections is null)
        {
            return ref rows.Row(this[token], scratch);
        }

        int rotaryDim = rows.RotaryDim, computed = rows.IsComputed ? rotaryDim : 0;
        Span<float> composite = scratch[..rotaryDim];
        ref float temporal = ref rows.Row(explicitPositions[token], scratch.Slice(rotaryDim, computed));
        ref float height = ref rows.Row(heightPositions[token], scratch.Slice(rotaryDim + computed, computed));
        ref float width = ref rows.Row(widthPositions[token], scratch.Slice(rotaryDim + 2 * computed, computed));
        for (int pair = 0; pair < sections.PairCount; pair++)
        {
            int stream = sections.StreamOf(pair);
            ref float row = ref stream == MropeSections.Height ? ref height : ref stream == MropeSections.Width ? ref width : ref temporal;
            composite[2 * pair] = Unsafe.Add(ref row, 2 * pair);
            composite[2 * pair + 1] = Unsafe.Add(ref row, 2 * pair + 1);
        }

        return ref composite[0];
    }

    /// <summary>Scratch floats <see cref="Row"/> needs: computed rows (three streams' for multimodal positions) and the assembled row.</summary>
    internal int ScratchLength(in RowSource rows)
    {
        int computedRow = rows.IsComputed ? rows.RotaryDim : 0;
        return sections is null ? computedRow : rows.RotaryDim + 3 * computedRow;
    }

    /// <summary>These positions for tokens [first, first + count).</summary>
    internal RopePositions Slice(int first, int count)
    {
        if (!isExplicit)
        {
            return new(start + first);
        }

        return sections is null
            ? new(explicitPositions.Slice(first, count))
            : new(explicitPositions.Slice(first, count), heightPositions.Slice(first, count), widthPositions.Slice(first, count), sections);
    }

    /// <summary>Throws unless every one of <paramref name="tokens"/> positions has a row.</summary>
    internal void Validate(in RowSource rows, int tokens)
    {
        if (sections is not null)
        {
            if (sections.PairCount != rows.RotaryDim / 2)
            {
                throw new ArgumentException(
                    $"The M-RoPE sections cover {sections.PairCount} pairs but the table rotates {rows.RotaryDim / 2}.", "positions");
            }

            Each(heightPositions, rows, tokens, "height");
            Each(widthPositions, rows, tokens, "width");
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
                if (!rows.Contains(position))
                {
                    throw rows.PositionOutOfRange("positions", position);
                }
            }
        }
        else if (tokens > 0 && !rows.ContainsRange(start, tokens))
        {
            throw rows.PositionOutOfRange("positions", rows.Contains(start) ? (long)start + tokens - 1 : start);
        }
    }

    private static void Each(ReadOnlySpan<int> positions, in RowSource rows, int tokens, string stream)
    {
        if (positions.Length != tokens)
        {
            throw new ArgumentException($"{positions.Length} {stream} positions given for {tokens} tokens; one per token is expected.", "positions");
        }

        foreach (int position in positions)
        {
            if (!rows.Contains(position))
            {
                throw rows.PositionOutOfRange("positions", position);
            }
        }
    }
}
