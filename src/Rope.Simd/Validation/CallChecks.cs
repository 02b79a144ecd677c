using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// The checks of each of the engine's calls, one method per entry point, run before anything is written: element
/// types, shapes against the rows and the spans, tensors that must not share memory, norms, positions, then the
/// inputs the call only reads against the memory it writes. Each throws, naming the engine's parameter, for the first
/// argument that fails, in the order the calls document.
/// </summary>
internal static class CallChecks
{
    /// <summary>Apply, one tensor in place.</summary>
    public static void Apply<TElement>(scoped in RopeRows rows, Span<TElement> values, RopeShape shape, scoped in RopePositions positions,
        RopeLayout layout)
        where TElement : unmanaged
    {
        Guard.ElementType<TElement>();
        InPlace(rows, layout, values, shape, positions);
    }

    /// <summary>Apply, queries and keys in place.</summary>
    public static void Apply<TElement>(scoped in RopeRows rows, Span<TElement> queries, RopeShape queryShape, Span<TElement> keys, RopeShape keyShape,
        scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        Guard.ElementType<TElement>();
        InPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
    }

    /// <summary>Apply, one tensor from a source into a destination.</summary>
    public static void Apply<TElement>(scoped in RopeRows rows, ReadOnlySpan<TElement> source, Span<TElement> destination, RopeShape shape,
        scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        Guard.ElementType<TElement>();
        Tensor(rows, layout, source.Length, shape, nameof(source), nameof(shape));
        Destination(source, destination, shape, nameof(destination));
        PositionChecks.Check(positions, rows, shape);
        WrittenMemory.Tensor<TElement>(destination, shape, nameof(destination)).CheckRowsAndPositions(rows, positions);
    }

    /// <summary>Apply, queries and keys each from a source into a destination.</summary>
    public static void Apply<TElement>(scoped in RopeRows rows,
        ReadOnlySpan<TElement> querySource, Span<TElement> queryDestination, RopeShape queryShape,
        ReadOnlySpan<TElement> keySource, Span<TElement> keyDestination, RopeShape keyShape,
        scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        Guard.ElementType<TElement>();
        Tensor(rows, layout, querySource.Length, queryShape, nameof(querySource), nameof(queryShape));
        Destination(querySource, queryDestination, queryShape, nameof(queryDestination));
        Tensor(rows, layout, keySource.Length, keyShape, nameof(keySource), nameof(keyShape));
        Destination(keySource, keyDestination, keyShape, nameof(keyDestination));
        SameTokens(queryShape, keyShape);

        // Out of place, whole heads are read from the source and written to the destination; a tensor rotated in place
        // (destination = source) touches only its rotated elements.
        bool queriesInPlace = SharedMemory.SameStart(querySource, queryDestination), keysInPlace = SharedMemory.SameStart(keySource, keyDestination);
        int queryExtent = queriesInPlace ? rows.RotaryDim : queryShape.HeadDim, keyExtent = keysInPlace ? rows.RotaryDim : keyShape.HeadDim;
        Disjoint(queryDestination, queryShape, queryExtent, keyDestination, keyShape, keyExtent, nameof(keyDestination), "the query destination");
        if (!keysInPlace)
        {
            Disjoint(queryDestination, queryShape, queryExtent, keySource, keyShape, keyExtent, nameof(queryDestination), "the key source");
        }

        if (!queriesInPlace)
        {
            Disjoint(keyDestination, keyShape, keyExtent, querySource, queryShape, queryExtent, nameof(keyDestination), "the query source");
        }

        PositionChecks.Check(positions, rows, queryShape);
        WrittenMemory.Tensors<TElement>(queryDestination, queryShape, nameof(queryDestination), keyDestination, keyShape, nameof(keyDestination))
            .CheckRowsAndPositions(rows, positions);
    }

    /// <summary>ApplyWithNorm, one tensor.</summary>
    public static void ApplyWithNorm<TElement>(scoped in RopeRows rows, Span<TElement> values, RopeShape shape, scoped in RopeHeadNorm norm,
        scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        Guard.ElementType<TElement>();
        WrittenMemory written = InPlace(rows, layout, values, shape, positions);
        Norm(norm, shape.HeadDim, nameof(norm));
        written.CheckWeights(norm.Weight, nameof(norm));
    }

    /// <summary>ApplyWithNorm, queries and keys.</summary>
    public static void ApplyWithNorm<TElement>(scoped in RopeRows rows, Span<TElement> queries, RopeShape queryShape, scoped in RopeHeadNorm queryNorm,
        Span<TElement> keys, RopeShape keyShape, scoped in RopeHeadNorm keyNorm, scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
    {
        Guard.ElementType<TElement>();
        WrittenMemory written = InPlace(rows, layout, queries, queryShape, keys, keyShape, positions);
        // A normalized head is read and written whole, pass-through elements included.
        Disjoint(queries, queryShape, queryShape.HeadDim, keys, keyShape, keyShape.HeadDim, nameof(keys), "the queries");
        Norm(queryNorm, queryShape.HeadDim, nameof(queryNorm));
        Norm(keyNorm, keyShape.HeadDim, nameof(keyNorm));
        written.CheckWeights(queryNorm.Weight, nameof(queryNorm));
        written.CheckWeights(keyNorm.Weight, nameof(keyNorm));
    }

    /// <summary>ApplyAndAppend: the queries, keys and values, their norms, the cache and the positions.</summary>
    public static void ApplyAndAppend<TElement, TCache>(scoped in RopeRows rows, Span<TElement> queries, RopeShape queryShape,
        scoped in RopeHeadNorm queryNorm, ReadOnlySpan<TElement> keys, ReadOnlySpan<TElement> values, RopeShape keyShape,
        scoped in RopeHeadNorm keyNorm, scoped in RopeKvCache<TCache> cache, scoped in RopePositions positions, RopeLayout layout)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        Guard.ElementType<TElement>();
        Guard.ElementType<TCache>();
        Tensor(rows, layout, queries.Length, queryShape, nameof(queries), nameof(queryShape));
        PositionChecks.Check(positions, rows, queryShape);
        Tensor(rows, layout, keys.Length, keyShape, nameof(keys), nameof(keyShape));
        Guard.Length(values.Length, keyShape, nameof(values));
        SameTokens(queryShape, keyShape);
        Norm(queryNorm, queryShape.HeadDim, nameof(queryNorm));
        Norm(keyNorm, keyShape.HeadDim, nameof(keyNorm));
        CacheChecks.Check(queries, queryShape, keys, values, keyShape, cache, positions);
        var written = WrittenMemory.QueriesAndCache<TElement, TCache>(queries, queryShape, cache.Keys, cache.Values);
        written.CheckRowsAndPositions(rows, positions);
        written.CheckWeights(queryNorm.Weight, nameof(queryNorm));
        written.CheckWeights(keyNorm.Weight, nameof(keyNorm));
        written.CheckBlockTable(cache.BlockTable);
    }

    /// <summary>The packed QKV overloads: the buffer holds what the packing says (then the overload with separate tensors checks the rest).</summary>
    public static void Packed(int length, RopePackedQkv packing)
    {
        if (packing.RowLength == 0)
        {
            Guard.ThrowInvalid("The packing is uninitialized; create it with RopePackedQkv's constructor.", nameof(packing));
        }

        if (length < packing.RequiredLength)
        {
            ThrowPackedTooShort(length, packing);
        }
    }

    /// <summary>The span conversions: the destination holds the source and lies apart from it.</summary>
    public static void Conversion<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination)
        where TFrom : unmanaged
        where TTo : unmanaged
    {
        Guard.Length(destination.Length, source.Length, nameof(destination));
        if (SharedMemory.Overlap(source, (ReadOnlySpan<TTo>)destination))
        {
            Guard.ThrowInvalid("The destination overlaps the source; convert into separate memory.", nameof(destination));
        }
    }

    // Each in-place call checks its tensors through one of these; each returns what the call writes, for the checks
    // of the other inputs it reads.
    private static WrittenMemory InPlace<TElement>(scoped in RopeRows rows, RopeLayout layout, Span<TElement> values, RopeShape shape,
        scoped in RopePositions positions)
        where TElement : unmanaged
    {
        Tensor(rows, layout, values.Length, shape, nameof(values), nameof(shape));
        PositionChecks.Check(positions, rows, shape);
        var written = WrittenMemory.Tensor<TElement>(values, shape, nameof(values));
        written.CheckRowsAndPositions(rows, positions);
        return written;
    }

    private static WrittenMemory InPlace<TElement>(scoped in RopeRows rows, RopeLayout layout, Span<TElement> queries, RopeShape queryShape,
        Span<TElement> keys, RopeShape keyShape, scoped in RopePositions positions)
        where TElement : unmanaged
    {
        Tensor(rows, layout, queries.Length, queryShape, nameof(queries), nameof(queryShape));
        Tensor(rows, layout, keys.Length, keyShape, nameof(keys), nameof(keyShape));
        SameTokens(queryShape, keyShape);
        // In place, a head's rotated elements are read and written and its pass-through elements are not touched.
        Disjoint(queries, queryShape, rows.RotaryDim, keys, keyShape, rows.RotaryDim, nameof(keys), "the queries");
        PositionChecks.Check(positions, rows, queryShape);
        var written = WrittenMemory.Tensors<TElement>(queries, queryShape, nameof(queries), keys, keyShape, nameof(keys));
        written.CheckRowsAndPositions(rows, positions);
        return written;
    }

    /// <summary>A known layout, a shape that fits the rows, and a span that holds the shape.</summary>
    private static void Tensor(scoped in RopeRows rows, RopeLayout layout, int length, RopeShape shape, string spanName, string shapeName)
    {
        if (layout is not (RopeLayout.Interleaved or RopeLayout.HalfSplit) || shape.HeadDim < Math.Max(rows.RotaryDim, 1))
        {
            ThrowUnfit(layout, shape, rows.RotaryDim, shapeName);
        }

        Guard.Length(length, shape, spanName);
    }

    private static void SameTokens(RopeShape queryShape, RopeShape keyShape)
    {
        if (queryShape.Tokens != keyShape.Tokens || queryShape.Batch != keyShape.Batch)
        {
            ThrowDifferentTokens(queryShape, keyShape);
        }
    }

    /// <summary>An out-of-place destination: long enough, and either the very memory of the source or apart from its heads.</summary>
    private static void Destination<TElement>(ReadOnlySpan<TElement> source, ReadOnlySpan<TElement> destination, RopeShape shape, string name)
    {
        Guard.Length(destination.Length, shape, name);
        if (!SharedMemory.SameStart(source, destination)
            && HeadOverlap.BetweenSequences(shape, shape.HeadDim, shape, shape.HeadDim, SharedMemory.ByteOffset(source, destination), Unsafe.SizeOf<TElement>()))
        {
            Guard.ThrowInvalid(
                "The destination's heads share memory with the source's at a different start; use the same memory (in place) or memory " +
                "no source head touches.", name);
        }
    }

    /// <summary>
    /// Throws unless no element of <paramref name="written"/>'s heads (their first <paramref name="writtenExtent"/>
    /// elements) lies in memory of <paramref name="other"/>'s heads, tested exactly from both shapes' strides.
    /// </summary>
    public static void Disjoint<TElement>(ReadOnlySpan<TElement> written, RopeShape writtenShape, int writtenExtent,
        ReadOnlySpan<TElement> other, RopeShape otherShape, int otherExtent, string name, string otherDescription)
    {
        if (HeadOverlap.BetweenSequences(writtenShape, writtenExtent, otherShape, otherExtent, SharedMemory.ByteOffset(written, other), Unsafe.SizeOf<TElement>()))
        {
            ThrowShared(name, otherDescription);
        }
    }

    /// <summary>Throws unless the norm's weights fit heads of <paramref name="headDim"/> elements.</summary>
    private static void Norm(scoped in RopeHeadNorm norm, int headDim, string name)
    {
        if (norm.Kind is RopeHeadNormKind.Weight or RopeHeadNormKind.OnePlusWeight && norm.Weight.Length != headDim)
        {
            ThrowNormWeights(norm.Weight.Length, headDim, name);
        }
    }

    // Out of line, so the checks of a decode call stay a few compares and leave the JIT's inlining budget alone.
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowUnfit(RopeLayout layout, RopeShape shape, int rotaryDim, string shapeName)
    {
        if (layout is not (RopeLayout.Interleaved or RopeLayout.HalfSplit))
        {
            throw ArgumentErrors.OutOfRange(nameof(layout), layout, "Unknown layout.");
        }

        if (shape.HeadDim == 0)
        {
            throw ArgumentErrors.Invalid("The shape is uninitialized (head dim 0); construct it with RopeShape's constructor.", shapeName);
        }

        throw ArgumentErrors.Invalid($"Head dim {shape.HeadDim} is smaller than the rotary dim {rotaryDim}; a head must hold every rotated element.", shapeName);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDifferentTokens(RopeShape queryShape, RopeShape keyShape) =>
        throw ArgumentErrors.Invalid(
            $"Keys have {keyShape.Batch} × {keyShape.Tokens} tokens but queries have {queryShape.Batch} × {queryShape.Tokens}; both must cover " +
            "the same sequences and tokens.", nameof(keyShape));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowShared(string name, string otherDescription) =>
        throw ArgumentErrors.Invalid(
            $"The heads of {name} share memory with {otherDescription}; one tensor's elements must not be read or written by the other " +
            "(pass the same buffer at the offsets and strides that keep them apart, e.g. slices of a packed QKV row).", name);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNormWeights(int weights, int headDim, string name) =>
        throw ArgumentErrors.Invalid($"The norm has {weights} weights but the heads it normalizes have {headDim} elements; one weight per element is expected.", name);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowPackedTooShort(int length, RopePackedQkv packing) =>
        throw ArgumentErrors.Invalid(
            $"qkv holds {length} elements but {packing.Batch} x {packing.Tokens} rows of ({packing.QueryHeads} + 2 x {packing.KvHeads}) heads of " +
            $"{packing.HeadDim} need {packing.RequiredLength}.", "qkv");
}
