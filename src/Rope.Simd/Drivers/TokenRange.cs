using System.Runtime.CompilerServices;
using Rope.Simd.Positions;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// Tokens [<see cref="First"/>, <see cref="End"/>) of a call, counted over all sequences: token i is token
/// i mod <see cref="PerSequence"/> of sequence i / PerSequence.
/// </summary>
internal readonly record struct TokenRange(int First, int End, int PerSequence)
{
    /// <summary>One token, the only one of its sequence (a token's row serving as a one-row cache).</summary>
    public static TokenRange Single => new(0, 1, 1);

    public bool IsEmpty => End <= First;

    /// <summary>The cursor at <see cref="First"/>.</summary>
    public TokenCursor Start() => At(First);

    /// <summary>The cursor at token <paramref name="index"/> of the call.</summary>
    public TokenCursor At(int index)
    {
        (int sequence, int token) = Math.DivRem(index, PerSequence);
        return new TokenCursor(index, sequence, token, PerSequence);
    }
}

/// <summary>A token of a call: its index over all sequences, its sequence and its index within the sequence.</summary>
internal struct TokenCursor(int index, int sequence, int token, int perSequence)
{
    public int Index = index;
    public int Sequence = sequence;
    public int Token = token;

    /// <summary>Moves to the next token of the call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Next()
    {
        Index++;
        if (++Token == perSequence)
        {
            Token = 0;
            Sequence++;
        }
    }
}

/// <summary>
/// What every token loop of a call reads: where rows come from, how positions are given, the pair layout and
/// direction, and the tokens to run. Choices that differ per call are values here; only what the block loops need
/// (ISA, kernel, element type, head transform) is a type argument.
/// </summary>
internal readonly struct RotationWork(RowReader rows, PositionReader positions, RopeLayout layout, bool inverse, TokenRange tokens)
{
    public RowReader Rows => rows;

    public PositionReader Positions => positions;

    public RopeLayout Layout => layout;

    public bool Interleaved => layout == RopeLayout.Interleaved;

    public bool Inverse => inverse;

    public TokenRange Tokens => tokens;

    /// <summary>The same work over other tokens.</summary>
    public RotationWork With(TokenRange range) => new(rows, positions, layout, inverse, range);

    /// <summary>One token with <paramref name="row"/> (rotaryDim floats, pinned) as its row: a one-row cache.</summary>
    public static unsafe RotationWork OneRow(float* row, int rotaryDim, RopeLayout layout, bool inverse) =>
        new(RowReader.OneRow(row, rotaryDim), PositionReader.Sequential(0), layout, inverse, TokenRange.Single);

    /// <summary>The row of the token at <paramref name="cursor"/> (one read of its position).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowView Row<TOps, TVector>(TokenCursor cursor, Span<float> scratch)
        where TOps : Kernels.IVectorOps<TVector>
        where TVector : struct =>
        rows.Read<TOps, TVector>(positions.Read(cursor), scratch);
}
