using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Rope.Simd.Validation;

namespace Rope.Simd.Native;

/// <summary>
/// The functions of the C ABI. Each variant library (one per x86-64 level) exports them as <c>rope_simd_impl_*</c>;
/// the loader library exports the <c>rope_simd_*</c> names of rope_simd.h and forwards to the variant it picked.
/// No exception ever crosses the boundary: every failure becomes a status code and a per-thread message.
/// </summary>
internal static unsafe class Exports
{
    /// <summary>Bumped when a signature or struct of rope_simd.h changes; the loader refuses a variant that differs.</summary>
    private const int AbiVersion = 5;

    private const int InverseFlag = 1;

    private static readonly byte* PathName = Utf8(RopeEngine.Default.Path.ToString());

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_abi_version")]
    public static int AbiVersionExport() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_path")]
    public static byte* Path() => PathName;

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_last_error")]
    public static byte* LastErrorMessage() => LastError.Pointer;

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_create")]
    public static int TableCreate(int rotaryDim, double @base, int firstPosition, int positionCount, ulong* table)
    {
        try
        {
            NotNull(table, "out_table");
            *table = 0;
            *table = AddTable(RopeFrequencies.Create(rotaryDim, @base), firstPosition, positionCount);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_create", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_create_from_frequencies")]
    public static int TableCreateFromFrequencies(double* inverseFrequencies, int pairCount, double attentionFactor,
        int firstPosition, int positionCount, ulong* table)
    {
        try
        {
            NotNull(table, "out_table");
            *table = 0;
            NotNull(inverseFrequencies, "inverse_frequencies");
            if (pairCount <= 0)
            {
                throw new NativeException(NativeStatus.OutOfRange, $"pair_count is {pairCount}; at least one pair is needed.");
            }

            var frequencies = RopeFrequencies.FromInverseFrequencies(new ReadOnlySpan<double>(inverseFrequencies, pairCount), attentionFactor);
            *table = AddTable(frequencies, firstPosition, positionCount);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_create_from_frequencies", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_free")]
    public static int TableFree(ulong table)
    {
        try
        {
            TableHandles.Remove(table);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_free", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_info")]
    public static int TableInfo(ulong table, int* rotaryDim, int* firstPosition, int* positionCount)
    {
        try
        {
            TableEntry entry = TableHandles.Get(table);
            if (rotaryDim is not null)
            {
                *rotaryDim = entry.Frequencies.RotaryDim;
            }

            if (firstPosition is not null)
            {
                *firstPosition = entry.Table?.FirstPosition ?? 0;
            }

            if (positionCount is not null)
            {
                *positionCount = entry.Table?.PositionCount ?? 0;
            }

            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_info", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_rows")]
    public static int TableRows(ulong table, float** rows, long* length)
    {
        try
        {
            NotNull(rows, "out_rows");
            NotNull(length, "out_length");
            *rows = null;
            *length = 0;
            RopeTable stored = TableHandles.Get(table).Table
                ?? throw new NativeException(NativeStatus.InvalidArgument, "The table computes its rows per call (created with position_count 0); it stores none.");
            // The rows live on the pinned object heap: the address stays valid until the table is freed.
            *rows = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(stored.Rows));
            *length = stored.Rows.Length;
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_rows", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_rotate")]
    public static int Rotate(ulong table, int elementType, int layout, int flags, NativePositions positions, NativeTensor* queries, NativeTensor* keys)
    {
        try
        {
            RopeRows rows = TableRows(TableHandles.Get(table));
            CheckCall(elementType, layout, flags);
            NotNull(queries, "queries");
            // Each struct is copied once: the caller's memory may change while the call runs, and every field used
            // below is the one that was checked.
            NativeBatchTensor queryTensor = OneSequence(*queries), keyTensor = keys is null ? default : OneSequence(*keys);
            // rope_simd_rotate is rope_simd_rotate_ex for one sequence in place, with int32 positions (one per token) or a start.
            var batchPositions = new NativeBatchPositions
            {
                Kind = (int)(positions.Values is null ? NativePositionsKind.Sequential : NativePositionsKind.Int32),
                Start = positions.Start,
                Values = positions.Values,
                Count = queryTensor.Tokens,
            };
            Rotate(rows, elementType, layout, flags, batchPositions, queryTensor, keyTensor, keys is not null);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_rotate", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_rotate_ex")]
    public static int RotateEx(NativeRows* rows, int elementType, int layout, int flags, NativeBatchPositions* positions,
        NativeBatchTensor* queries, NativeBatchTensor* keys)
    {
        try
        {
            NotNull(rows, "rows");
            NotNull(positions, "positions");
            NotNull(queries, "queries");
            CheckCall(elementType, layout, flags);
            // Each struct is copied once, as above.
            NativeRows rowsCopy = *rows;
            NativeBatchPositions positionsCopy = *positions;
            NativeBatchTensor queryTensor = *queries, keyTensor = keys is null ? default : *keys;
            Rotate(Rows(rowsCopy), elementType, layout, flags, positionsCopy, queryTensor, keyTensor, keys is not null);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_rotate_ex", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_rotate_norm")]
    public static int RotateNorm(NativeRows* rows, int elementType, int layout, NativeBatchPositions* positions,
        NativeBatchTensor* queries, NativeHeadNorm* queryNorm, NativeBatchTensor* keys, NativeHeadNorm* keyNorm)
    {
        try
        {
            NotNull(rows, "rows");
            NotNull(positions, "positions");
            NotNull(queries, "queries");
            CheckCall(elementType, layout, 0);
            // Each struct is copied once, as above; a norm's weights are read where they lie.
            NativeRows rowsCopy = *rows;
            NativeBatchPositions positionsCopy = *positions;
            NativeBatchTensor queryTensor = *queries, keyTensor = keys is null ? default : *keys;
            NativeHeadNorm queryNormCopy = queryNorm is null ? default : *queryNorm, keyNormCopy = keyNorm is null ? default : *keyNorm;
            RopeRows ropeRows = Rows(rowsCopy);
            RopeShape queryShape = BatchShape(queryTensor, "queries");
            RopeShape keyShape = keys is not null ? BatchShape(keyTensor, "keys") : default;
            InPlace(queryTensor, "queries");
            InPlace(keyTensor, "keys");
            RopePositions ropePositions = Positions(positionsCopy);
            var call = new NormCall(ropeRows, ropePositions, (RopeLayout)layout, queryTensor, queryShape, queryNormCopy, keyTensor, keyShape, keyNormCopy,
                keys is not null);
            ElementTypes.Run(elementType, "dtype", ref call);

            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_rotate_norm", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_rotate_append")]
    public static int RotateAppend(NativeRows* rows, int elementType, int layout, NativeBatchPositions* positions,
        NativeBatchTensor* queries, NativeBatchTensor* keys, NativeBatchTensor* values, NativeKvCache* cache) =>
        Append("rope_simd_rotate_append", rows, elementType, layout, positions, queries, null, keys, null, values, cache);

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_rotate_norm_append")]
    public static int RotateNormAppend(NativeRows* rows, int elementType, int layout, NativeBatchPositions* positions,
        NativeBatchTensor* queries, NativeHeadNorm* queryNorm, NativeBatchTensor* keys, NativeHeadNorm* keyNorm, NativeBatchTensor* values,
        NativeKvCache* cache) =>
        Append("rope_simd_rotate_norm_append", rows, elementType, layout, positions, queries, queryNorm, keys, keyNorm, values, cache);

    private static int Append(string function, NativeRows* rows, int elementType, int layout, NativeBatchPositions* positions,
        NativeBatchTensor* queries, NativeHeadNorm* queryNorm, NativeBatchTensor* keys, NativeHeadNorm* keyNorm, NativeBatchTensor* values,
        NativeKvCache* cache)
    {
        try
        {
            NotNull(rows, "rows");
            NotNull(positions, "positions");
            NotNull(queries, "queries");
            NotNull(keys, "keys");
            NotNull(values, "values");
            NotNull(cache, "cache");
            CheckCall(elementType, layout, 0);
            // Each struct is copied once, as above; the block table and the norms' weights are read where they lie.
            NativeRows rowsCopy = *rows;
            NativeBatchPositions positionsCopy = *positions;
            NativeBatchTensor queryTensor = *queries, keyTensor = *keys, valueTensor = *values;
            NativeHeadNorm queryNormCopy = queryNorm is null ? default : *queryNorm, keyNormCopy = keyNorm is null ? default : *keyNorm;
            NativeKvCache cacheCopy = *cache;
            ElementTypes.Check(cacheCopy.Dtype, "cache->dtype");
            RopeRows ropeRows = Rows(rowsCopy);
            RopeShape queryShape = BatchShape(queryTensor, "queries"), keyShape = BatchShape(keyTensor, "keys"), valueShape = BatchShape(valueTensor, "values");
            if (valueShape != keyShape)
            {
                throw new NativeException(NativeStatus.InvalidArgument, "values must have the keys' batch, tokens, heads, head_dim and strides.");
            }

            InPlace(queryTensor, "queries");
            InPlace(keyTensor, "keys");
            InPlace(valueTensor, "values");
            RopePositions ropePositions = Positions(positionsCopy);
            var call = new AppendCall(ropeRows, ropePositions, (RopeLayout)layout, queryTensor, queryShape, queryNormCopy, keyTensor, keyNormCopy, valueTensor,
                keyShape, cacheCopy);
            ElementTypes.Run(elementType, "dtype", ref call);

            return 0;
        }
        catch (Exception exception)
        {
            return Fail(function, exception);
        }
    }

    /// <summary>One rope_simd_rotate_append or rope_simd_rotate_norm_append: the activations' type, then the cache's, each chosen once.</summary>
    private readonly ref struct AppendCall(RopeRows rows, RopePositions positions, RopeLayout layout, in NativeBatchTensor queries, RopeShape queryShape,
        in NativeHeadNorm queryNorm, in NativeBatchTensor keys, in NativeHeadNorm keyNorm, in NativeBatchTensor values, RopeShape keyShape,
        in NativeKvCache cache) : IElementWork
    {
        private readonly RopeRows rows = rows;
        private readonly RopePositions positions = positions;
        private readonly NativeBatchTensor queries = queries, keys = keys, values = values;
        private readonly NativeHeadNorm queryNorm = queryNorm, keyNorm = keyNorm;
        private readonly NativeKvCache cache = cache;

        /// <summary>With the activations' type: the cache's type next.</summary>
        public void Run<T>()
            where T : unmanaged
        {
            var withCache = new CacheCall<T>(this);
            ElementTypes.Run(cache.Dtype, "cache->dtype", ref withCache);
        }

        private void Run<T, TCache>()
            where T : unmanaged
            where TCache : unmanaged
        {
            RopeEngine.Default.ApplyAndAppend(rows, Data<T>(queries, queryShape), queryShape, HeadNorm(queryNorm, "query_norm"), Data<T>(keys, keyShape),
                Data<T>(values, keyShape), keyShape, HeadNorm(keyNorm, "key_norm"), KvCache<TCache>(cache), positions, layout);
        }

        private readonly ref struct CacheCall<T>(AppendCall call) : IElementWork
            where T : unmanaged
        {
            private readonly AppendCall call = call;

            public void Run<TCache>()
                where TCache : unmanaged =>
                call.Run<T, TCache>();
        }
    }

    /// <summary>One rope_simd_rotate_norm, waiting for its element type.</summary>
    private readonly ref struct NormCall(RopeRows rows, RopePositions positions, RopeLayout layout, in NativeBatchTensor queryTensor, RopeShape queryShape,
        in NativeHeadNorm queryNorm, in NativeBatchTensor keyTensor, RopeShape keyShape, in NativeHeadNorm keyNorm, bool withKeys) : IElementWork
    {
        private readonly RopeRows rows = rows;
        private readonly RopePositions positions = positions;
        private readonly NativeBatchTensor queryTensor = queryTensor, keyTensor = keyTensor;
        private readonly NativeHeadNorm queryNorm = queryNorm, keyNorm = keyNorm;

        public void Run<T>()
            where T : unmanaged =>
            RunNorm<T>(rows, positions, layout, queryTensor, queryShape, queryNorm, keyTensor, keyShape, keyNorm, withKeys);
    }

    /// <summary>One rope_simd_rotate or rope_simd_rotate_ex, waiting for its element type.</summary>
    private readonly ref struct RotateCall(RopeRows rows, RopePositions positions, RopeLayout layout, bool inverse, in NativeBatchTensor queryTensor,
        RopeShape queryShape, in NativeBatchTensor keyTensor, RopeShape keyShape, bool withKeys) : IElementWork
    {
        private readonly RopeRows rows = rows;
        private readonly RopePositions positions = positions;
        private readonly NativeBatchTensor queryTensor = queryTensor, keyTensor = keyTensor;

        public void Run<T>()
            where T : unmanaged =>
            Exports.Run<T>(rows, positions, layout, inverse, queryTensor, queryShape, keyTensor, keyShape, withKeys);
    }

    /// <summary>A C cache as <see cref="RopeKvCache{TCache}"/>: counts checked here, shapes and the table by the engine.</summary>
    private static RopeKvCache<TCache> KvCache<TCache>(in NativeKvCache cache)
        where TCache : unmanaged
    {
        try
        {
            return CheckedKvCache<TCache>(cache);
        }
        catch (ArgumentException exception) when (exception.ParamName is { Length: > 0 } parameter)
        {
            NativeStatus status = exception is ArgumentOutOfRangeException ? NativeStatus.OutOfRange : NativeStatus.InvalidArgument;
            throw new NativeException(status, Naming(exception, $"cache->{CacheField(parameter)}"));
        }
    }

    /// <summary>The field of rope_simd_kv_cache each parameter of the cache's factories (keys, heads, ...) comes from.</summary>
    private static string CacheField(string parameter) => parameter switch
    {
        "keys" or "values" or "keyBlocks" or "valueBlocks" => "length",
        "blockTable" => "block_table_length",
        "blockSize" => "block_size",
        "blocksPerSequence" => "blocks_per_sequence",
        "headDim" => "head_dim",
        _ => parameter,
    };

    private static RopeKvCache<TCache> CheckedKvCache<TCache>(in NativeKvCache cache)
        where TCache : unmanaged
    {
        if (cache.Keys is null || cache.Values is null)
        {
            throw new NativeException(NativeStatus.NullPointer, $"cache->{(cache.Keys is null ? "keys" : "values")} is NULL.");
        }

        int length = Count(cache.Length, "cache", "length"), heads = Count(cache.Heads, "cache", "heads"), headDim = Count(cache.HeadDim, "cache", "head_dim");
        var keyCache = new Span<TCache>(cache.Keys, length);
        var valueCache = new Span<TCache>(cache.Values, length);
        switch ((NativeKvLayout)cache.Layout)
        {
            case NativeKvLayout.PositionMajor:
                return RopeKvCache<TCache>.PositionMajor(keyCache, valueCache, Count(cache.Batch, "cache", "batch"), Count(cache.Capacity, "cache", "capacity"),
                    heads, headDim);
            case NativeKvLayout.HeadMajor:
                return RopeKvCache<TCache>.HeadMajor(keyCache, valueCache, Count(cache.Batch, "cache", "batch"), heads, Count(cache.Capacity, "cache", "capacity"),
                    headDim);
            case NativeKvLayout.Paged:
                int entries = Count(cache.BlockTableLength, "cache", "block_table_length");
                if (cache.BlockTable is null && entries > 0)
                {
                    throw new NativeException(NativeStatus.NullPointer, $"cache->block_table is NULL but cache->block_table_length is {entries}.");
                }

                return RopeKvCache<TCache>.Paged(keyCache, valueCache, Count(cache.BlockSize, "cache", "block_size"), heads, headDim,
                    new ReadOnlySpan<int>(cache.BlockTable, entries), Count(cache.BlocksPerSequence, "cache", "blocks_per_sequence"));
            default:
                throw new NativeException(NativeStatus.InvalidArgument,
                    $"cache->layout {cache.Layout} is not a rope_simd_kv_layout (0 position-major, 1 head-major, 2 paged).");
        }
    }

    private static void InPlace(in NativeBatchTensor tensor, string name)
    {
        if (tensor.Source is not null)
        {
            throw new NativeException(NativeStatus.InvalidArgument, $"{name}->source must be NULL: this call reads and writes in place.");
        }
    }

    private static void RunNorm<T>(scoped in RopeRows rows, scoped in RopePositions positions, RopeLayout layout,
        in NativeBatchTensor queryTensor, RopeShape queryShape, in NativeHeadNorm queryNorm,
        in NativeBatchTensor keyTensor, RopeShape keyShape, in NativeHeadNorm keyNorm, bool withKeys)
        where T : unmanaged
    {
        RopeHeadNorm queries = HeadNorm(queryNorm, "query_norm"), keys = HeadNorm(keyNorm, "key_norm");
        if (withKeys)
        {
            RopeEngine.Default.ApplyWithNorm(rows, Data<T>(queryTensor, queryShape), queryShape, queries, Data<T>(keyTensor, keyShape), keyShape, keys,
                positions, layout);
        }
        else
        {
            RopeEngine.Default.ApplyWithNorm(rows, Data<T>(queryTensor, queryShape), queryShape, queries, positions, layout);
        }
    }

    /// <summary>A C norm as <see cref="RopeHeadNorm"/>; its weights must be one per element of a head (checked by the engine).</summary>
    private static RopeHeadNorm HeadNorm(in NativeHeadNorm norm, string name)
    {
        if (norm.Kind is < 0 or > (int)NativeNormKind.RmsUnweighted)
        {
            throw new NativeException(NativeStatus.InvalidArgument, $"{name}.kind {norm.Kind} is not a rope_simd_norm_kind (0 none, 1 RMS, 2 RMS with 1 + w, 3 RMS unweighted).");
        }

        if (norm.Kind != (int)NativeNormKind.None && (!float.IsFinite(norm.Epsilon) || norm.Epsilon < 0))
        {
            throw new NativeException(NativeStatus.OutOfRange, $"{name}.epsilon {norm.Epsilon} must be finite and not negative.");
        }

        if (norm.Kind is (int)NativeNormKind.Rms or (int)NativeNormKind.RmsOnePlus)
        {
            if (norm.Weight is null)
            {
                throw new NativeException(NativeStatus.NullPointer, $"{name}.weight is NULL; RMS norms with weights need head_dim of them.");
            }

            if (norm.Length is < 0 or > int.MaxValue)
            {
                throw new NativeException(NativeStatus.OutOfRange, $"{name}.length {norm.Length} is negative or above 2^31 - 1.");
            }
        }

        var weights = new ReadOnlySpan<float>(norm.Weight, (int)Math.Clamp(norm.Length, 0, int.MaxValue));
        return (NativeNormKind)norm.Kind switch
        {
            NativeNormKind.Rms => RopeHeadNorm.Rms(weights, norm.Epsilon),
            NativeNormKind.RmsOnePlus => RopeHeadNorm.RmsOnePlusWeight(weights, norm.Epsilon),
            NativeNormKind.RmsUnweighted => RopeHeadNorm.RmsUnweighted(norm.Epsilon),
            _ => RopeHeadNorm.None,
        };
    }

    private static void CheckCall(int elementType, int layout, int flags)
    {
        ElementTypes.Check(elementType, "dtype");
        if (layout is not ((int)RopeLayout.Interleaved or (int)RopeLayout.HalfSplit))
        {
            throw new NativeException(NativeStatus.InvalidArgument, $"layout {layout} is not a rope_simd_layout (0 interleaved, 1 half-split).");
        }

        if ((flags & ~InverseFlag) != 0)
        {
            throw new NativeException(NativeStatus.InvalidArgument, $"flags 0x{flags:x} has bits other than ROPE_SIMD_INVERSE.");
        }
    }


    /// <summary>Both entry points from here on: shapes, then positions, then the call for the element type.</summary>
    private static void Rotate(scoped in RopeRows rows, int elementType, int layout, int flags, in NativeBatchPositions positions,
        in NativeBatchTensor queryTensor, in NativeBatchTensor keyTensor, bool withKeys)
    {
        RopeShape queryShape = BatchShape(queryTensor, "queries");
        RopeShape keyShape = withKeys ? BatchShape(keyTensor, "keys") : default;
        RopePositions ropePositions = Positions(positions);
        var pairs = (RopeLayout)layout;
        bool inverse = (flags & InverseFlag) != 0;
        var call = new RotateCall(rows, ropePositions, pairs, inverse, queryTensor, queryShape, keyTensor, keyShape, withKeys);
        ElementTypes.Run(elementType, "dtype", ref call);
    }

    private static void Run<T>(scoped in RopeRows rows, scoped in RopePositions positions, RopeLayout layout, bool inverse,
        in NativeBatchTensor queryTensor, RopeShape queryShape, in NativeBatchTensor keyTensor, RopeShape keyShape, bool withKeys)
        where T : unmanaged
    {
        Span<T> queries = Data<T>(queryTensor, queryShape), keys = withKeys ? Data<T>(keyTensor, keyShape) : default;
        bool queriesInPlace = queryTensor.Source is null, keysInPlace = !withKeys || keyTensor.Source is null;
        RopeEngine engine = RopeEngine.Default;
        if (!withKeys)
        {
            if (queriesInPlace)
            {
                engine.Apply(rows, queries, queryShape, positions, layout, inverse);
            }
            else
            {
                engine.Apply(rows, Source<T>(queryTensor, queryShape), queries, queryShape, positions, layout, inverse);
            }
        }
        else if (queriesInPlace && keysInPlace)
        {
            engine.Apply(rows, queries, queryShape, keys, keyShape, positions, layout, inverse);
        }
        else
        {
            ReadOnlySpan<T> querySource = queriesInPlace ? queries : Source<T>(queryTensor, queryShape);
            ReadOnlySpan<T> keySource = keysInPlace ? keys : Source<T>(keyTensor, keyShape);
            engine.Apply(rows, querySource, queries, queryShape, keySource, keys, keyShape, positions, layout, inverse);
        }
    }

    private static RopeRows TableRows(TableEntry entry) => entry.Table is { } table ? table : entry.Frequencies;

    private static RopeRows Rows(in NativeRows rows)
    {
        if (rows.Format == (int)NativeRowsFormat.Table)
        {
            return TableRows(TableHandles.Get(rows.Table));
        }

        if (rows.Format is < (int)NativeRowsFormat.Interleaved or > (int)NativeRowsFormat.Duplicated)
        {
            throw new NativeException(NativeStatus.InvalidArgument,
                $"rows->format {rows.Format} is not a rope_simd_rows_format (0 table, 1 interleaved, 2 cos then sin, 3 separate, 4 duplicated).");
        }

        ElementTypes.Check(rows.Dtype, "rows->dtype");
        int length = Count(rows.Length, "rows", "length");
        int rowStride = Count(rows.RowStride, "rows", "row_stride");
        bool twoSpans = rows.Format is (int)NativeRowsFormat.Separate or (int)NativeRowsFormat.Duplicated;
        if (rows.Cos is null || (twoSpans && rows.Sin is null))
        {
            throw new NativeException(NativeStatus.NullPointer, $"rows->{(rows.Cos is null ? "cos" : "sin")} is NULL.");
        }

        var wrap = new RowsOfType(rows, length, rowStride, twoSpans);
        ElementTypes.Run(rows.Dtype, "rows->dtype", ref wrap);
        return wrap.Rows;
    }

    /// <summary>C caller rows wrapped as <see cref="RopeRows"/> once their value type is known.</summary>
    private unsafe ref struct RowsOfType(in NativeRows rows, int length, int rowStride, bool twoSpans) : IElementWork
    {
        private readonly NativeRows native = rows;

        public RopeRows Rows;

        public void Run<TValue>()
            where TValue : unmanaged =>
            Rows = CallerRows<TValue>(native, length, rowStride, twoSpans);
    }

    private static RopeRows CallerRows<TValue>(scoped in NativeRows rows, int length, int rowStride, bool twoSpans)
        where TValue : unmanaged
    {
        var cos = new ReadOnlySpan<TValue>(rows.Cos, length);
        ReadOnlySpan<TValue> sin = twoSpans ? new ReadOnlySpan<TValue>(rows.Sin, length) : default;
        return (NativeRowsFormat)rows.Format switch
        {
            NativeRowsFormat.Interleaved => RopeRows.Interleaved(cos, rows.RotaryDim, rowStride),
            NativeRowsFormat.CosThenSin => RopeRows.CosThenSin(cos, rows.RotaryDim, rowStride),
            NativeRowsFormat.Separate => RopeRows.Separate(cos, sin, rows.RotaryDim, rowStride),
            _ => RopeRows.Duplicated(cos, sin, rows.RotaryDim, rowStride),
        };
    }

    private static RopePositions Positions(in NativeBatchPositions positions)
    {
        switch ((NativePositionsKind)positions.Kind)
        {
            case NativePositionsKind.Sequential:
                if (positions.Start != (int)positions.Start)
                {
                    throw OutOfRange("positions", "start", positions.Start, "it must fit in 32 bits");
                }

                return RopePositions.Sequential((int)positions.Start);
            case NativePositionsKind.Starts or NativePositionsKind.Int32 or NativePositionsKind.Int64:
                int count = Count(positions.Count, "positions", "count");
                if (positions.Values is null && count > 0)
                {
                    throw new NativeException(NativeStatus.NullPointer, $"positions->values is NULL but positions->count is {count}.");
                }

                return (NativePositionsKind)positions.Kind switch
                {
                    NativePositionsKind.Starts => RopePositions.Sequential(new ReadOnlySpan<int>(positions.Values, count)),
                    NativePositionsKind.Int32 => RopePositions.Explicit(new ReadOnlySpan<int>(positions.Values, count)),
                    _ => RopePositions.Explicit(new ReadOnlySpan<long>(positions.Values, count)),
                };
            default:
                throw new NativeException(NativeStatus.InvalidArgument,
                    $"positions->kind {positions.Kind} is not a rope_simd_positions_kind (0 sequential, 1 starts, 2 int32, 3 int64).");
        }
    }

    /// <summary>A rope_simd_rotate tensor as the one sequence of a batch, in place.</summary>
    private static NativeBatchTensor OneSequence(in NativeTensor tensor) => new()
    {
        Data = tensor.Data,
        Length = tensor.Length,
        Batch = 1,
        Tokens = tensor.Tokens,
        Heads = tensor.Heads,
        HeadDim = tensor.HeadDim,
        TokenStride = tensor.TokenStride,
        HeadStride = tensor.HeadStride,
    };

    private static RopeShape BatchShape(in NativeBatchTensor tensor, string name)
    {
        int batch = tensor.Batch == 0 ? 1 : Count(tensor.Batch, name, "batch");
        int tokens = Count(tensor.Tokens, name, "tokens"), heads = Count(tensor.Heads, name, "heads");
        int headDim = Count(tensor.HeadDim, name, "head_dim");
        // Strides of 0 mean packed [batch][tokens][heads][head_dim].
        int headStride = Count(tensor.HeadStride == 0 ? headDim : tensor.HeadStride, name, "head_stride");
        int tokenStride = tensor.TokenStride == 0 ? PackedTokenStride(heads, headDim, name) : Count(tensor.TokenStride, name, "token_stride");
        long packedBatchStride = (long)tokens * tokenStride;
        if (tensor.BatchStride == 0 && batch > 1 && packedBatchStride > int.MaxValue)
        {
            throw OutOfRange(name, "batch_stride", tensor.BatchStride,
                $"with batch_stride 0 (packed) one sequence of {tokens} tokens × {tokenStride} must fit in 2^31 - 1 elements");
        }

        int batchStride = tensor.BatchStride == 0 ? (batch > 1 ? (int)packedBatchStride : 0) : Count(tensor.BatchStride, name, "batch_stride");
        if (tensor.Length < 0)
        {
            throw OutOfRange(name, "length", tensor.Length, "it must not be negative");
        }

        var shape = new RopeShape(batch, tokens, heads, headDim, batchStride, tokenStride, headStride);
        if (tensor.Data is null && shape.RequiredLength > 0)
        {
            throw new NativeException(NativeStatus.NullPointer, $"{name}->data is NULL but the tensor has {shape.RequiredLength} elements.");
        }

        return shape;
    }

    private static Span<T> Data<T>(in NativeBatchTensor tensor, RopeShape shape)
        where T : unmanaged =>
        shape.RequiredLength == 0 ? default : new Span<T>(tensor.Data, (int)Math.Min(tensor.Length, int.MaxValue));

    private static ReadOnlySpan<T> Source<T>(in NativeBatchTensor tensor, RopeShape shape)
        where T : unmanaged =>
        shape.RequiredLength == 0 ? default : new ReadOnlySpan<T>(tensor.Source, (int)Math.Min(tensor.Length, int.MaxValue));

    private static ulong AddTable(RopeFrequencies frequencies, int firstPosition, int positionCount)
    {
        if (positionCount < 0)
        {
            throw new NativeException(NativeStatus.OutOfRange, $"position_count is {positionCount}; use 0 for rows computed per call, or the positions to store.");
        }

        RopeTable? table = positionCount == 0 ? null : RopeTable.Create(frequencies, firstPosition, positionCount);
        return TableHandles.Add(new TableEntry(frequencies, table));
    }

    private static int PackedTokenStride(int heads, int headDim, string name)
    {
        long stride = (long)heads * headDim;
        if (stride > int.MaxValue)
        {
            throw new NativeException(NativeStatus.OutOfRange,
                $"{name}->heads × {name}->head_dim is {heads} × {headDim} = {stride}; with token_stride 0 (packed) one token's heads must fit in 2^31 - 1 elements.");
        }

        return (int)stride;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Count(long value, string tensor, string field)
    {
        if ((ulong)value > int.MaxValue)
        {
            throw OutOfRange(tensor, field, value, "it must be in [0, 2^31 - 1]");
        }

        return (int)value;
    }

    // Kept out of line so the checks above stay small enough to inline.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static NativeException OutOfRange(string owner, string field, long value, string rule) =>
        new(NativeStatus.OutOfRange, $"{owner}{(owner == "positions" ? "." : "->")}{field} is {value}; {rule}.");

    private static void NotNull(void* pointer, string name)
    {
        if (pointer is null)
        {
            throw new NativeException(NativeStatus.NullPointer, $"{name} is NULL.");
        }
    }

    private static int Fail(string function, Exception exception)
    {
        NativeStatus status = exception switch
        {
            NativeException native => native.Status,
            ArgumentNullException => NativeStatus.NullPointer,
            ArgumentOutOfRangeException => NativeStatus.OutOfRange,
            ArgumentException => NativeStatus.InvalidArgument,
            OutOfMemoryException => NativeStatus.OutOfMemory,
            PlatformNotSupportedException => NativeStatus.Unsupported,
            _ => NativeStatus.Internal,
        };
        return (int)LastError.Record(status, $"{function}: {CallerFacingMessage(function, exception)}");
    }

    /// <summary>The message, an argument error naming the C argument its engine parameter comes from.</summary>
    private static string CallerFacingMessage(string function, Exception exception) =>
        exception is ArgumentException { ParamName: { Length: > 0 } parameter } argument
            ? Naming(argument, ArgumentName(function, parameter))
            : exception.Message;

    /// <summary>The C argument each engine parameter comes from.</summary>
    private static string ArgumentName(string function, string parameter) => parameter switch
    {
        // The appends take a values tensor of their own; elsewhere the engine's single tensor, "values", is the queries.
        "values" when function is "rope_simd_rotate_append" or "rope_simd_rotate_norm_append" => "values",
        "values" or "queries" or "queryShape" or "shape" or "source" or "destination" or "querySource" or "queryDestination" => "queries",
        "keys" or "keyShape" or "keySource" or "keyDestination" => "keys",
        "norm" or "queryNorm" => "query_norm",
        "cache" or "keyBlocks" or "valueBlocks" or "blockTable" or "blocksPerSequence" or "blockSize" or "capacity" => "cache",
        "keyNorm" => "key_norm",
        "rows" or "cos" => "rows->cos",
        "sin" => "rows->sin",
        "rowStride" => "rows->row_stride",
        "batchStride" => "batch_stride",
        "batch" => "batch",
        "rotaryDim" => "rotary_dim",
        "firstPosition" => "first_position",
        "positionCount" => "position_count",
        "inverseFrequencies" => "inverse_frequencies",
        "attentionFactor" => "attention_factor",
        "tokenStride" => "token_stride",
        "headStride" => "head_stride",
        "headDim" => "head_dim",
        _ => parameter,
    };

    /// <summary>
    /// An argument error's message as the library wrote it, naming <paramref name="argumentName"/>, with the line .NET
    /// adds for the value of an argument out of range. An exception the library did not make keeps its own message.
    /// </summary>
    private static string Naming(ArgumentException exception, string argumentName)
    {
        if (ArgumentErrors.MessageOf(exception) is not { } message)
        {
            return exception.Message;
        }

        // .NET puts an argument's value out of range on a line after the parameter's name: the whole message of such an
        // exception with an empty message and no parameter is that line break and line.
        string value = exception is ArgumentOutOfRangeException { ActualValue: { } actual }
            ? new ArgumentOutOfRangeException(null, actual, string.Empty).Message
            : "";
        return $"{message} (argument {argumentName}){value}";
    }

    private static byte* Utf8(string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        byte* bytes = (byte*)NativeMemory.AllocZeroed((nuint)length + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(bytes, length));
        return bytes;
    }
}
