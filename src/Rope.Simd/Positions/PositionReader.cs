using System.Runtime.CompilerServices;
using Rope.Simd.Drivers;

namespace Rope.Simd.Positions;

/// <summary>
/// The position(s) of one token, read once from the caller's memory: the value a row is looked up by (and, for the KV
/// append, the cache place), plus the height and width streams of multimodal positions.
/// </summary>
internal readonly struct TokenPosition(long value, long height, long width)
{
    /// <summary>The token's position; for multimodal positions its temporal one.</summary>
    public long Value => value;

    /// <summary>The height stream's position (multimodal positions only).</summary>
    public long Height => height;

    /// <summary>The width stream's position (multimodal positions only).</summary>
    public long Width => width;
}

/// <summary>
/// How a call gives each token its position: every kind of <see cref="RopePositions"/>, its caller spans pinned by the
/// entry. Each token's position is read once (<see cref="Read"/>); the kind is one predictable branch per token.
/// </summary>
internal readonly unsafe struct PositionReader
{
    private readonly PositionKind kind;
    private readonly long start;
    private readonly void* values;
    private readonly int* height, width;

    private PositionReader(PositionKind kind, long start, void* values, int* height, int* width)
    {
        this.kind = kind;
        this.start = start;
        this.values = values;
        this.height = height;
        this.width = width;
    }

    /// <summary>Every sequence's tokens at <paramref name="start"/>, start + 1, ...</summary>
    public static PositionReader Sequential(long start) => new(PositionKind.Sequential, start, null, null, null);

    /// <summary>Token i of the call (counted over all sequences) at <paramref name="values"/>[i].</summary>
    public static PositionReader Explicit(long* values) => new(PositionKind.Int64, 0, values, null, null);

    /// <summary>The positions of <paramref name="positions"/>, whose spans the caller pinned at these addresses.</summary>
    public static PositionReader For(scoped in RopePositions positions, int* values, long* longValues, int* starts, int* height, int* width) =>
        positions.Kind switch
        {
            PositionKind.Sequential => Sequential(positions.Start),
            PositionKind.SequenceStarts => new(PositionKind.SequenceStarts, 0, starts, null, null),
            PositionKind.Int32 => new(PositionKind.Int32, 0, values, null, null),
            PositionKind.Int64 => Explicit(longValues),
            PositionKind.Multimodal => new(PositionKind.Multimodal, 0, values, height, width),
            _ => throw new NotSupportedException($"Position kind {positions.Kind} has no reader."),
        };

    /// <summary>Whether each token has three positions (temporal, height, width) rather than one.</summary>
    public bool IsMultimodal => kind == PositionKind.Multimodal;

    /// <summary>The position(s) of the token at <paramref name="cursor"/>: one read of each caller value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TokenPosition Read(in TokenCursor cursor) => kind switch
    {
        PositionKind.Sequential => new(start + cursor.Token, 0, 0),
        PositionKind.SequenceStarts => new((long)Volatile.Read(ref ((int*)values)[cursor.Sequence]) + cursor.Token, 0, 0),
        PositionKind.Int32 => new(Volatile.Read(ref ((int*)values)[cursor.Index]), 0, 0),
        PositionKind.Int64 => new(Volatile.Read(ref ((long*)values)[cursor.Index]), 0, 0),
        _ => new(Volatile.Read(ref ((int*)values)[cursor.Index]), Volatile.Read(ref height[cursor.Index]), Volatile.Read(ref width[cursor.Index])),
    };
}
