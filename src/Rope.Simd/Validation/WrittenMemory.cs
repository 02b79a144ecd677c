using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// The inputs a call only reads (caller cos/sin rows, positions, norm weights, a block table) must lie apart from the
/// memory it writes: a write could change them before they are read. Each written tensor is the extent its shape
/// spans (elements past it are the caller's own), a cache the whole of its spans.
/// </summary>
internal readonly ref struct WrittenMemory
{
    private readonly ByteRange first, second, third;
    private readonly string firstName, secondName, thirdName;

    private WrittenMemory(ByteRange first, string firstName, ByteRange second, string secondName, ByteRange third, string thirdName)
    {
        this.first = first;
        this.second = second;
        this.third = third;
        this.firstName = firstName;
        this.secondName = secondName;
        this.thirdName = thirdName;
    }

    /// <summary>One tensor written over the extent of <paramref name="shape"/> (its length already checked).</summary>
    public static WrittenMemory Tensor<TElement>(ReadOnlySpan<TElement> written, RopeShape shape, string name)
        where TElement : unmanaged =>
        new(Extent(written, shape), name, default, string.Empty, default, string.Empty);

    /// <summary>Two tensors written over the extents of their shapes.</summary>
    public static WrittenMemory Tensors<TElement>(ReadOnlySpan<TElement> first, RopeShape firstShape, string firstName, ReadOnlySpan<TElement> second,
        RopeShape secondShape, string secondName)
        where TElement : unmanaged =>
        new(Extent(first, firstShape), firstName, Extent(second, secondShape), secondName, default, string.Empty);

    /// <summary>Queries written over their shape's extent, and a cache's key and value spans.</summary>
    public static WrittenMemory QueriesAndCache<TElement, TCache>(ReadOnlySpan<TElement> queries, RopeShape queryShape, ReadOnlySpan<TCache> keyCache,
        ReadOnlySpan<TCache> valueCache)
        where TElement : unmanaged
        where TCache : unmanaged =>
        new(Extent(queries, queryShape), "queries", ByteRange.Of(keyCache), "the key cache", ByteRange.Of(valueCache), "the value cache");

    /// <summary>The caller's rows and positions, where the call reads them.</summary>
    public void CheckRowsAndPositions(scoped in RopeRows rows, scoped in RopePositions positions)
    {
        Check(ByteRange.Of(rows.First), "rows", "The cos/sin rows");
        Check(ByteRange.Of(rows.Second), "rows", "The cos/sin rows");
        Check(ByteRange.Of(positions.Values), "positions", "The positions");
        Check(ByteRange.Of(positions.LongValues), "positions", "The positions");
        Check(ByteRange.Of(positions.SequenceStarts), "positions", "The sequences' start positions");
        Check(ByteRange.Of(positions.HeightValues), "positions", "The height positions");
        Check(ByteRange.Of(positions.WidthValues), "positions", "The width positions");
    }

    /// <summary>A norm's weights.</summary>
    public void CheckWeights(ReadOnlySpan<float> weights, string name) => Check(ByteRange.Of(weights), name, "The norm's weights");

    /// <summary>A paged cache's block table (named as the cache that holds it).</summary>
    public void CheckBlockTable(ReadOnlySpan<int> blockTable) => Check(ByteRange.Of(blockTable), "cache", "The cache's block table");

    private void Check(ByteRange input, string name, string description)
    {
        if (SharedMemory.Overlap(first, input) || SharedMemory.Overlap(second, input) || SharedMemory.Overlap(third, input))
        {
            Throw(name, description, SharedMemory.Overlap(first, input) ? firstName : SharedMemory.Overlap(second, input) ? secondName : thirdName);
        }
    }

    private static ByteRange Extent<TElement>(ReadOnlySpan<TElement> written, RopeShape shape)
        where TElement : unmanaged => ByteRange.Of(written[..shape.RequiredLength]);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(string name, string description, string writtenName) =>
        throw ArgumentErrors.Invalid(
            $"{description} share memory with {writtenName}, which the call writes: a write could change them before they are read. Keep them apart.",
            name);
}
