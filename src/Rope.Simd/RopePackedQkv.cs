using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// The output of a fused QKV projection: <c>[batch][tokens][(queryHeads + 2·kvHeads)·headDim]</c>, each token's row the
/// query heads, then the key heads, then the value heads (the order of Hugging Face's fused <c>qkv_proj</c> in Phi-3,
/// vLLM's <c>QKVParallelLinear</c> and llama.cpp's fused <c>wqkv</c>), every head <c>headDim</c> contiguous elements.
/// </summary>
/// <remarks>
/// The three tensors are strided views of the one buffer: <see cref="QueryShape"/> from element 0,
/// <see cref="KeyShape"/> from <see cref="KeyOffset"/>, <see cref="ValueShape"/> from <see cref="ValueOffset"/>, each
/// with the row as token stride. Slice the buffer at those offsets to hand any of them to another call, or pass the
/// whole buffer to the engine's packed overloads.
/// </remarks>
public readonly record struct RopePackedQkv
{
    /// <summary>One sequence of <paramref name="tokens"/> rows.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative, queryHeads or kvHeads is not positive, or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">The buffer would hold more than 2^31 - 1 elements.</exception>
    public RopePackedQkv(int tokens, int queryHeads, int kvHeads, int headDim)
        : this(1, tokens, queryHeads, kvHeads, headDim)
    {
    }

    /// <summary><paramref name="batch"/> sequences of <paramref name="tokens"/> rows each, one after another.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative, queryHeads or kvHeads is not positive, or headDim is not positive and even.</exception>
    /// <exception cref="ArgumentException">The buffer would hold more than 2^31 - 1 elements.</exception>
    public RopePackedQkv(int batch, int tokens, int queryHeads, int kvHeads, int headDim)
    {
        if (batch < 0 || tokens < 0 || queryHeads <= 0 || kvHeads <= 0 || headDim <= 0 || headDim % 2 != 0)
        {
            ThrowCountOutOfRange(batch, tokens, queryHeads, kvHeads, headDim);
        }

        long row = ((long)queryHeads + 2L * kvHeads) * headDim, length = row * tokens * batch;
        if (length > int.MaxValue)
        {
            ThrowTooLong(batch, tokens, row, length);
        }

        int rowLength = (int)row, sequenceLength = rowLength * tokens;
        Batch = batch;
        Tokens = tokens;
        QueryHeads = queryHeads;
        KvHeads = kvHeads;
        HeadDim = headDim;
        RowLength = rowLength;
        RequiredLength = (int)length;
        QueryShape = new RopeShape(batch, tokens, queryHeads, headDim, sequenceLength, rowLength, headDim);
        KeyShape = new RopeShape(batch, tokens, kvHeads, headDim, sequenceLength, rowLength, headDim);
    }

    /// <summary>Number of sequences.</summary>
    public int Batch { get; }

    /// <summary>Tokens (rows) per sequence.</summary>
    public int Tokens { get; }

    /// <summary>Query heads per token.</summary>
    public int QueryHeads { get; }

    /// <summary>Key heads per token, and value heads.</summary>
    public int KvHeads { get; }

    /// <summary>Elements per head.</summary>
    public int HeadDim { get; }

    /// <summary>Elements per token's row: (queryHeads + 2·kvHeads)·headDim.</summary>
    public int RowLength { get; }

    /// <summary>Elements of the whole buffer: batch·tokens·<see cref="RowLength"/>.</summary>
    public int RequiredLength { get; }

    /// <summary>Where the queries lie, from element 0 of the buffer.</summary>
    public RopeShape QueryShape { get; }

    /// <summary>Where the keys lie, from <see cref="KeyOffset"/>.</summary>
    public RopeShape KeyShape { get; }

    /// <summary>Where the values lie, from <see cref="ValueOffset"/>: the keys' shape.</summary>
    public RopeShape ValueShape => KeyShape;

    /// <summary>Element of the first key head: queryHeads·headDim.</summary>
    public int KeyOffset => QueryHeads * HeadDim;

    /// <summary>Element of the first value head: (queryHeads + kvHeads)·headDim.</summary>
    public int ValueOffset => (QueryHeads + KvHeads) * HeadDim;

    /// <summary>Throws for the first count out of range, in the order of the parameters.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowCountOutOfRange(int batch, int tokens, int queryHeads, int kvHeads, int headDim) =>
        throw (batch < 0 ? ArgumentErrors.OutOfRange(nameof(batch), batch, $"batch ('{batch}') must be a non-negative value.")
            : tokens < 0 ? ArgumentErrors.OutOfRange(nameof(tokens), tokens, $"tokens ('{tokens}') must be a non-negative value.")
            : queryHeads <= 0 ? ArgumentErrors.OutOfRange(nameof(queryHeads), queryHeads, $"queryHeads ('{queryHeads}') must be a non-negative and non-zero value.")
            : kvHeads <= 0 ? ArgumentErrors.OutOfRange(nameof(kvHeads), kvHeads, $"kvHeads ('{kvHeads}') must be a non-negative and non-zero value.")
            : ArgumentErrors.OutOfRange(nameof(headDim), headDim, "The head dim must be positive and even."));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooLong(int batch, int tokens, long row, long length) =>
        throw ArgumentErrors.Invalid(
            $"A packed QKV buffer of {batch} x {tokens} rows of {row} elements would hold {length} elements; a span holds at most {int.MaxValue}.",
            nameof(tokens));
}
