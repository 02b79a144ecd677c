using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// Keys and values of the cache's own type may lie inside the cache (a projection that wrote them there): the append
/// then takes the tokens one at a time, reads a token's keys, writes them to the token's places, then reads and writes
/// its values head by head. Refused, exactly: any key or value that a write of the call reaches before it is read,
/// that is a place of one token over the keys or values of a later token, a key place over its own token's values,
/// or a value place over another head's values of its token.
/// </summary>
internal static class CacheSources
{
    /// <summary>Checks the keys and values (already known to overlap the cache) against every place the call writes.</summary>
    /// <exception cref="ArgumentException">A write reaches a key or a value before it is read.</exception>
    public static void Check<TElement, TCache>(ReadOnlySpan<TElement> keys, ReadOnlySpan<TElement> values, RopeShape shape,
        scoped in RopeKvCache<TCache> cache, scoped in RopePositions positions)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        // Every address in bytes from the key cache's start; spans of other objects lie apart at any one instant.
        ReadOnlySpan<TCache> origin = cache.Keys;
        long elementSize = Unsafe.SizeOf<TElement>(), headBytes = shape.HeadDim * elementSize;
        Reads keyReads = Reads.Of(keys, shape, origin), valueReads = Reads.Of(values, shape, origin);
        long valueCacheStart = SharedMemory.ByteOffset(origin, (ReadOnlySpan<TCache>)cache.Values);
        KvCacheAddressing addressing = cache.Addressing;
        for (int sequence = 0; sequence < shape.Batch; sequence++)
        {
            for (int token = 0; token < shape.Tokens; token++)
            {
                int index = sequence * shape.Tokens + token;
                long position = positions.PositionOf(sequence, token, shape.Tokens);
                long block = addressing.IsPaged ? addressing.Block(cache.BlockTable, sequence, position) : 0;
                for (int head = 0; head < shape.Heads; head++)
                {
                    long place = addressing.HeadOffset(sequence, position, head, block) * elementSize;
                    // A key place: no later token's keys or values, nor this token's values, below it.
                    if (keyReads.Reached(place, headBytes, (read, _) => read > index) || valueReads.Reached(place, headBytes, (read, _) => read >= index))
                    {
                        Throw(nameof(keys), sequence, token, head);
                    }

                    // A value place: no later token's keys or values, nor another head's values of this token.
                    long valuePlace = valueCacheStart + place;
                    if (keyReads.Reached(valuePlace, headBytes, (read, _) => read > index)
                        || valueReads.Reached(valuePlace, headBytes, (read, readHead) => read > index || (read == index && readHead != head)))
                    {
                        Throw(nameof(values), sequence, token, head);
                    }
                }
            }
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(string name, int sequence, int token, int head) =>
        throw ArgumentErrors.Invalid(
            $"The cache place of head {head} of token {token} of sequence {sequence} lies over {name} the call has still to read: a write would " +
            "change them first. Keys and values inside the cache must lie at their own places or apart from every place the call writes.", name);

    /// <summary>One tensor's heads as byte ranges sorted by start (disjoint: no two heads of a tensor share an element).</summary>
    private readonly struct Reads(long[] starts, int[] tokens, int[] heads, long length)
    {
        public static Reads Of<TElement, TCache>(ReadOnlySpan<TElement> tensor, RopeShape shape, ReadOnlySpan<TCache> origin)
            where TElement : unmanaged
        {
            long start = SharedMemory.ByteOffset(origin, tensor), elementSize = Unsafe.SizeOf<TElement>();
            int count = shape.Batch * shape.Tokens * shape.Heads;
            long[] starts = new long[count];
            int[] tokens = new int[count], heads = new int[count];
            int i = 0;
            for (int sequence = 0; sequence < shape.Batch; sequence++)
            {
                for (int token = 0; token < shape.Tokens; token++)
                {
                    for (int head = 0; head < shape.Heads; head++, i++)
                    {
                        starts[i] = start + ((long)sequence * shape.BatchStride + (long)token * shape.TokenStride + (long)head * shape.HeadStride) * elementSize;
                        tokens[i] = sequence * shape.Tokens + token;
                        heads[i] = head;
                    }
                }
            }

            int[] order = [.. Enumerable.Range(0, count)];
            Array.Sort((long[])starts.Clone(), order);
            return new Reads([.. order.Select(j => starts[j])], [.. order.Select(j => tokens[j])], [.. order.Select(j => heads[j])], shape.HeadDim * elementSize);
        }

        /// <summary>Whether any head overlapping [start, start + bytes) is one <paramref name="conflicts"/> says a write there would reach first.</summary>
        public bool Reached(long start, long bytes, Func<int, int, bool> conflicts)
        {
            // The first head ending past start (ends are sorted as starts are), then every head beginning before the end.
            int first = Array.BinarySearch(starts, start - length + 1);
            for (int i = first < 0 ? ~first : first; i < starts.Length && starts[i] < start + bytes; i++)
            {
                if (conflicts(tokens[i], heads[i]))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
