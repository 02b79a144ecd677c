using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// The KV-cache append's checks of its cache: initialized, of the keys' heads and sequences, apart from the queries,
/// its key and value spans apart, a place for every position (a block for each, when paged), and keys or values that
/// lie inside it only where no write of the call reaches them first.
/// </summary>
internal static class CacheChecks
{
    /// <summary>Throws for the first part of the cache, or of the positions' places in it, that the append cannot use.</summary>
    public static void Check<TElement, TCache>(Span<TElement> queries, RopeShape queryShape, ReadOnlySpan<TElement> keys,
        ReadOnlySpan<TElement> values, RopeShape keyShape, scoped in RopeKvCache<TCache> cache, scoped in RopePositions positions)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        if (cache.Heads == 0)
        {
            Guard.ThrowInvalid("The cache is uninitialized; create it with RopeKvCache's PositionMajor, HeadMajor or Paged.", nameof(cache));
        }

        if (keyShape.Heads != cache.Heads || keyShape.HeadDim != cache.HeadDim || keyShape.Batch != cache.Batch)
        {
            ThrowMismatch(keyShape, cache.Batch, cache.Heads, cache.HeadDim);
        }

        if (positions.Kind == PositionKind.Multimodal)
        {
            Guard.ThrowInvalid("Multimodal positions give no single place in the cache; append with one position per token.", nameof(positions));
        }

        // Queries are written: they must share no memory with the keys, the values or the cache.
        CallChecks.Disjoint(queries, queryShape, queryShape.HeadDim, keys, keyShape, keyShape.HeadDim, nameof(queries), "the keys");
        CallChecks.Disjoint(queries, queryShape, queryShape.HeadDim, values, keyShape, keyShape.HeadDim, nameof(queries), "the values");
        if (SharedMemory.Overlap<TElement, TCache>(queries, cache.Keys) || SharedMemory.Overlap<TElement, TCache>(queries, cache.Values))
        {
            Guard.ThrowInvalid("The queries share memory with the cache; they are rotated in place and must lie apart from it.", nameof(queries));
        }

        if (SharedMemory.Overlap<TCache, TCache>(cache.Keys, cache.Values))
        {
            Guard.ThrowInvalid("The key and value caches share memory.", nameof(cache));
        }

        // Keys and values may already lie in the cache when its type is theirs, where no write of the call reaches them
        // before they are read (checked once the places are known); converted, they must lie apart from it.
        bool sourcesInCache = SourcesInCache(keys, values, cache);
        if (typeof(TElement) != typeof(TCache) && sourcesInCache)
        {
            Guard.ThrowInvalid("The keys or values share memory with a cache of another element type; converted, they must lie apart from it.",
                nameof(cache));
        }

        KvCacheAddressing addressing = cache.Addressing;
        for (int sequence = 0; sequence < keyShape.Batch; sequence++)
        {
            for (int token = 0; token < keyShape.Tokens; token++)
            {
                long position = positions.PositionOf(sequence, token, keyShape.Tokens);
                if (position < 0 || position >= addressing.Capacity)
                {
                    ThrowNoPlace(position, sequence, addressing.Capacity);
                }

                if (addressing.IsPaged && addressing.Block(cache.BlockTable, sequence, position) < 0)
                {
                    ThrowNoBlock(position, sequence, cache.Blocks);
                }
            }
        }

        if (sourcesInCache)
        {
            CacheSources.Check(keys, values, keyShape, cache, positions);
        }
    }

    /// <summary>Whether the keys or the values share memory with the cache (then the append takes them token by token).</summary>
    public static bool SourcesInCache<TElement, TCache>(ReadOnlySpan<TElement> keys, ReadOnlySpan<TElement> values, scoped in RopeKvCache<TCache> cache)
        where TElement : unmanaged
        where TCache : unmanaged =>
        SharedMemory.Overlap<TElement, TCache>(keys, cache.Keys) || SharedMemory.Overlap<TElement, TCache>(keys, cache.Values)
        || SharedMemory.Overlap<TElement, TCache>(values, cache.Keys) || SharedMemory.Overlap<TElement, TCache>(values, cache.Values);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowMismatch(RopeShape keyShape, int batch, int heads, int headDim) =>
        throw ArgumentErrors.Invalid(
            $"The keys have {keyShape.Batch} sequences of {keyShape.Heads} heads of {keyShape.HeadDim} but the cache holds {batch} of " +
            $"{heads} heads of {headDim}; they must match.", "cache");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNoPlace(long position, int sequence, int capacity) =>
        throw ArgumentErrors.OutOfRange("positions", position, $"Position {position} of sequence {sequence} is outside the cache's [0, {capacity}).");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNoBlock(long position, int sequence, long blocks) =>
        throw ArgumentErrors.Invalid($"The block-table entry for position {position} of sequence {sequence} names no block of the cache's {blocks}.", "cache");
}
