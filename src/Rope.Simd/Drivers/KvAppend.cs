using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Positions;
using Rope.Simd.Rows;
using Rope.Simd.Validation;

namespace Rope.Simd.Drivers;

/// <summary>
/// The step from the projection's output to attention's inputs, one token at a time: the first target's queries
/// normalized (with <c>queryNorm</c>) and rotated in place, then the second target's keys normalized, rotated and
/// written into a cache of <typeparamref name="TCache"/> at the token's position, and the token's values (laid out as
/// the keys, at <c>values</c>) written there too; keys and values are read, never written. A token's row is read once
/// for all of it, and a packed QKV row is one pass.
/// </summary>
/// <remarks>
/// float32 keys without a norm bound for a 16-bit cache, with table rows, are rotated and rounded in registers straight
/// into the cache (<see cref="NarrowedKeys{TOps, TVector, TCache}"/>, the table row read again for them). Other float32
/// keys, and 16-bit keys into a cache of their own type, go through the very driver call that rotates the token's
/// queries (normalized first where they have a norm: the bits of <c>ApplyWithNorm</c>, of <c>Apply</c> without), from
/// where they lie into the cache or into scratch that is then rounded into it. Other keys are
/// widened into float32 scratch and rotated there (into a float32 cache as <c>Apply</c> rotates float32; into a 16-bit
/// cache with each product and sum rounded, the same bits on every path), then rounded once. Values are converted
/// exactly as the span conversions do. Positions and block-table entries were checked at the entry and are checked
/// again here, where they index the cache.
/// </remarks>
internal readonly unsafe struct KvAppend<TCache>(void* keyCache, void* valueCache, KvCacheAddressing addressing, int* blockTable, int blockTableLength,
    PinnedHeadNorm queryNorm, PinnedHeadNorm keyNorm, void* values, int valuesLength, bool sourcesInCache)
    : IRotationOperation
    where TCache : unmanaged
{
    // Floats of rotated keys a chunk of tokens keeps in scratch: 64 KiB, resident in L2 between the rotation and the stores.
    private const int ChunkFloats = 16 * 1024;

    // Tokens in a chunk at most: each keeps its position and its cache place (two longs) in scratch.
    private const int ChunkTokens = 256;

    /// <summary>The tokens of <paramref name="work"/>: <paramref name="queries"/> (none where rotated apart) and <paramref name="keys"/>.</summary>
    /// <remarks>
    /// Never inlined: the instruction-set dispatch would take a copy of this for every path into the public entry, and
    /// that frame's spans, each zeroed in its prologue, cost a decode call more than the call does.
    /// </remarks>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Run<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> queries, scoped in RotationTarget<TElement> keys)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        TokenRange tokens = work.Tokens;
        if (keys.Shape.Heads == 0 || tokens.IsEmpty)
        {
            return;
        }

        RopeShape shape = keys.Shape;
        var valueSource = new ReadOnlySpan<TElement>(values, valuesLength);
        int rotaryDim = work.Rows.RotaryDim, headDim = shape.HeadDim, headCount = shape.Heads, tokenLength = headCount * headDim;
        int span = work.Interleaved ? rotaryDim : rotaryDim / 2;
        bool narrowed = KeysNarrowInRegisters<TOps, TVector, TElement>(work, span);
        bool sameDriver = !narrowed && KeysRotateWithQueries<TElement>(shape);
        int rowLength = work.Rows.ScratchLength;
        bool chunked = narrowed || (sameDriver && KeysGoInChunks<TOps, TVector, TElement>(work));
        int tokenCount = tokens.End - tokens.First;
        int chunk = narrowed ? Math.Min(ChunkTokens, tokenCount) : chunked ? Math.Clamp(ChunkFloats / tokenLength, 1, Math.Min(ChunkTokens, tokenCount)) : 1;
        // Rotated keys (float32, or the activations' type) of a chunk or a token (none where they are narrowed in
        // registers: the cos and sin slots instead), a bridge for values between two 16-bit types (token by token only:
        // chunks take float32 values or values of the cache's type), a chunk's positions and cache places (two longs a
        // token, 8-byte aligned by the padding below), the token's row where one is written, and the heads' scales.
        int keyScratch = narrowed ? NarrowedKeys<TOps, TVector, TCache>.ScratchLength(span) : chunk * tokenLength;
        keyScratch += keyScratch % 2;
        int bridge = chunked ? 0 : tokenLength;
        int length = keyScratch + bridge + 4 * chunk + rowLength + headCount;
        float[]? rented = null;
        Span<float> scratch = length <= Scratch.StackLimit
            ? stackalloc float[length + Scratch.CacheLineFloats]
            : (rented = ArrayPool<float>.Shared.Rent(length + Scratch.CacheLineFloats));
        var table = new ReadOnlySpan<int>(blockTable, blockTableLength);
        // Pinned: the token's row may be written here, and the rotation reads it through a pointer. Aligned to a cache
        // line once pinned: rotated keys are stored there, and a store split across two lines costs two.
        fixed (float* pinned = scratch)
        {
            scratch = Scratch.AlignToCacheLine(scratch, length);
            if (chunked)
            {
                AppendChunks<TOps, TVector, TElement>(work, queries, keys, valueSource, scratch, keyScratch, bridge, chunk, table, narrowed);
            }
            else
            {
                AppendTokens<TOps, TVector, TElement>(work, queries, keys, valueSource, scratch, sameDriver, table);
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Whether float32 keys go to a 16-bit cache rotated and rounded in registers (<see cref="NarrowedKeys{TOps, TVector, TCache}"/>),
    /// never stored as float32: where they lie apart from the cache, have no norm, the rotated span is whole pairs of
    /// blocks and rows come from a table (the keys read each token's row again after the queries' driver call: a
    /// caller's rows would be read twice, computed rows computed twice). (Normalized keys measured 7-10% slower this way
    /// than rotated with the queries into L2-resident scratch and converted, so they stay there.)
    /// </summary>
    private bool KeysNarrowInRegisters<TOps, TVector, TElement>(in RotationWork work, int span)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged =>
        typeof(TElement) == typeof(float) && typeof(TCache) != typeof(float) && !sourcesInCache && keyNorm.Kind == RopeHeadNormKind.None
        && work.Rows.ReadsTable && NarrowedKeys<TOps, TVector, TCache>.Fits(span);

    /// <summary>
    /// Whether the keys are rotated by the very driver call that rotates the queries (the bits of <c>Apply</c> and
    /// <c>ApplyWithNorm</c>), from where they lie: float32 keys, and 16-bit keys into a cache of their own type, whose
    /// heads lie one after another and which lie apart from the cache. Other keys are widened into float32 first, token
    /// by token (a token's keys are then all read before any is written, its values after its keys are).
    /// </summary>
    private bool KeysRotateWithQueries<TElement>(RopeShape keyShape)
        where TElement : unmanaged =>
        (typeof(TElement) == typeof(float) || typeof(TElement) == typeof(TCache)) && !sourcesInCache && keyShape.HeadStride == keyShape.HeadDim;

    /// <summary>
    /// Whether the driver takes a key destination of its own layout (everywhere but float32 heads normalized by the
    /// fallback, for spans of no whole register blocks): then tokens go in chunks, one driver call rotating a chunk's
    /// queries in place and its keys straight into the cache or into L2-resident scratch before they and the chunk's
    /// values go to the cache (narrowed keys take chunks too, the driver call rotating the queries alone).
    /// Otherwise each token has its own driver call, its row serving as a one-row cache.
    /// </summary>
    private bool KeysGoInChunks<TOps, TVector, TElement>(in RotationWork work)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        int span = work.Interleaved ? work.Rows.RotaryDim : work.Rows.RotaryDim / 2;
        return typeof(TElement) != typeof(float) || (queryNorm.Kind == RopeHeadNormKind.None && keyNorm.Kind == RopeHeadNormKind.None)
            || ResidentRotation<TOps, TVector, SingleKernel<TOps, TVector, FusedWhereAvailable>, float>.Fits(span, work.Interleaved);
    }

    /// <summary>
    /// Token by token, each with its own driver call, the token's row serving as a one-row cache: where keys are widened
    /// first, lie in the cache, or are normalized float32 heads whose span the register-resident rotation does not take.
    /// </summary>
    private void AppendTokens<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> queries,
        scoped in RotationTarget<TElement> keys, ReadOnlySpan<TElement> valueSource, Span<float> scratch, bool sameDriver, ReadOnlySpan<int> table)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        ref readonly RowReader rows = ref work.Rows;
        TokenRange tokens = work.Tokens;
        RopeShape shape = keys.Shape, queryShape = queries.Shape;
        RopeShape queryToken = queryShape.Heads == 0 ? default
            : new RopeShape(1, queryShape.Heads, queryShape.HeadDim, queryShape.TokenStride, queryShape.HeadStride);
        int rotaryDim = work.Rows.RotaryDim, headDim = shape.HeadDim, headCount = shape.Heads, tokenLength = headCount * headDim;
        var keyToken = new RopeShape(1, headCount, headDim);
        // Rotated keys of the cache's type go straight into a cache whose heads of a position lie one after another.
        bool keysIntoCache = sameDriver && typeof(TElement) == typeof(TCache) && addressing.HeadsAdjacent;
        int rowLength = rows.ScratchLength;
        Span<float> keyScratch = scratch[..tokenLength], bridge = scratch.Slice(tokenLength, tokenLength);
        Span<float> rowScratch = scratch.Slice(2 * tokenLength, rowLength), scales = scratch.Slice(2 * tokenLength + rowLength, headCount);
        for (TokenCursor cursor = tokens.Start(); cursor.Index < tokens.End; cursor.Next())
        {
            // One read of the caller's position: the key is rotated for the position whose place it is stored at.
            TokenPosition position = work.Positions.Read(cursor);
            long place = Place(position.Value, table, cursor.Sequence);
            nint tokenOffset = shape.TokenOffset(cursor.Sequence, cursor.Token);
            ref float row = ref rows.Interleaved<TOps, TVector>(position, rowScratch);
            var tokenRow = RotationWork.OneRow((float*)Unsafe.AsPointer(ref row), rotaryDim, work.Layout, work.Inverse);
            nint queryOffset = queryShape.TokenOffset(cursor.Sequence, cursor.Token);
            if (sameDriver)
            {
                // Queries in place and keys into the cache (or scratch) by one driver call, as ApplyWithNorm rotates both.
                scoped Span<TElement> destination = keysIntoCache
                    ? new Span<TElement>((TElement*)keyCache + place, tokenLength)
                    : MemoryMarshal.Cast<float, TElement>(keyScratch)[..tokenLength];
                var keyTarget = new RotationTarget<TElement>(keys.Source.Slice((int)tokenOffset, tokenLength), destination, keyToken);
                Rotate<TOps, TVector, TElement>(tokenRow, queries, queryOffset, queryToken, keyTarget);
                if (!keysIntoCache)
                {
                    StoreKeys<TOps, TVector, TElement>(MemoryMarshal.Cast<float, TElement>(keyScratch)[..tokenLength], headDim, place);
                }
            }
            else
            {
                if (queryShape.Heads > 0)
                {
                    Rotate<TOps, TVector, TElement>(tokenRow, queries, queryOffset, queryToken, default);
                }

                // Keys widened into float32 scratch (float32 keys copied), rotated there (float32 keys, or any keys into a
                // float32 cache, as Apply rotates float32; 16-bit keys into a 16-bit cache with each product and sum rounded)
                // and rounded into the cache.
                ElementConversion<TOps, TVector>.WidenHeads(keys.Source, tokenOffset, shape, keyScratch);
                var target = new RotationTarget<float>(keyScratch, keyScratch, keyToken);
                if (typeof(TCache) == typeof(float) || typeof(TElement) == typeof(float))
                {
                    RotateWidened<TOps, TVector, FusedWhereAvailable>(tokenRow, target, scales);
                }
                else
                {
                    RotateWidened<TOps, TVector, RoundedTwice>(tokenRow, target, scales);
                }

                StoreKeys<TOps, TVector, float>(keyScratch, headDim, place);
            }

            AppendValues<TOps, TVector, TElement>(valueSource, shape, tokenOffset, place, bridge);
        }
    }

    /// <summary>
    /// Tokens in chunks. Per chunk one driver call rotates the queries in place and, unless they are
    /// <paramref name="narrowed"/>, the keys: straight into the cache where it holds their element type, its heads lie
    /// one after another and the chunk's places follow one another, otherwise into <paramref name="scratch"/> (laid out
    /// [chunk token][heads][headDim]) from where each token's keys go to its place. Narrowed keys are rotated token by
    /// token into their places. Values go to the cache in runs of places that follow one another.
    /// </summary>
    private void AppendChunks<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> queries,
        scoped in RotationTarget<TElement> keys, ReadOnlySpan<TElement> values, Span<float> scratch, int keyScratch, int bridgeLength, int chunk,
        ReadOnlySpan<int> table, bool narrowed)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        TokenRange tokens = work.Tokens;
        int tokensPerSequence = tokens.PerSequence;
        RopeShape shape = keys.Shape;
        int headDim = shape.HeadDim, tokenLength = shape.Heads * headDim;
        Span<float> bridge = scratch.Slice(keyScratch, bridgeLength);
        int positionsAt = keyScratch + bridgeLength;
        Span<long> chunkPositions = MemoryMarshal.Cast<float, long>(scratch.Slice(positionsAt, 2 * chunk)), places = MemoryMarshal.Cast<float, long>(
            scratch.Slice(positionsAt + 2 * chunk, 2 * chunk));
        Span<float> rowScratch = scratch.Slice(positionsAt + 4 * chunk, work.Rows.ScratchLength);
        long* positionValues = (long*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(chunkPositions));

        for (int chunkStart = tokens.First; chunkStart < tokens.End; chunkStart += chunk)
        {
            int chunkEnd = Math.Min(chunkStart + chunk, tokens.End);
            // Each token's position read once from the caller's memory and its cache place checked: the rotation takes
            // its row from the same value (token i of the call at positionValues[i - chunkStart]).
            bool placesFollow = true;
            for (TokenCursor cursor = tokens.At(chunkStart); cursor.Index < chunkEnd; cursor.Next())
            {
                int index = cursor.Index - chunkStart;
                long position = chunkPositions[index] = work.Positions.Read(cursor).Value;
                places[index] = Place(position, table, cursor.Sequence);
                placesFollow &= places[index] == places[0] + (long)index * tokenLength;
            }

            var chunkWork = new RotationWork(work.Rows, PositionReader.Explicit(positionValues - chunkStart), work.Layout, work.Inverse,
                tokens with { First = chunkStart, End = chunkEnd });
            bool keysIntoCache = !narrowed && typeof(TElement) == typeof(TCache) && addressing.HeadsAdjacent && placesFollow;
            // Token i of the call (counted over all sequences) lands at (i - chunkStart)·tokenLength of the scratch, or of
            // the cache from the chunk's first place.
            Span<TElement> keyDestination = narrowed ? default
                : keysIntoCache ? new Span<TElement>((TCache*)keyCache + places[0], (chunkEnd - chunkStart) * tokenLength)
                : MemoryMarshal.Cast<float, TElement>(scratch[..keyScratch])[..(chunk * tokenLength)];
            var keyTarget = narrowed ? default
                : new RotationTarget<TElement>(keys.Source, keyDestination, shape, -(nint)chunkStart * tokenLength, tokenLength,
                    (nint)tokensPerSequence * tokenLength);
            if (queryNorm.Kind == RopeHeadNormKind.None && keyNorm.Kind == RopeHeadNormKind.None)
            {
                new PlainRotation().Run<TOps, TVector, TElement>(chunkWork, queries, keyTarget);
            }
            else
            {
                new NormalizedRotation(queryNorm, keyNorm).Run<TOps, TVector, TElement>(chunkWork, queries, keyTarget);
            }

            if (narrowed)
            {
                NarrowKeys<TOps, TVector>(chunkWork, Rotation.As<TElement, float>(keys), places, scratch[..keyScratch], rowScratch);
            }

            // Tokens whose cache places follow one another (and whose values do) go to the cache as one run: a prefill
            // into a position-major cache is then one conversion per chunk for the keys and one for the values.
            ReadOnlySpan<TElement> rotated = narrowed || keysIntoCache ? default : keyDestination;
            int runStart = chunkStart;
            long runPlace = 0;
            nint runValues = 0;
            for (TokenCursor cursor = tokens.At(chunkStart); cursor.Index < chunkEnd; cursor.Next())
            {
                int index = cursor.Index;
                long place = places[index - chunkStart];
                nint valueOffset = shape.TokenOffset(cursor.Sequence, cursor.Token);
                int run = index - runStart;
                if (run > 0 && (place != runPlace + (long)run * tokenLength || valueOffset != runValues + (nint)run * tokenLength))
                {
                    StoreRun<TOps, TVector, TElement>(rotated, runStart - chunkStart, run, runPlace, values, runValues, shape, bridge);
                    runStart = index;
                }

                if (runStart == index)
                {
                    runPlace = place;
                    runValues = valueOffset;
                }
            }

            StoreRun<TOps, TVector, TElement>(rotated, runStart - chunkStart, chunkEnd - runStart, runPlace, values, runValues, shape, bridge);
        }
    }

    /// <summary>The float32 keys of <paramref name="chunkWork"/>'s tokens rotated and rounded in registers into their cache places, token by token.</summary>
    private void NarrowKeys<TOps, TVector>(in RotationWork chunkWork, scoped in RotationTarget<float> keys, ReadOnlySpan<long> places, Span<float> scratch,
        Span<float> rowScratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        TokenRange tokens = chunkWork.Tokens;
        RopeShape shape = keys.Shape;
        for (TokenCursor cursor = tokens.Start(); cursor.Index < tokens.End; cursor.Next())
        {
            ref float row = ref chunkWork.Rows.Interleaved<TOps, TVector>(chunkWork.Positions.Read(cursor), rowScratch);
            NarrowedKeys<TOps, TVector, TCache>.Token(ref row, chunkWork.Interleaved, chunkWork.Inverse, chunkWork.Rows.RotaryDim,
                ref Unsafe.Add(ref MemoryMarshal.GetReference(keys.Source), shape.TokenOffset(cursor.Sequence, cursor.Token)), shape,
                ref Unsafe.AsRef<TCache>((TCache*)keyCache + places[cursor.Index - tokens.First]), (nint)addressing.HeadStride, scratch);
        }
    }

    /// <summary>
    /// <paramref name="count"/> tokens whose cache places and values follow one another: their rotated keys from
    /// scratch token <paramref name="first"/> on (none where the keys are in the cache already), and their values, into
    /// the cache from <paramref name="place"/>.
    /// </summary>
    private void StoreRun<TOps, TVector, TElement>(ReadOnlySpan<TElement> rotated, int first, int count, long place, ReadOnlySpan<TElement> values,
        nint valueOffset, RopeShape shape, Span<float> bridge)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        int headDim = shape.HeadDim, tokenLength = shape.Heads * headDim;
        if (!addressing.HeadsAdjacent || shape.HeadStride != headDim)
        {
            // Heads apart in the cache or in the values: token by token, head by head.
            for (int token = 0; token < count; token++)
            {
                if (!rotated.IsEmpty)
                {
                    StoreKeys<TOps, TVector, TElement>(rotated.Slice((first + token) * tokenLength, tokenLength), headDim, place + (long)token * tokenLength);
                }

                AppendValues<TOps, TVector, TElement>(values, shape, valueOffset + (nint)token * tokenLength, place + (long)token * tokenLength, bridge);
            }

            return;
        }

        int length = count * tokenLength;
        if (!rotated.IsEmpty)
        {
            ElementConversion<TOps, TVector>.Convert(rotated.Slice(first * tokenLength, length), new Span<TCache>((TCache*)keyCache + place, length), default);
        }

        ElementConversion<TOps, TVector>.Convert(values.Slice((int)valueOffset, length), new Span<TCache>((TCache*)valueCache + place, length), bridge);
    }

    /// <summary>
    /// Where a token's first head goes in the cache: its position (read once from the caller's memory by the caller of
    /// this), and for a paged cache its block-table entry, read once; both checked here where they index the cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Place(long position, ReadOnlySpan<int> table, int sequence)
    {
        long block = 0;
        if (position < 0 || position >= addressing.Capacity || (addressing.IsPaged && (block = addressing.Block(table, sequence, position)) < 0))
        {
            ThrowChanged(position);
        }

        return addressing.HeadOffset(sequence, position, 0, block);
    }

    /// <summary>One token's widened keys, normalized where they have a norm and rotated in place with <typeparamref name="TProducts"/>.</summary>
    private void RotateWidened<TOps, TVector, TProducts>(in RotationWork tokenRow, scoped in RotationTarget<float> target, Span<float> scales)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TProducts : IProductSum
    {
        if (keyNorm.Kind == RopeHeadNormKind.None)
        {
            RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, TProducts>, float>.Rotate(tokenRow, target, default);
        }
        else
        {
            NormalizedRotationDriver<TOps, TVector>.Token<TProducts>(tokenRow, target, keyNorm, scales);
        }
    }

    /// <summary>
    /// A token's rotated keys (float32, or the cache's own type) into the cache from <paramref name="place"/>, rounded
    /// where they are float32 and the cache is not, as one run where its heads lie one after another.
    /// </summary>
    private void StoreKeys<TOps, TVector, TRotated>(ReadOnlySpan<TRotated> rotated, int headDim, long place)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TRotated : unmanaged
    {
        if (addressing.HeadsAdjacent)
        {
            ElementConversion<TOps, TVector>.Convert(rotated, new Span<TCache>((TCache*)keyCache + place, rotated.Length), default);
            return;
        }

        for (int head = 0; head * headDim < rotated.Length; head++)
        {
            ElementConversion<TOps, TVector>.Convert(rotated.Slice(head * headDim, headDim),
                new Span<TCache>((TCache*)keyCache + place + head * addressing.HeadStride, headDim), default);
        }
    }

    /// <summary>
    /// One token's queries in place, and keys from their source into their destination (none: an empty target), each
    /// normalized where it has a norm and rotated by the driver <c>ApplyWithNorm</c> and <c>Apply</c> use for
    /// <typeparamref name="TElement"/> (the same bits), the token's row serving as a one-row cache.
    /// </summary>
    private void Rotate<TOps, TVector, TElement>(in RotationWork tokenRow, scoped in RotationTarget<TElement> queries, nint queryOffset,
        RopeShape queryToken, scoped in RotationTarget<TElement> keys)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        var queryTarget = queryToken.Heads == 0 ? default
            : new RotationTarget<TElement>(queries.Source[(int)queryOffset..], queries.Destination[(int)queryOffset..], queryToken);
        if (queryNorm.Kind == RopeHeadNormKind.None && (keys.Shape.Heads == 0 || keyNorm.Kind == RopeHeadNormKind.None))
        {
            new PlainRotation().Run<TOps, TVector, TElement>(tokenRow, queryTarget, keys);
        }
        else
        {
            new NormalizedRotation(queryNorm, keyNorm).Run<TOps, TVector, TElement>(tokenRow, queryTarget, keys);
        }
    }

    /// <summary>One token's values into the cache at its place, as one run where the heads lie one after another in both.</summary>
    private void AppendValues<TOps, TVector, TElement>(ReadOnlySpan<TElement> values, RopeShape shape, nint tokenOffset, long place, Span<float> bridge)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        int headDim = shape.HeadDim;
        if (addressing.HeadsAdjacent && shape.HeadStride == headDim)
        {
            int tokenLength = shape.Heads * headDim;
            ElementConversion<TOps, TVector>.Convert(values.Slice((int)tokenOffset, tokenLength),
                new Span<TCache>((TCache*)valueCache + place, tokenLength), bridge);
            return;
        }

        for (int head = 0; head < shape.Heads; head++)
        {
            ElementConversion<TOps, TVector>.Convert(values.Slice((int)(tokenOffset + (nint)head * shape.HeadStride), headDim),
                new Span<TCache>((TCache*)valueCache + place + head * addressing.HeadStride, headDim), bridge);
        }
    }

    [DoesNotReturn]
    private static void ThrowChanged(long position) =>
        throw ArgumentErrors.OutOfRange("positions", position,
            $"Position {position} has no place in the cache (or its block-table entry names no block); it had one when the call was validated, so the " +
            "positions or the block table changed while the call ran.");
}
