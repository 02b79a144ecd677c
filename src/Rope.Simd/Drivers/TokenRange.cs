using System.Runtime.CompilerServices;

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
