using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// Where the heads of a query or key tensor lie in a span: <see cref="Batch"/> sequences of <see cref="Tokens"/> ×
/// <see cref="Heads"/> heads of <see cref="HeadDim"/> contiguous elements, head (b, t, h) starting at element
/// b·<see cref="BatchStride"/> + t·<see cref="TokenStride"/> + h·<see cref="HeadStride"/>.
/// </summary>
/// <remarks>
/// The default strides describe a packed <c>[tokens][heads][headDim]</c> tensor of one sequence. A
/// <c>[heads][tokens][headDim]</c> (BHSD) tensor has TokenStride = headDim and HeadStride = tokens·headDim; a slice of
/// a packed QKV buffer keeps its row stride as TokenStride; <see cref="Bshd"/> and <see cref="Bhsd"/> give the batched
/// layouts. Heads must not overlap: within a sequence no two heads may start fewer than HeadDim elements apart, which
/// is tested exactly (strides whose heads interleave without touching, such as token stride 6 and head stride 4 for
/// heads of 2, are accepted), and each sequence lies in its own block of BatchStride elements.
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

    /// <summary>A strided tensor of one sequence: head (t, h) starts at t·tokenStride + h·headStride.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count or stride is negative, or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">Heads would overlap, or the span needed exceeds 2^31 - 1 elements.</exception>
    public RopeShape(int tokens, int heads, int headDim, int tokenStride, int headStride)
        : this(batch: 1, tokens, heads, headDim, batchStride: 0, tokenStride, headStride)
    {
    }

    /// <summary>
    /// A strided batch of sequences: head (b, t, h) starts at b·batchStride + t·tokenStride + h·headStride. Each
    /// sequence's heads must fit in batchStride elements (the layouts of ONNX, Hugging Face, vLLM and packed QKV
    /// buffers do).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count or stride is negative, or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">Heads or sequences would overlap, or the span needed exceeds 2^31 - 1 elements.</exception>
    public RopeShape(int batch, int tokens, int heads, int headDim, int batchStride, int tokenStride, int headStride)
    {
        Guard.NonNegative(batch);
        Guard.NonNegative(tokens);
        Guard.NonNegative(heads);
        Guard.PositiveEven(headDim);
        Guard.NonNegative(batchStride);
        Guard.NonNegative(tokenStride);
        Guard.NonNegative(headStride);

        Batch = batch;
        Tokens = tokens;
        Heads = heads;
        HeadDim = headDim;
        BatchStride = batchStride;
        TokenStride = tokenStride;
        HeadStride = headStride;
        SequenceLength = ComputeLength(1);
        RequiredLength = ComputeLength(batch);
        if ((long)batch * tokens > int.MaxValue)
        {
            Guard.ThrowInvalid($"{batch} sequences of {tokens} tokens exceed 2^31 - 1 tokens.", nameof(batch));
        }

        CheckHeadsDoNotOverlap();
    }

    /// <summary>
    /// A packed <c>[batch][tokens][heads][headDim]</c> tensor (BSHD: ONNX RotaryEmbedding's 3D input, Hugging Face
    /// before the head transpose, llama.cpp and vLLM).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">The tensor would hold more than 2^31 - 1 elements.</exception>
    public static RopeShape Bshd(int batch, int tokens, int heads, int headDim)
    {
        int tokenStride = CheckedProduct(heads, headDim, nameof(heads));
        return new RopeShape(batch, tokens, heads, headDim, CheckedProduct(tokens, tokenStride, nameof(tokens)), tokenStride, headDim);
    }

    /// <summary>A packed <c>[batch][heads][tokens][headDim]</c> tensor (BHSD: ONNX RotaryEmbedding's 4D input, Hugging Face after the transpose).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">The tensor would hold more than 2^31 - 1 elements.</exception>
    public static RopeShape Bhsd(int batch, int heads, int tokens, int headDim)
    {
        int headStride = CheckedProduct(tokens, headDim, nameof(tokens));
        return new RopeShape(batch, tokens, heads, headDim, CheckedProduct(heads, headStride, nameof(heads)), headDim, headStride);
    }

    /// <summary>Number of sequences (1 unless built with a batch).</summary>
    public int Batch { get; }

    /// <summary>Number of tokens (sequence positions) per sequence.</summary>
    public int Tokens { get; }

    /// <summary>Number of heads per token.</summary>
    public int Heads { get; }

    /// <summary>Elements per head; the leading rotary dim of them are rotated, the rest pass through.</summary>
    public int HeadDim { get; }

    /// <summary>Elements from one sequence's first head to the next sequence's (0 for a single sequence).</summary>
    public int BatchStride { get; }

    /// <summary>Elements from one token's first head to the next token's.</summary>
    public int TokenStride { get; }

    /// <summary>Elements from one head to the next within a token.</summary>
    public int HeadStride { get; }

    /// <summary>
    /// The shortest span holding every head: (batch−1)·BatchStride + (tokens−1)·TokenStride + (heads−1)·HeadStride +
    /// HeadDim, or 0 if empty.
    /// </summary>
    public int RequiredLength { get; }

    /// <summary>Tokens of all sequences: Batch × Tokens.</summary>
    internal int TotalTokens => Batch * Tokens;

    /// <summary>The span one sequence's heads cover.</summary>
    internal int SequenceLength { get; }

    /// <summary>Element where token <paramref name="token"/> of sequence <paramref name="sequence"/> starts (its first head).</summary>
    internal nint TokenOffset(int sequence, int token) => (nint)sequence * BatchStride + (nint)token * TokenStride;

    /// <summary>The same heads, strides and batch with another head count (a part of the heads).</summary>
    internal RopeShape WithHeads(int heads) => new(Batch, Tokens, heads, HeadDim, BatchStride, TokenStride, HeadStride);

    private int ComputeLength(int batch)
    {
        if (batch == 0 || Tokens == 0 || Heads == 0)
        {
            return 0;
        }

        long length = (long)(batch - 1) * BatchStride + (long)(Tokens - 1) * TokenStride + (long)(Heads - 1) * HeadStride + HeadDim;
        if (length > int.MaxValue)
        {
            Guard.ThrowInvalid(
                $"{batch} × {Tokens} tokens × {Heads} heads of {HeadDim} with strides {BatchStride}/{TokenStride}/{HeadStride} span {length} elements, " +
                "more than a span can hold.",
                "tokens");
        }

        return (int)length;
    }

    private void CheckHeadsDoNotOverlap()
    {
        if (HeadOverlap.WithinShape(Tokens, Heads, HeadDim, TokenStride, HeadStride, out string offender, out string witness))
        {
            Guard.ThrowInvalid(
                $"Strides make heads overlap: with token stride {TokenStride} and head stride {HeadStride}, {witness}, " +
                $"less than the head dim {HeadDim}.", offender);
        }

        if (Batch > 1 && BatchStride < SequenceLength)
        {
            Guard.ThrowInvalid(
                $"Sequences overlap: each covers {SequenceLength} elements but the batch stride is {BatchStride}; a sequence's heads must fit " +
                "in one batch stride.", "batchStride");
        }
    }

    private static int CheckedProduct(int count, int size, string name)
    {
        Guard.NonNegative(count, name);
        long product = (long)count * size;
        if (product > int.MaxValue)
        {
            Guard.ThrowInvalid($"{count} × {size} elements exceed 2^31 - 1.", name);
        }

        return (int)product;
    }
}
