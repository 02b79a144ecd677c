namespace Rope.Simd;

/// <summary>
/// Where the heads of a query or key tensor lie in a span: <see cref="Tokens"/> × <see cref="Heads"/> heads of
/// <see cref="HeadDim"/> contiguous floats, head (t, h) starting at element t·<see cref="TokenStride"/> +
/// h·<see cref="HeadStride"/>.
/// </summary>
/// <remarks>
/// The default strides describe a packed <c>[tokens][heads][headDim]</c> (BSHD) tensor. A <c>[heads][tokens][headDim]</c>
/// (BHSD) tensor has TokenStride = headDim and HeadStride = tokens·headDim; a slice of a packed QKV buffer keeps its
/// row stride as TokenStride. Heads must not overlap: the smaller stride must be at least HeadDim and the larger
/// must step over everything the smaller one spans.
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
        // An empty tensor has no heads to overlap; an axis with one entry never steps, so only axes of two or more
        // entries constrain their stride.
        if (Tokens == 0 || Heads == 0)
        {
            return;
        }

        bool headsStep = Heads > 1, tokensStep = Tokens > 1;
        bool overlap;
        string offender;
        if (headsStep && tokensStep)
        {
            bool headsInner = HeadStride <= TokenStride;
            (long innerStride, int innerCount, long outerStride) =
                headsInner ? (HeadStride, Heads, TokenStride) : (TokenStride, Tokens, (long)HeadStride);
            overlap = innerStride < HeadDim || outerStride < (innerCount - 1) * innerStride + HeadDim;
            offender = innerStride < HeadDim == headsInner ? "headStride" : "tokenStride";
        }
        else
        {
            overlap = (headsStep && HeadStride < HeadDim) || (tokensStep && TokenStride < HeadDim);
            offender = headsStep ? "headStride" : "tokenStride";
        }

        if (overlap)
        {
            throw new ArgumentException(
                $"Strides make heads overlap: {Tokens} tokens × {Heads} heads of {HeadDim} need the smaller stride ≥ {HeadDim} " +
                $"and the larger ≥ the extent of the smaller axis; got token stride {TokenStride}, head stride {HeadStride}.",
                offender);
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
