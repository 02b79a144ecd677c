using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd;

/// <summary>
/// The inputs a call only reads (caller cos/sin rows, positions, norm weights, a block table) must lie apart from the
/// memory it writes: a write could change them before they are read. Each written tensor is the extent its shape
/// spans (elements past it are the caller's own), a cache the whole of its spans.
/// </summary>
internal readonly ref struct WrittenMemory
{
    private readonly ReadOnlySpan<byte> first, second, third;
    private readonly string firstName, secondName, thirdName;

    private WrittenMemory(ReadOnlySpan<byte> first, string firstName, ReadOnlySpan<byte> second, string secondName, ReadOnlySpan<byte> third,
        string thirdName)
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
        new(Extent(queries, queryShape), "queries", MemoryMarshal.AsBytes(keyCache), "the key cache", MemoryMarshal.AsBytes(valueCache), "the value cache");

    /// <summary>The caller's rows and positions, where the call reads them.</summary>
    public void CheckRowsAndPositions(scoped in RopeRows rows, scoped in RopePositions positions)
    {
        Check(rows.First, "rows", "The cos/sin rows");
        Check(rows.Second, "rows", "The cos/sin rows");
        Check(MemoryMarshal.AsBytes(positions.Values), "positions", "The positions");
        Check(MemoryMarshal.AsBytes(positions.LongValues), "positions", "The positions");
        Check(MemoryMarshal.AsBytes(positions.SequenceStarts), "positions", "The sequences' start positions");
        Check(MemoryMarshal.AsBytes(positions.HeightValues), "positions", "The height positions");
        Check(MemoryMarshal.AsBytes(positions.WidthValues), "positions", "The width positions");
    }

    /// <summary>A norm's weights.</summary>
    public void CheckWeights(ReadOnlySpan<float> weights, string name) => Check(MemoryMarshal.AsBytes(weights), name, "The norm's weights");

    /// <summary>A paged cache's block table (named as the cache that holds it).</summary>
    public void CheckBlockTable(ReadOnlySpan<int> blockTable) => Check(MemoryMarshal.AsBytes(blockTable), "cache", "The cache's block table");

    private void Check(ReadOnlySpan<byte> input, string name, string description)
    {
        if (Overlap(first, input) || Overlap(second, input) || Overlap(third, input))
        {
            Throw(name, description, Overlap(first, input) ? firstName : Overlap(second, input) ? secondName : thirdName);
        }
    }

    private static ReadOnlySpan<byte> Extent<TElement>(ReadOnlySpan<TElement> written, RopeShape shape)
        where TElement : unmanaged => MemoryMarshal.AsBytes(written[..shape.RequiredLength]);

    /// <summary>Whether two spans share a byte (at one instant: spans of different objects never do).</summary>
    private static bool Overlap(ReadOnlySpan<byte> written, ReadOnlySpan<byte> input)
    {
        if (written.IsEmpty || input.IsEmpty)
        {
            return false;
        }

        long start = Unsafe.ByteOffset(ref MemoryMarshal.GetReference(written), ref MemoryMarshal.GetReference(input));
        return start < written.Length && start + input.Length > 0;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(string name, string description, string writtenName) =>
        throw new ArgumentException(
            $"{description} share memory with {writtenName}, which the call writes: a write could change them before they are read. Keep them apart.",
            name);
}
