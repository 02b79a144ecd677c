namespace Rope.Simd;

/// <summary>
/// The position of each token: either consecutive from a start (token t at start + t), one per token from a span of
/// int32 or int64 (position ids as ONNX Runtime and torch hand them, after padding, or a K-shift), or three per token
/// for multimodal RoPE (temporal, height and width, with <see cref="MropeSections"/> saying which pairs follow which).
/// Converts implicitly from <see cref="int"/>, from int and long arrays and from spans of them.
/// </summary>
/// <remarks>
/// Explicit positions are read from the caller's memory as the call runs; each is range-checked at the entry and
/// again where it indexes rows, so a caller that changes them during the call gets an exception, never a read outside
/// the rows.
/// </remarks>
public readonly ref struct RopePositions
{
    private readonly ReadOnlySpan<int> explicitPositions;
    private readonly ReadOnlySpan<long> longPositions;
    private readonly ReadOnlySpan<int> heightPositions;
    private readonly ReadOnlySpan<int> widthPositions;
    private readonly ReadOnlySpan<int> sequenceStarts;
    private readonly MropeSections? sections;
    private readonly int start;
    private readonly PositionKind kind;

    private RopePositions(int start)
    {
        this.start = start;
        kind = PositionKind.Sequential;
    }

    private RopePositions(ReadOnlySpan<int> positions)
    {
        explicitPositions = positions;
        kind = PositionKind.Int32;
    }

    private RopePositions(ReadOnlySpan<long> positions)
    {
        longPositions = positions;
        kind = PositionKind.Int64;
    }

    private RopePositions(ReadOnlySpan<int> starts, PositionKind kind)
    {
        sequenceStarts = starts;
        this.kind = kind;
    }

    private RopePositions(ReadOnlySpan<int> temporal, ReadOnlySpan<int> height, ReadOnlySpan<int> width, MropeSections sections)
    {
        explicitPositions = temporal;
        heightPositions = height;
        widthPositions = width;
        this.sections = sections;
        kind = PositionKind.Multimodal;
    }

    /// <summary>Token t of every sequence is at position <paramref name="start"/> + t.</summary>
    public static RopePositions Sequential(int start) => new(start);

    /// <summary>
    /// Token t of sequence b is at position <c>starts[b]</c> + t (a batch of sequences that continue from their own
    /// lengths, e.g. decode steps of several requests); the span's length must equal the batch.
    /// </summary>
    public static RopePositions Sequential(ReadOnlySpan<int> starts) => new(starts, PositionKind.SequenceStarts);

    /// <summary>
    /// Token t of sequence b is at position <c>positions[b·tokens + t]</c> (a <c>[batch][tokens]</c> array, as ONNX's
    /// <c>position_ids</c>); the span's length must equal batch × tokens.
    /// </summary>
    public static RopePositions Explicit(ReadOnlySpan<int> positions) => new(positions);

    /// <summary>
    /// Token t of sequence b is at position <c>positions[b·tokens + t]</c>, int64 position ids as ONNX Runtime and torch
    /// hand them; the span's length must equal batch × tokens.
    /// </summary>
    public static RopePositions Explicit(ReadOnlySpan<long> positions) => new(positions);

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

    /// <summary>Same as <see cref="Sequential(int)"/>.</summary>
    public static implicit operator RopePositions(int start) => new(start);

    /// <summary>Same as <see cref="Explicit(ReadOnlySpan{int})"/>.</summary>
    public static implicit operator RopePositions(ReadOnlySpan<int> positions) => new(positions);

    /// <summary>Same as <see cref="Explicit(ReadOnlySpan{int})"/>.</summary>
    public static implicit operator RopePositions(int[] positions) => new(positions);

    /// <summary>Same as <see cref="Explicit(ReadOnlySpan{long})"/>.</summary>
    public static implicit operator RopePositions(ReadOnlySpan<long> positions) => new(positions);

    /// <summary>Same as <see cref="Explicit(ReadOnlySpan{long})"/>.</summary>
    public static implicit operator RopePositions(long[] positions) => new(positions);

    /// <summary>Whether positions come from spans rather than a start.</summary>
    public bool IsExplicit => kind != PositionKind.Sequential;

    /// <summary>The start of sequential positions (0 for explicit ones).</summary>
    public int Start => start;

    /// <summary>The explicit int32 positions, or the temporal ones of multimodal positions (empty otherwise).</summary>
    public ReadOnlySpan<int> Values => explicitPositions;

    /// <summary>The explicit int64 positions (empty otherwise).</summary>
    public ReadOnlySpan<long> LongValues => longPositions;

    /// <summary>The multimodal sections, or null for one position per token.</summary>
    public MropeSections? Sections => sections;

    internal PositionKind Kind => kind;

    internal ReadOnlySpan<int> SequenceStarts => sequenceStarts;

    internal ReadOnlySpan<int> HeightValues => heightPositions;

    internal ReadOnlySpan<int> WidthValues => widthPositions;

    /// <summary>
    /// The position of token <paramref name="token"/> of sequence <paramref name="sequence"/> (one read of caller
    /// memory); one position per token only, not <see cref="PositionKind.Multimodal"/>.
    /// </summary>
    internal long PositionOf(int sequence, int token, int tokensPerSequence) => kind switch
    {
        PositionKind.Sequential => (long)start + token,
        PositionKind.SequenceStarts => (long)sequenceStarts[sequence] + token,
        PositionKind.Int32 => explicitPositions[sequence * tokensPerSequence + token],
        _ => longPositions[sequence * tokensPerSequence + token],
    };
}

/// <summary>What a <see cref="RopePositions"/> holds.</summary>
internal enum PositionKind : byte
{
    Sequential,
    SequenceStarts,
    Int32,
    Int64,
    Multimodal,
}
