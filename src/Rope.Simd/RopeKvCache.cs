using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// The key/value cache of attention that <c>RopeEngine.ApplyAndAppend</c> writes rotated keys
/// and values into, in the cache's own element type (float32, <see cref="BFloat16"/> or <see cref="Half"/>), at each
/// token's position: a cache per sequence laid out by position (<c>[batch][capacity][heads][headDim]</c>, llama.cpp,
/// Hugging Face's static cache transposed) or by head (<c>[batch][heads][capacity][headDim]</c>, Hugging Face's
/// <c>StaticCache</c>), or vLLM's paged cache of blocks (<c>[blocks][blockSize][heads][headDim]</c>) addressed through a
/// block table (slot = table[b][p / blockSize]·blockSize + p mod blockSize).
/// </summary>
/// <remarks>The spans and the block table are read where they lie on every call; block-table entries are checked before
/// anything is written and again where they are used (they are caller memory and may change while a call runs).</remarks>
public readonly ref struct RopeKvCache<TCache>
    where TCache : unmanaged
{
    private RopeKvCache(Span<TCache> keys, Span<TCache> values, RopeKvCacheLayout layout, int batch, int heads, int headDim, int capacity,
        int blockSize, ReadOnlySpan<int> blockTable, int blocksPerSequence, long blocks)
    {
        Keys = keys;
        Values = values;
        Layout = layout;
        Batch = batch;
        Heads = heads;
        HeadDim = headDim;
        Capacity = capacity;
        BlockSize = blockSize;
        BlockTable = blockTable;
        BlocksPerSequence = blocksPerSequence;
        Blocks = blocks;
    }

    /// <summary>A cache per sequence laid out by position: element (b, p, h, i) at ((b·capacity + p)·heads + h)·headDim + i.</summary>
    /// <param name="keys">The key cache: at least batch·capacity·heads·headDim elements.</param>
    /// <param name="values">The value cache, laid out as the keys.</param>
    /// <param name="batch">Sequences: positive.</param>
    /// <param name="capacity">Positions per sequence: positive.</param>
    /// <param name="heads">Key/value heads: positive.</param>
    /// <param name="headDim">Elements per head: positive and even.</param>
    /// <exception cref="ArgumentException">A count is out of range or a span is too short.</exception>
    public static RopeKvCache<TCache> PositionMajor(Span<TCache> keys, Span<TCache> values, int batch, int capacity, int heads, int headDim) =>
        Contiguous(keys, values, RopeKvCacheLayout.PositionMajor, batch, capacity, heads, headDim);

    /// <summary>A cache per sequence laid out by head: element (b, p, h, i) at ((b·heads + h)·capacity + p)·headDim + i.</summary>
    /// <param name="keys">The key cache: at least batch·heads·capacity·headDim elements.</param>
    /// <param name="values">The value cache, laid out as the keys.</param>
    /// <param name="batch">Sequences: positive.</param>
    /// <param name="heads">Key/value heads: positive.</param>
    /// <param name="capacity">Positions per sequence: positive.</param>
    /// <param name="headDim">Elements per head: positive and even.</param>
    /// <exception cref="ArgumentException">A count is out of range or a span is too short.</exception>
    public static RopeKvCache<TCache> HeadMajor(Span<TCache> keys, Span<TCache> values, int batch, int heads, int capacity, int headDim) =>
        Contiguous(keys, values, RopeKvCacheLayout.HeadMajor, batch, capacity, heads, headDim);

    /// <summary>
    /// vLLM's paged cache: blocks of <paramref name="blockSize"/> positions, element (block, slot, h, i) at
    /// ((block·blockSize + slot)·heads + h)·headDim + i; position p of sequence b lives in block
    /// <c>blockTable[b·blocksPerSequence + p / blockSize]</c> at slot p mod blockSize.
    /// </summary>
    /// <param name="keyBlocks">The key blocks: a whole number of blocks (blockSize·heads·headDim elements each).</param>
    /// <param name="valueBlocks">The value blocks, as many as the keys'.</param>
    /// <param name="blockSize">Positions per block: positive.</param>
    /// <param name="heads">Key/value heads: positive.</param>
    /// <param name="headDim">Elements per head: positive and even.</param>
    /// <param name="blockTable">Block indices, <c>[batch][blocksPerSequence]</c>; each used entry must name a block.</param>
    /// <param name="blocksPerSequence">Entries per sequence in the table: positive; the batch is the table's length over it.</param>
    /// <exception cref="ArgumentException">A count is out of range, the spans hold no whole blocks, or the table is not whole rows.</exception>
    public static RopeKvCache<TCache> Paged(Span<TCache> keyBlocks, Span<TCache> valueBlocks, int blockSize, int heads, int headDim,
        ReadOnlySpan<int> blockTable, int blocksPerSequence)
    {
        Guard.ElementType<TCache>();
        Guard.AtLeast(blockSize, 1);
        Guard.AtLeast(heads, 1);
        Guard.PositiveEven(headDim);
        Guard.AtLeast(blocksPerSequence, 1);
        // Products in 128 bits: three counts below 2^31 cannot wrap there (a block that would is simply too long for any span).
        Int128 blockLength = (Int128)blockSize * heads * headDim;
        if (blockTable.Length == 0 || blockTable.Length % blocksPerSequence != 0)
        {
            ThrowPartialRows(blockTable.Length, blocksPerSequence);
        }

        if (keyBlocks.Length < blockLength || valueBlocks.Length < blockLength)
        {
            ThrowNoBlock(keyBlocks.Length, valueBlocks.Length, blockLength);
        }

        long blocks = (long)(Math.Min(keyBlocks.Length, valueBlocks.Length) / blockLength);
        long capacity = (long)blocksPerSequence * blockSize;
        return new(keyBlocks, valueBlocks, RopeKvCacheLayout.Paged, blockTable.Length / blocksPerSequence, heads, headDim,
            (int)Math.Min(capacity, int.MaxValue), blockSize, blockTable, blocksPerSequence, blocks);
    }

    /// <summary>Key/value heads per position.</summary>
    public int Heads { get; }

    /// <summary>Elements per head.</summary>
    public int HeadDim { get; }

    /// <summary>Sequences.</summary>
    public int Batch { get; }

    /// <summary>Positions each sequence can hold: [0, Capacity).</summary>
    public int Capacity { get; }

    internal Span<TCache> Keys { get; }

    internal Span<TCache> Values { get; }

    internal RopeKvCacheLayout Layout { get; }

    internal int BlockSize { get; }

    internal ReadOnlySpan<int> BlockTable { get; }

    internal int BlocksPerSequence { get; }

    /// <summary>Paged: whole blocks both caches hold.</summary>
    internal long Blocks { get; }

    private static RopeKvCache<TCache> Contiguous(Span<TCache> keys, Span<TCache> values, RopeKvCacheLayout layout, int batch, int capacity,
        int heads, int headDim)
    {
        Guard.ElementType<TCache>();
        Guard.AtLeast(batch, 1);
        Guard.AtLeast(capacity, 1);
        Guard.AtLeast(heads, 1);
        Guard.PositiveEven(headDim);
        Int128 required = (Int128)batch * capacity * heads * headDim;
        if (keys.Length < required || values.Length < required)
        {
            ThrowTooShort(keys.Length, values.Length, batch, capacity, heads, headDim, required);
        }

        return new(keys, values, layout, batch, heads, headDim, capacity, 0, default, 0, 0);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowPartialRows(int entries, int blocksPerSequence) =>
        throw ArgumentErrors.Invalid($"The block table holds {entries} entries; it must hold whole rows of {blocksPerSequence}, one per sequence.", "blockTable");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNoBlock(int keyBlocks, int valueBlocks, Int128 blockLength) =>
        throw ArgumentErrors.Invalid($"The caches hold {keyBlocks} and {valueBlocks} elements, less than one block of {blockLength}.",
            keyBlocks < blockLength ? "keyBlocks" : "valueBlocks");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(int keys, int values, int batch, int capacity, int heads, int headDim, Int128 required) =>
        throw ArgumentErrors.Invalid(
            $"The caches hold {keys} and {values} elements but {batch} sequences × {capacity} positions × {heads} heads × {headDim} " +
            $"need {required} each.", keys < required ? "keys" : "values");

    internal KvCacheAddressing Addressing => new(Layout, Heads, HeadDim, Capacity, BlockSize, BlocksPerSequence, Blocks);
}

/// <summary>How a <see cref="RopeKvCache{TCache}"/> lays out its elements.</summary>
internal enum RopeKvCacheLayout : byte
{
    PositionMajor,
    HeadMajor,
    Paged,
}

/// <summary>Where a cache keeps each head of each position: the one place both the checks and the writes compute it.</summary>
internal readonly struct KvCacheAddressing(RopeKvCacheLayout layout, int heads, int headDim, int capacity, int blockSize, int blocksPerSequence,
    long blocks)
{
    public int Capacity => capacity;

    public bool IsPaged => layout == RopeKvCacheLayout.Paged;

    /// <summary>Whether a position's heads lie one after another (every layout but head-major).</summary>
    public bool HeadsAdjacent => layout != RopeKvCacheLayout.HeadMajor;

    /// <summary>
    /// The block of <paramref name="position"/> (in [0, Capacity)) of <paramref name="sequence"/>, read once from the
    /// table; -1 where the entry names no block of the cache.
    /// </summary>
    public long Block(ReadOnlySpan<int> table, int sequence, long position)
    {
        long entry = Volatile.Read(ref System.Runtime.CompilerServices.Unsafe.AsRef(in table[(int)((long)sequence * blocksPerSequence + position / blockSize)]));
        return entry >= 0 && entry < blocks ? entry : -1;
    }

    /// <summary>Elements from one head of a position to the next.</summary>
    public long HeadStride => layout == RopeKvCacheLayout.HeadMajor ? (long)capacity * headDim : headDim;

    /// <summary>Element offset of head <paramref name="head"/> of a position (its block, for a paged cache, already checked).</summary>
    public long HeadOffset(int sequence, long position, int head, long block) => layout switch
    {
        RopeKvCacheLayout.PositionMajor => (((long)sequence * capacity + position) * heads + head) * headDim,
        RopeKvCacheLayout.HeadMajor => (((long)sequence * heads + head) * capacity + position) * headDim,
        _ => ((block * blockSize + position % blockSize) * heads + head) * headDim,
    };
}
