namespace Rope.Simd;

/// <summary>
/// Where the heads of a query or key tensor lie in a span: <see cref="Tokens"/> × <see cref="Heads"/> heads of
/// <see cref="HeadDim"/> contiguous floats, head (t, h) starting at element t·<see cref="TokenStride"/> +
/// h·<see cref="HeadStride"/>.
/// </summary>
/// <remarks>
/// The default strides describe a packed <c>[tokens][heads][headDim]</c> (BSHD) tensor. A <c>[heads][tokens][headDim]</c>
/// (BHSD) tensor has TokenStride = headDim and HeadStride = tokens·headDim; a slice of a packed QKV buffer keeps its
/// row stride as TokenStride. Heads must not overlap: no two heads may start fewer than HeadDim elements apart, which
/// is tested exactly (strides whose heads interleave without touching, such as token stride 6 and head stride 4 for
/// heads of 2, are accepted).
/// </remarks>
public readonly record struct RopeShape
{
    /// <summary>A packed <c>[tokens][heads][headDim]</c> tensor.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">The tensor would hold more than 2^31 - 1 elements.</exception>
    public RopeShape(int tokens, int heads, int headDim)
        : this(tokens, heads, headDim, tokenStride: CheckedProduct(heads, headDim, nameof(heads)), headStride: headDim)
    {
    }

    /// <summary>A strided tensor: head (t, h) starts at t·tokenStride + h·headStride.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count or stride is negative, or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">Heads would overlap, or the span needed exceeds 2^31 - 1 elements.</exception>
    public RopeShape(int tokens, int heads, int headDim, int tokenStride, int headStride)
    {
        Guard.NonNegative(tokens);
        Guard.NonNegative(heads);
        Guard.PositiveEven(headDim);
        Guard.NonNegative(tokenStride);
        Guard.NonNegative(headStride);

        Tokens = tokens;
        Heads = heads;
        HeadDim = headDim;
        TokenStride = tokenStride;
        HeadStride = headStride;
        RequiredLength = ComputeRequiredLength();
        CheckHeadsDoNotOverlap();
    }

    /// <summary>Number of tokens (sequence positions).</summary>
    public int Tokens { get; }

    /// <summary>Number of heads per token.</summary>
    public int Heads { get; }

    /// <summary>Elements per head; the leading rotary dim of them are rotated, the rest pass through.</summary>
    public int HeadDim { get; }

    /// <summary>Elements from one token's first head to the next token's.</summary>
    public int TokenStride { get; }

    /// <summary>Elements from one head to the next within a token.</summary>
    public int HeadStride { get; }

    /// <summary>The shortest span holding every head: (tokens-1)·TokenStride + (heads-1)·HeadStride + HeadDim, or 0 if empty.</summary>
    public int RequiredLength { get; }

    private int ComputeRequiredLength()
    {
        if (Tokens == 0 || Heads == 0)
        {
            return 0;
        }

        long length = (long)(Tokens - 1) * TokenStride + (long)(Heads - 1) * HeadStride + HeadDim;
        if (length > int.MaxValue)
        {
            throw new ArgumentException(
                $"{Tokens} tokens × {Heads} heads of {HeadDim} with strides {TokenStride}/{HeadStride} span {length} elements, more than a span can hold.",
                "tokens");
        }

        return (int)length;
    }

    private void CheckHeadsDoNotOverlap()
    {
        if (HeadOverlap.WithinShape(Tokens, Heads, HeadDim, TokenStride, HeadStride, out string offender, out string witness))
        {
            throw new ArgumentException(
                $"Strides make heads overlap: with token stride {TokenStride} and head stride {HeadStride}, {witness}, " +
                $"less than the head dim {HeadDim}.", offender);
        }
    }

    private static int CheckedProduct(int heads, int headDim, string name)
    {
        Guard.NonNegative(heads);
        long product = (long)heads * headDim;
        if (product > int.MaxValue)
        {
            throw new ArgumentException($"{heads} heads of {headDim} elements exceed 2^31 - 1 elements per token.", name);
        }

        return (int)product;
    }
}
