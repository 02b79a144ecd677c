using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// RoPE + KV-cache append (<see cref="RopeEngine.ApplyAndAppend{TElement, TCache}"/>): every place of the cache against
/// the specified result (keys rotated as <c>Apply</c> rotates float32 into a float32 cache, with products and sums each
/// rounded into a 16-bit cache, then rounded once; values converted), on every path, layout and cache layout, for
/// activation and cache types apart; places not written keep their bits; bad input is rejected before anything is
/// written.
/// </summary>
public class KvAppendTests
{
    private const int Batch = 2, Tokens = 3, QueryHeads = 4, KvHeads = 2, HeadDim = 48, RotaryDim = 32, Capacity = 16, BlockSize = 4;
    private const float Epsilon = 1e-6f;
    private static readonly RopeTable Table = RopeTable.Create(RotaryDim, 64);

    // Head and rotary dims: spans of whole pair blocks on every path (128, 96 interleaved), on some (32, 72), partial
    // rotary with elements past the rotary dim.
    private static readonly (int HeadDim, int RotaryDim)[] Dims = [(48, 32), (128, 128), (136, 96), (72, 72)];

    public enum CacheKind
    {
        PositionMajor,
        HeadMajor,
        Paged,
    }

    public enum Types
    {
        SingleToSingle,
        SingleToBFloat16,
        BFloat16ToBFloat16,
        BFloat16ToSingle,
        HalfToHalf,
        BFloat16ToHalf,
    }

    public static TheoryData<RopePath, RopeLayout, CacheKind, Types, int> Cases
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, CacheKind, Types, int>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    foreach (CacheKind cache in Enum.GetValues<CacheKind>())
                    {
                        foreach (Types types in Enum.GetValues<Types>())
                        {
                            for (int dims = 0; dims < Dims.Length; dims++)
                            {
                                data.Add(engine.Path, layout, cache, types, dims);
                            }
                        }
                    }
                }
            }

            return data;
        }
    }

    public static TheoryData<RopePath, RopeLayout, Types, int, Weighting> NormCases
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, Types, int, Weighting>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    foreach (Types types in Enum.GetValues<Types>())
                    {
                        for (int dims = 0; dims < Dims.Length; dims++)
                        {
                            foreach (Weighting weighting in (Weighting[])[Weighting.Weight, Weighting.OnePlusWeight, Weighting.Unweighted])
                            {
                                data.Add(engine.Path, layout, types, dims, weighting);
                            }
                        }
                    }
                }
            }

            return data;
        }
    }

    public static TheoryData<RopePath, RopeLayout, Types> PackedCases
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, Types>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    foreach (Types types in Enum.GetValues<Types>())
                    {
                        data.Add(engine.Path, layout, types);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryPlaceOfTheCacheIsTheSpecifiedResult(RopePath path, RopeLayout layout, CacheKind cache, Types types, int dims) =>
        ForTypes(types, new Scenario(RopeEngine.Get(path), layout, cache, Dims[dims], Weighting.None));

    [Theory]
    [MemberData(nameof(NormCases))]
    public void NormalizedKeysAreTheSpecifiedResult(RopePath path, RopeLayout layout, Types types, int dims, Weighting weighting) =>
        ForTypes(types, new Scenario(RopeEngine.Get(path), layout, (CacheKind)(dims % 3), Dims[dims], weighting));

    [Theory]
    [MemberData(nameof(PackedCases))]
    public void PackedQkvGivesTheBitsOfSeparateTensors(RopePath path, RopeLayout layout, Types types) =>
        ForTypes(types, new Scenario(RopeEngine.Get(path), layout, CacheKind.Paged, Dims[1], Weighting.Weight, Packed: true));

    private static void ForTypes(Types types, Scenario scenario)
    {
        switch (types)
        {
            case Types.SingleToSingle:
                Check<float, float>(scenario, value => value, value => value, value => value);
                break;
            case Types.SingleToBFloat16:
                Check<float, BFloat16>(scenario, value => value, value => value, value => (BFloat16)value);
                break;
            case Types.BFloat16ToBFloat16:
                Check<BFloat16, BFloat16>(scenario, value => (BFloat16)value, value => value, value => (BFloat16)value);
                break;
            case Types.BFloat16ToSingle:
                Check<BFloat16, float>(scenario, value => (BFloat16)value, value => value, value => value);
                break;
            case Types.HalfToHalf:
                Check<Half, Half>(scenario, value => (Half)value, value => (float)value, value => (Half)value);
                break;
            default:
                Check<BFloat16, Half>(scenario, value => (BFloat16)value, value => value, value => (Half)value);
                break;
        }
    }

    [Theory]
    [InlineData(Weighting.None, false)]
    [InlineData(Weighting.Weight, false)]
    [InlineData(Weighting.None, true)]
    [InlineData(Weighting.OnePlusWeight, true)]
    public void LongBatchesAndKeysAloneGiveTheBitsOfSeparateCalls(Weighting weighting, bool withoutQueries)
    {
        // Enough tokens that the call goes in several chunks, some across the end of a sequence; or keys alone.
        const int batch = 2, tokens = 300, headDim = 48, capacity = 320, start = 7;
        var random = new Random(41);
        var table = RopeTable.Create(RotaryDim, 512);
        var queryShape = RopeShape.Bshd(batch, tokens, withoutQueries ? 0 : QueryHeads, headDim);
        var keyShape = RopeShape.Bshd(batch, tokens, KvHeads, headDim);
        float[] queries = [.. Enumerable.Range(0, queryShape.RequiredLength).Select(_ => 4 * random.NextSingle() - 2)];
        float[] keys = [.. Enumerable.Range(0, keyShape.RequiredLength).Select(_ => 4 * random.NextSingle() - 2)];
        float[] values = [.. Enumerable.Range(0, keyShape.RequiredLength).Select(_ => 4 * random.NextSingle() - 2)];
        float[] weights = [.. Enumerable.Range(0, headDim).Select(_ => 0.5f + random.NextSingle())];
        RopeHeadNorm Norm() => SpecifiedNorm.For(weighting, weights, Epsilon);
        int[] starts = [start, start + 2];
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            var keyCache = new BFloat16[batch * capacity * KvHeads * headDim];
            var valueCache = new BFloat16[keyCache.Length];
            float[] actualQueries = [.. queries];
            engine.ApplyAndAppend(table, actualQueries.AsSpan(), queryShape, Norm(), keys, values, keyShape, Norm(),
                RopeKvCache<BFloat16>.PositionMajor(keyCache, valueCache, batch, capacity, KvHeads, headDim), RopePositions.Sequential(starts),
                RopeLayout.HalfSplit);

            // The same by separate calls: the norm and rotation of queries and keys, then each token's keys and values converted into place.
            float[] expectedQueries = [.. queries], rotatedKeys = [.. keys];
            engine.ApplyWithNorm(table, expectedQueries.AsSpan(), queryShape, Norm(), rotatedKeys.AsSpan(), keyShape, Norm(), RopePositions.Sequential(starts),
                RopeLayout.HalfSplit);
            var expectedKeys = new BFloat16[keyCache.Length];
            var expectedValues = new BFloat16[keyCache.Length];
            int run = KvHeads * headDim;
            for (int sequence = 0; sequence < batch; sequence++)
            {
                for (int token = 0; token < tokens; token++)
                {
                    int source = (sequence * tokens + token) * run, place = (sequence * capacity + start + 2 * sequence + token) * run;
                    engine.ConvertToBFloat16(rotatedKeys.AsSpan(source, run), expectedKeys.AsSpan(place, run));
                    engine.ConvertToBFloat16(values.AsSpan(source, run), expectedValues.AsSpan(place, run));
                }
            }

            Assert.Equal(Bits(expectedQueries), Bits(actualQueries));
            Assert.Equal(Bits(expectedKeys), Bits(keyCache));
            Assert.Equal(Bits(expectedValues), Bits(valueCache));
        }
    }

    public static TheoryData<RopePath, RopeLayout, int> PathsLayoutsAndHeadStridePaddings
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, int>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    data.Add(engine.Path, layout, 0);
                    data.Add(engine.Path, layout, 6);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(PathsLayoutsAndHeadStridePaddings))]
    public void Float32KeysGetApplysBitsRoundedOnceWhateverTheQueriesNormAndTheHeadsStride(RopePath path, RopeLayout layout, int headPadding)
    {
        // Keys without a norm beside normalized queries, heads adjacent or apart: every cache place is Apply's result
        // converted by the span conversion, for spans of whole register blocks and of none, on every cache type. Enough
        // elements that a rotation whose float32 bits differ by one unit also differs after rounding to 16 bits.
        const int Batch = 2, Tokens = 64, KvHeads = 4, Capacity = 64;
        RopeEngine engine = RopeEngine.Get(path);
        foreach ((int headDim, int rotaryDim) in (ReadOnlySpan<(int, int)>)[(8, 8), (48, 32), (80, 80), (128, 128), (256, 256)])
        {
            var random = new Random(headDim + headPadding);
            var table = RopeTable.Create(rotaryDim, 64);
            var queryShape = RopeShape.Bshd(Batch, Tokens, QueryHeads, headDim);
            var keyShape = new RopeShape(Batch, Tokens, KvHeads, headDim, Tokens * KvHeads * (headDim + headPadding), KvHeads * (headDim + headPadding),
                headDim + headPadding);
            float[] queries = [.. Enumerable.Range(0, queryShape.RequiredLength).Select(_ => 4 * random.NextSingle() - 2)];
            float[] keys = [.. Enumerable.Range(0, keyShape.RequiredLength).Select(_ => 4 * random.NextSingle() - 2)];
            float[] values = [.. Enumerable.Range(0, keyShape.RequiredLength).Select(_ => 4 * random.NextSingle() - 2)];
            float[] weights = [.. Enumerable.Range(0, headDim).Select(_ => 0.5f + random.NextSingle())];
            int[] positions = [.. Enumerable.Range(0, Batch).SelectMany(_ => Enumerable.Range(0, Capacity).OrderBy(_ => random.Next()).Take(Tokens))];
            float[] rotatedKeys = [.. keys];
            engine.Apply(table, rotatedKeys.AsSpan(), keyShape, positions, layout);

            CheckCache<float>(Capacity, engine, table, queries, queryShape, weights, keys, values, keyShape, positions, layout, rotatedKeys, (from, to) => from.CopyTo(to));
            CheckCache<Half>(Capacity, engine, table, queries, queryShape, weights, keys, values, keyShape, positions, layout, rotatedKeys, engine.ConvertToHalf);
            CheckCache<BFloat16>(Capacity, engine, table, queries, queryShape, weights, keys, values, keyShape, positions, layout, rotatedKeys, engine.ConvertToBFloat16);
        }

        static void CheckCache<TCache>(int capacity, RopeEngine engine, RopeTable table, float[] queries, RopeShape queryShape, float[] weights, float[] keys,
            float[] values, RopeShape keyShape, int[] positions, RopeLayout layout, float[] rotatedKeys, SpanConversion<TCache> convert)
            where TCache : unmanaged
        {
            int batch = keyShape.Batch, tokens = keyShape.Tokens, kvHeads = keyShape.Heads, headDim = keyShape.HeadDim;
            int length = batch * capacity * kvHeads * headDim;
            var keyCache = new TCache[length];
            var valueCache = new TCache[length];
            MemoryMarshal.AsBytes(keyCache.AsSpan()).Fill(0x7C);
            MemoryMarshal.AsBytes(valueCache.AsSpan()).Fill(0x7C);
            TCache[] expectedKeys = [.. keyCache], expectedValues = [.. valueCache];
            float[] actualQueries = [.. queries], expectedQueries = [.. queries];
            engine.ApplyAndAppend(table, actualQueries.AsSpan(), queryShape, RopeHeadNorm.Rms(weights, Epsilon), keys, values, keyShape, RopeHeadNorm.None,
                RopeKvCache<TCache>.PositionMajor(keyCache, valueCache, batch, capacity, kvHeads, headDim), positions, layout);
            engine.ApplyWithNorm(table, expectedQueries.AsSpan(), queryShape, RopeHeadNorm.Rms(weights, Epsilon), positions, layout);
            for (int sequence = 0; sequence < batch; sequence++)
            {
                for (int token = 0; token < tokens; token++)
                {
                    for (int head = 0; head < kvHeads; head++)
                    {
                        int source = sequence * keyShape.BatchStride + token * keyShape.TokenStride + head * keyShape.HeadStride;
                        int place = ((sequence * capacity + positions[sequence * tokens + token]) * kvHeads + head) * headDim;
                        convert(rotatedKeys.AsSpan(source, headDim), expectedKeys.AsSpan(place, headDim));
                        convert(values.AsSpan(source, headDim), expectedValues.AsSpan(place, headDim));
                    }
                }
            }

            string context = $"{typeof(TCache).Name} cache, head dim {headDim}, head stride {keyShape.HeadStride}";
            Assert.True(Bits(expectedQueries).SequenceEqual(Bits(actualQueries)), $"queries: {context}");
            Assert.True(Bits(expectedKeys).SequenceEqual(Bits(keyCache)), $"keys: {context}");
            Assert.True(Bits(expectedValues).SequenceEqual(Bits(valueCache)), $"values: {context}");
        }
    }

    private delegate void SpanConversion<TCache>(ReadOnlySpan<float> source, Span<TCache> destination);

    [Fact]
    public void KeysAndValuesInsideACacheOfTheirTypeAreReadBeforeWritten()
    {
        // The token's keys and values lie in the caches' last positions of sequence 1, which the call does not write.
        var setup = new Setup<float, float>(CacheKind.PositionMajor, value => value, HeadDim, RotaryDim);
        float[] keyCache = [.. setup.KeyCache], valueCache = [.. setup.ValueCache];
        int length = setup.KeyShape.RequiredLength, start = keyCache.Length - length;
        setup.Keys.CopyTo(keyCache, start);
        setup.Values.CopyTo(valueCache, start);
        int[] positions = [.. setup.Positions.Select(position => position % 8)];
        float[] queries = [.. setup.Queries], expectedQueries = [.. setup.Queries];
        float[] expectedKeys = [.. keyCache], expectedValues = [.. valueCache];
        RopeEngine.Default.ApplyAndAppend(Table, expectedQueries.AsSpan(), setup.QueryShape, setup.Keys, setup.Values, setup.KeyShape,
            setup.Cache(expectedKeys, expectedValues), positions, RopeLayout.HalfSplit);
        RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape, keyCache.AsSpan(start, length), valueCache.AsSpan(start, length),
            setup.KeyShape, setup.Cache(keyCache, valueCache), positions, RopeLayout.HalfSplit);
        Assert.Equal(Bits(expectedKeys), Bits(keyCache));
        Assert.Equal(Bits(expectedValues), Bits(valueCache));
    }

    [Fact]
    public void KeysAndValuesAtTheirOwnPlacesInTheCacheAreRotatedThere()
    {
        // A projection that wrote each token's keys and values at its cache places: the append rotates the keys there.
        const int Tokens = 5, Heads = 2, HeadDim = 64, Capacity = 8, Start = 2;
        var random = new Random(3);
        var table = RopeTable.Create(HeadDim, Capacity);
        var shape = new RopeShape(Tokens, Heads, HeadDim);
        float[] keys = TestData.Activations(random, shape.RequiredLength), values = TestData.Activations(random, shape.RequiredLength);
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            float[] keyCache = new float[Capacity * Heads * HeadDim], valueCache = new float[keyCache.Length];
            keys.CopyTo(keyCache, Start * Heads * HeadDim);
            values.CopyTo(valueCache, Start * Heads * HeadDim);
            engine.ApplyAndAppend(table, Span<float>.Empty, new RopeShape(Tokens, 0, HeadDim), keyCache.AsSpan(Start * Heads * HeadDim, keys.Length),
                valueCache.AsSpan(Start * Heads * HeadDim, values.Length), shape, RopeKvCache<float>.PositionMajor(keyCache, valueCache, 1, Capacity, Heads, HeadDim),
                Start, RopeLayout.Interleaved);
            float[] expected = [.. keys];
            engine.Apply(table, expected, shape, Start, RopeLayout.Interleaved);
            Assert.Equal(expected, keyCache.AsSpan(Start * Heads * HeadDim, keys.Length).ToArray());
            Assert.Equal(values, valueCache.AsSpan(Start * Heads * HeadDim, values.Length).ToArray());
        }
    }

    [Fact]
    public void InputsAWriteCouldReachBeforeTheyAreReadAreRefused()
    {
        const int Tokens = 4, Heads = 2, HeadDim = 32, Capacity = 8;
        var table = RopeTable.Create(HeadDim, Capacity);
        var shape = new RopeShape(Tokens, Heads, HeadDim);
        int token = Heads * HeadDim;
        float[] keyCache = [.. Enumerable.Range(0, Capacity * token).Select(i => MathF.Sin(i))], valueCache = [.. keyCache.Select(x => -x)];
        float[] original = [.. keyCache], originalValues = [.. valueCache];
        float[] queries = [.. Enumerable.Range(0, 2 * shape.RequiredLength).Select(i => MathF.Cos(i))], originalQueries = [.. queries];
        RopeKvCache<float> Cache() => RopeKvCache<float>.PositionMajor(keyCache, valueCache, 1, Capacity, Heads, HeadDim);
        void Refused(string parameter, Action call)
        {
            ValidationTests.AssertThrowsNaming<ArgumentException>(parameter, call);
            Assert.Equal(original, keyCache);
            Assert.Equal(originalValues, valueCache);
            Assert.Equal(originalQueries, queries);
        }

        // Keys (or values) in the cache one position before their own places: token 0's write would land on token 1's keys.
        Refused("keys", () => RopeEngine.Default.ApplyAndAppend(table, Span<float>.Empty, new RopeShape(Tokens, 0, HeadDim), keyCache.AsSpan(0, shape.RequiredLength),
            new float[shape.RequiredLength], shape, Cache(), 1, RopeLayout.HalfSplit));
        Refused("values", () => RopeEngine.Default.ApplyAndAppend(table, Span<float>.Empty, new RopeShape(Tokens, 0, HeadDim), new float[shape.RequiredLength],
            valueCache.AsSpan(0, shape.RequiredLength), shape, Cache(), 1, RopeLayout.HalfSplit));
        // Values in the key cache at the token's own key place: its keys are written before its values are read.
        Refused("keys", () => RopeEngine.Default.ApplyAndAppend(table, Span<float>.Empty, new RopeShape(Tokens, 0, HeadDim), new float[shape.RequiredLength],
            keyCache.AsSpan(0, shape.RequiredLength), shape, Cache(), 0, RopeLayout.HalfSplit));

        // Read-only inputs inside what the call writes: norm weights, cos/sin rows, positions, a block table.
        Span<float> written = queries.AsSpan(0, shape.RequiredLength);
        Refused("norm", () => RopeEngine.Default.ApplyWithNorm(table, queries.AsSpan(0, shape.RequiredLength), shape,
            RopeHeadNorm.Rms(queries.AsSpan(HeadDim, HeadDim), 1e-6f), 0, RopeLayout.HalfSplit));
        Refused("keyNorm", () => RopeEngine.Default.ApplyAndAppend(table, queries.AsSpan(0, shape.RequiredLength), shape, RopeHeadNorm.None,
            new float[shape.RequiredLength], new float[shape.RequiredLength], shape, RopeHeadNorm.Rms(keyCache.AsSpan(HeadDim, HeadDim), 1e-6f), Cache(), 0,
            RopeLayout.HalfSplit));
        Refused("rows", () => RopeEngine.Default.Apply(RopeRows.Separate<float>(queries.AsSpan(0, Capacity * HeadDim / 2),
            queries.AsSpan(shape.RequiredLength, Capacity * HeadDim / 2), HeadDim), queries.AsSpan(0, shape.RequiredLength), shape, 0, RopeLayout.HalfSplit));
        Refused("rows", () => RopeEngine.Default.Apply<float>(RopeRows.Interleaved<float>(queries.AsSpan(0, Capacity * HeadDim), HeadDim),
            queries.AsSpan(shape.RequiredLength, shape.RequiredLength), queries.AsSpan(0, shape.RequiredLength), shape, 0, RopeLayout.HalfSplit));
        int[] positionsAndValues = new int[shape.RequiredLength];
        Refused("positions", () => RopeEngine.Default.Apply(table, System.Runtime.InteropServices.MemoryMarshal.Cast<int, float>(positionsAndValues.AsSpan()), shape,
            positionsAndValues.AsSpan(0, Tokens), RopeLayout.HalfSplit));
        int[] blockTable = [0, 1];
        float[] pagedKeys = new float[2 * 4 * token], pagedValues = new float[pagedKeys.Length];
        Span<int> tableInCache = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(pagedKeys.AsSpan(0, 2));
        blockTable.CopyTo(tableInCache);
        ValidationTests.AssertThrowsNaming<ArgumentException>("cache", () => RopeEngine.Default.ApplyAndAppend(table, Span<float>.Empty,
            new RopeShape(Tokens, 0, HeadDim), new float[shape.RequiredLength], new float[shape.RequiredLength], shape,
            RopeKvCache<float>.Paged(pagedKeys, pagedValues, 4, Heads, HeadDim, System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(pagedKeys.AsSpan(0, 2)), 2), 0,
            RopeLayout.HalfSplit));
        Assert.Equal(blockTable, tableInCache.ToArray());
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnythingIsWritten()
    {
        var setup = new Setup<float, float>(CacheKind.Paged, value => value);
        float[] queries = [.. setup.Queries];
        float[] keyCache = [.. setup.KeyCache], valueCache = [.. setup.ValueCache];
        void Assert<TException>(string parameter, Action call)
            where TException : ArgumentException
        {
            var error = Xunit.Assert.Throws<TException>(call);
            Xunit.Assert.Equal(parameter, error.ParamName);
            Xunit.Assert.Equal(setup.Queries, queries);
            Xunit.Assert.Equal(setup.KeyCache, keyCache);
            Xunit.Assert.Equal(setup.ValueCache, valueCache);
        }

        RopeKvCache<float> Paged(int[] table) => RopeKvCache<float>.Paged(keyCache, valueCache, BlockSize, KvHeads, HeadDim, table, Capacity / BlockSize);

        // A position past the cache's capacity, and a block-table entry that names no block.
        int[] beyond = [.. setup.Positions];
        beyond[4] = Capacity;
        Assert<ArgumentOutOfRangeException>("positions", () => RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape, setup.Keys,
            setup.Values, setup.KeyShape, Paged(setup.BlockTable), beyond, RopeLayout.HalfSplit));
        int[] badTable = [.. setup.BlockTable];
        for (int i = 0; i < badTable.Length; i++)
        {
            badTable[i] = 99;
        }

        Assert<ArgumentException>("cache", () => RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape, setup.Keys, setup.Values,
            setup.KeyShape, Paged(badTable), setup.Positions, RopeLayout.HalfSplit));

        // Short queries, keys and values, each named as itself.
        Assert<ArgumentException>("queries", () => RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(0, setup.QueryShape.RequiredLength - 1),
            setup.QueryShape, setup.Keys, setup.Values, setup.KeyShape, Paged(setup.BlockTable), setup.Positions, RopeLayout.HalfSplit));
        Assert<ArgumentException>("keys", () => RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape,
            setup.Keys.AsSpan(0, setup.KeyShape.RequiredLength - 1), setup.Values, setup.KeyShape, Paged(setup.BlockTable), setup.Positions,
            RopeLayout.HalfSplit));
        Assert<ArgumentException>("values", () => RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape, setup.Keys,
            setup.Values.AsSpan(0, setup.KeyShape.RequiredLength - 1), setup.KeyShape, Paged(setup.BlockTable), setup.Positions, RopeLayout.HalfSplit));

        // Heads that do not match the cache, and queries inside the cache.
        var wrongHeads = RopeShape.Bshd(Batch, Tokens, KvHeads + 1, HeadDim);
        float[] wide = new float[wrongHeads.RequiredLength];
        Assert<ArgumentException>("cache", () => RopeEngine.Default.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape, wide, wide, wrongHeads,
            Paged(setup.BlockTable), setup.Positions, RopeLayout.HalfSplit));
        Xunit.Assert.Throws<ArgumentException>(() => RopeEngine.Default.ApplyAndAppend(Table, keyCache.AsSpan(0, setup.QueryShape.RequiredLength),
            setup.QueryShape, setup.Keys, setup.Values, setup.KeyShape, Paged(setup.BlockTable), setup.Positions, RopeLayout.HalfSplit));
        Xunit.Assert.Equal(setup.KeyCache, keyCache);

        // Caches too short for their shape, and a table that is not whole rows.
        Xunit.Assert.Throws<ArgumentException>(() => RopeKvCache<float>.PositionMajor(new float[10], new float[10], Batch, Capacity, KvHeads, HeadDim));
        Xunit.Assert.Throws<ArgumentException>(() => RopeKvCache<float>.Paged(keyCache, valueCache, BlockSize, KvHeads, HeadDim, [0, 1, 2], 2));
    }

    [Fact]
    public void CacheSizesAreCheckedWithoutWrapping()
    {
        // 2^16 of each count: 2^64 elements, which wraps to 0 in 64 bits; a block of 2^64 elements likewise.
        float[] small = new float[16];
        ValidationTests.AssertThrowsNaming<ArgumentException>("keys", () => RopeKvCache<float>.PositionMajor(small, small, 1 << 16, 1 << 16, 1 << 16, 1 << 16));
        ValidationTests.AssertThrowsNaming<ArgumentException>("keys", () => RopeKvCache<float>.HeadMajor(small, small, 1 << 16, 1 << 16, 1 << 16, 1 << 16));
        ValidationTests.AssertThrowsNaming<ArgumentException>("keyBlocks", () => RopeKvCache<float>.Paged(small, small, 1 << 20, 1 << 20, 1 << 24, [0], 1));
        ValidationTests.AssertThrowsNaming<ArgumentException>("keyBlocks", () => RopeKvCache<float>.Paged(small, small, int.MaxValue, int.MaxValue, 1 << 30, [0], 1));
    }

    [Fact]
    public unsafe void CachesOfMoreThan2GiBAreWrittenTo()
    {
        // 2.4 GB of float32 in each cache, reserved and touched only at the one position written: the checks of what
        // lies apart count bytes in 64 bits (a byte span of such a cache overflowed).
        const int Length = 600_000_000, TokenLength = KvHeads * HeadDim;
        void* keys = NativeMemory.Alloc(Length, sizeof(float)), values = NativeMemory.Alloc(Length, sizeof(float));
        try
        {
            var cache = RopeKvCache<float>.PositionMajor(new Span<float>(keys, Length), new Span<float>(values, Length), 1, Length / TokenLength, KvHeads, HeadDim);
            float[] queries = new float[QueryHeads * HeadDim], keySource = new float[TokenLength], valueSource = new float[TokenLength];
            new Random(5).NextBytes(MemoryMarshal.AsBytes(valueSource.AsSpan()));
            RopeEngine.Default.ApplyAndAppend<float, float>(Table, queries, new RopeShape(1, QueryHeads, HeadDim), keySource, valueSource,
                new RopeShape(1, KvHeads, HeadDim), cache, 5, RopeLayout.Interleaved);
            Xunit.Assert.True(new Span<float>(values, Length).Slice(5 * TokenLength, TokenLength).SequenceEqual(valueSource));
        }
        finally
        {
            NativeMemory.Free(keys);
            NativeMemory.Free(values);
        }
    }

    [Fact]
    public void BadPackedInputAndNormsAreRejectedBeforeAnythingIsWritten()
    {
        var setup = new Setup<float, float>(CacheKind.PositionMajor, value => value);
        var packing = new RopePackedQkv(Batch, Tokens, QueryHeads, KvHeads, HeadDim);
        float[] qkv = [.. Enumerable.Range(0, packing.RequiredLength).Select(i => (float)Math.Sin(i))], original = [.. qkv];
        float[] keyCache = [.. setup.KeyCache], valueCache = [.. setup.ValueCache];
        RopeKvCache<float> Cache() => setup.Cache(keyCache, valueCache);
        void Assert(string parameter, Action call)
        {
            var error = Xunit.Assert.ThrowsAny<ArgumentException>(call);
            Xunit.Assert.Equal(parameter, error.ParamName);
            Xunit.Assert.Equal(original, qkv);
            Xunit.Assert.Equal(setup.KeyCache, keyCache);
            Xunit.Assert.Equal(setup.ValueCache, valueCache);
        }

        float[] weights = new float[HeadDim], shortWeights = new float[HeadDim - 2];
        RopeHeadNorm Norm() => RopeHeadNorm.Rms(weights, Epsilon);
        RopeHeadNorm ShortNorm() => RopeHeadNorm.Rms(shortWeights, Epsilon);
        Assert("qkv", () => RopeEngine.Default.ApplyAndAppend(Table, qkv.AsSpan(0, qkv.Length - 1), packing, Norm(), Norm(), Cache(), setup.Positions,
            RopeLayout.HalfSplit));
        Assert("packing", () => RopeEngine.Default.ApplyAndAppend(Table, qkv.AsSpan(), default, Norm(), Norm(), Cache(), setup.Positions, RopeLayout.HalfSplit));
        Assert("keyNorm", () => RopeEngine.Default.ApplyAndAppend(Table, qkv.AsSpan(), packing, Norm(), ShortNorm(), Cache(), setup.Positions,
            RopeLayout.HalfSplit));
        Assert("queryNorm", () => RopeEngine.Default.ApplyWithNorm(Table, qkv.AsSpan(), packing, ShortNorm(), Norm(), setup.Positions, RopeLayout.HalfSplit));
        Xunit.Assert.Throws<ArgumentOutOfRangeException>(() => new RopePackedQkv(Tokens, 0, KvHeads, HeadDim));
        Xunit.Assert.Throws<ArgumentOutOfRangeException>(() => new RopePackedQkv(Tokens, QueryHeads, KvHeads, 7));
        Xunit.Assert.Throws<ArgumentException>(() => new RopePackedQkv(1 << 20, 64, 8, 128));
    }

    private static void Check<TElement, TCache>(Scenario scenario, Func<float, TElement> toElement, Func<TElement, float> widen, Func<float, TCache> toCache)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        (RopeEngine engine, RopeLayout layout, CacheKind kind, (int headDim, int rotaryDim), Weighting weighting, bool packed) = scenario;
        var setup = new Setup<TElement, TCache>(kind, toElement, headDim, rotaryDim);
        RopeTable table = setup.Table;
        var random = new Random(headDim + rotaryDim);
        float[] queryWeights = [.. Enumerable.Range(0, headDim).Select(_ => 0.5f + random.NextSingle())];
        float[] keyWeights = [.. Enumerable.Range(0, headDim).Select(_ => 0.5f + random.NextSingle())];
        RopeHeadNorm queryNorm = SpecifiedNorm.For(weighting, queryWeights, Epsilon), keyNorm = SpecifiedNorm.For(weighting, keyWeights, Epsilon);
        TElement[] queries = [.. setup.Queries];
        TCache[] keyCache = [.. setup.KeyCache], valueCache = [.. setup.ValueCache];
        if (packed)
        {
            // The same tensors as rows of one projection output: [q heads | k heads | v heads] per token.
            var packing = new RopePackedQkv(Batch, Tokens, QueryHeads, KvHeads, headDim);
            TElement[] qkv = new TElement[packing.RequiredLength];
            for (int token = 0; token < Batch * Tokens; token++)
            {
                int row = token * packing.RowLength, queryLength = QueryHeads * headDim, keyLength = KvHeads * headDim;
                setup.Queries.AsSpan(token * queryLength, queryLength).CopyTo(qkv.AsSpan(row));
                setup.Keys.AsSpan(token * keyLength, keyLength).CopyTo(qkv.AsSpan(row + packing.KeyOffset));
                setup.Values.AsSpan(token * keyLength, keyLength).CopyTo(qkv.AsSpan(row + packing.ValueOffset));
            }

            TElement[] original = [.. qkv];
            engine.ApplyAndAppend(table, qkv.AsSpan(), packing, queryNorm, keyNorm, setup.Cache(keyCache, valueCache), setup.Positions, layout);
            for (int token = 0; token < Batch * Tokens; token++)
            {
                int row = token * packing.RowLength, queryLength = QueryHeads * headDim;
                qkv.AsSpan(row, queryLength).CopyTo(queries.AsSpan(token * queryLength));
                // Keys and values are read, not written.
                Assert.Equal(Bits(original.AsSpan(row + packing.KeyOffset, 2 * KvHeads * headDim).ToArray()),
                    Bits(qkv.AsSpan(row + packing.KeyOffset, 2 * KvHeads * headDim).ToArray()));
            }
        }
        else
        {
            engine.ApplyAndAppend(table, queries.AsSpan(), setup.QueryShape, queryNorm, setup.Keys, setup.Values, setup.KeyShape, keyNorm,
                setup.Cache(keyCache, valueCache), setup.Positions, layout);
        }

        // Queries: exactly ApplyWithNorm (Apply without a norm).
        TElement[] expectedQueries = [.. setup.Queries];
        engine.ApplyWithNorm(table, expectedQueries.AsSpan(), setup.QueryShape, queryNorm, setup.Positions, layout);
        Assert.Equal(Bits(expectedQueries), Bits(queries));

        // Keys widened, normalized, rotated as specified (float32 keys, or any keys into a float32 cache: as Apply rotates
        // float32; 16-bit keys into a 16-bit cache: each product and sum rounded); values converted; then placed.
        float[] widened = SpecifiedNorm.Normalized([.. setup.Keys.Select(widen)], headDim, weighting, keyWeights, Epsilon);
        float[] rotated;
        if (typeof(TElement) == typeof(float) || typeof(TCache) == typeof(float))
        {
            rotated = [.. widened];
            engine.Apply(table, rotated.AsSpan(), setup.KeyShape, setup.Positions, layout);
        }
        else
        {
            rotated = RotatedRoundedTwice(table, widened, headDim, setup.Positions, layout);
        }

        TCache[] expectedKeys = [.. setup.KeyCache], expectedValues = [.. setup.ValueCache];
        for (int sequence = 0; sequence < Batch; sequence++)
        {
            for (int token = 0; token < Tokens; token++)
            {
                int position = setup.Positions[sequence * Tokens + token];
                for (int head = 0; head < KvHeads; head++)
                {
                    int source = ((sequence * Tokens + token) * KvHeads + head) * headDim, place = setup.Place(sequence, position, head);
                    for (int i = 0; i < headDim; i++)
                    {
                        expectedKeys[place + i] = toCache(rotated[source + i]);
                        expectedValues[place + i] = toCache(widen(setup.Values[source + i]));
                    }
                }
            }
        }

        Assert.Equal(Bits(expectedKeys), Bits(keyCache));
        Assert.Equal(Bits(expectedValues), Bits(valueCache));
    }

    /// <summary>Rotation by the table's rows with each product and sum rounded to float32, packed [batch·tokens][heads][headDim].</summary>
    private static float[] RotatedRoundedTwice(RopeTable table, float[] values, int headDim, int[] positions, RopeLayout layout)
    {
        float[] result = [.. values];
        int rotaryDim = table.RotaryDim, pairs = rotaryDim / 2;
        for (int token = 0; token < positions.Length; token++)
        {
            ReadOnlySpan<float> row = table.Rows.Slice(positions[token] * rotaryDim, rotaryDim);
            for (int head = 0; head < KvHeads; head++)
            {
                int start = (token * KvHeads + head) * headDim;
                for (int pair = 0; pair < pairs; pair++)
                {
                    int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                    int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                    float a = values[first], b = values[second], cos = row[2 * pair], sin = row[2 * pair + 1];
                    result[first] = (a * cos) - (b * sin);
                    result[second] = (a * sin) + (b * cos);
                }
            }
        }

        return result;
    }

    /// <summary>One case: the engine, layout, cache, head and rotary dims, the norm of both tensors, and whether they come as one packed buffer.</summary>
    private sealed record Scenario(RopeEngine Engine, RopeLayout Layout, CacheKind Cache, (int HeadDim, int RotaryDim) Dims, Weighting Weighting,
        bool Packed = false);

    private static byte[] Bits<T>(T[] values)
        where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>Activations, positions (distinct within a sequence), a canary-filled cache and where each position lives in it.</summary>
    private sealed class Setup<TElement, TCache>
        where TElement : unmanaged
        where TCache : unmanaged
    {
        private readonly CacheKind kind;
        private readonly int headDim;

        public Setup(CacheKind kind, Func<float, TElement> toElement, int headDim = HeadDim, int rotaryDim = RotaryDim)
        {
            this.kind = kind;
            this.headDim = headDim;
            var random = new Random(17 + (int)kind + headDim);
            Table = rotaryDim == RotaryDim ? KvAppendTests.Table : RopeTable.Create(rotaryDim, 64);
            QueryShape = RopeShape.Bshd(Batch, Tokens, QueryHeads, headDim);
            KeyShape = RopeShape.Bshd(Batch, Tokens, KvHeads, headDim);
            Queries = [.. Enumerable.Range(0, QueryShape.RequiredLength).Select(_ => toElement(4 * random.NextSingle() - 2))];
            Keys = [.. Enumerable.Range(0, KeyShape.RequiredLength).Select(_ => toElement(4 * random.NextSingle() - 2))];
            Values = [.. Enumerable.Range(0, KeyShape.RequiredLength).Select(_ => toElement(4 * random.NextSingle() - 2))];
            Positions = [.. Enumerable.Range(0, Batch).SelectMany(_ => Enumerable.Range(0, Capacity).OrderBy(_ => random.Next()).Take(Tokens))];
            // Paged: 2·Capacity/BlockSize blocks, each sequence's table a shuffle of them.
            int blocks = Batch * Capacity / BlockSize;
            BlockTable = [.. Enumerable.Range(0, blocks).OrderBy(_ => random.Next())];
            int length = kind == CacheKind.Paged ? blocks * BlockSize * KvHeads * headDim : Batch * Capacity * KvHeads * headDim;
            KeyCache = new TCache[length];
            ValueCache = new TCache[length];
            MemoryMarshal.AsBytes(KeyCache.AsSpan()).Fill(0x5A);
            MemoryMarshal.AsBytes(ValueCache.AsSpan()).Fill(0xA5);
        }

        public RopeTable Table { get; }

        public RopeShape QueryShape { get; }

        public RopeShape KeyShape { get; }

        public TElement[] Queries { get; }

        public TElement[] Keys { get; }

        public TElement[] Values { get; }

        public int[] Positions { get; }

        public int[] BlockTable { get; }

        public TCache[] KeyCache { get; }

        public TCache[] ValueCache { get; }

        public RopeKvCache<TCache> Cache(TCache[] keys, TCache[] values) => kind switch
        {
            CacheKind.PositionMajor => RopeKvCache<TCache>.PositionMajor(keys, values, Batch, Capacity, KvHeads, headDim),
            CacheKind.HeadMajor => RopeKvCache<TCache>.HeadMajor(keys, values, Batch, KvHeads, Capacity, headDim),
            _ => RopeKvCache<TCache>.Paged(keys, values, BlockSize, KvHeads, headDim, BlockTable, Capacity / BlockSize),
        };

        /// <summary>Where head <paramref name="head"/> of <paramref name="position"/> of <paramref name="sequence"/> starts, written out per layout.</summary>
        public int Place(int sequence, int position, int head) => kind switch
        {
            CacheKind.PositionMajor => ((sequence * Capacity + position) * KvHeads + head) * headDim,
            CacheKind.HeadMajor => ((sequence * KvHeads + head) * Capacity + position) * headDim,
            _ => ((BlockTable[sequence * (Capacity / BlockSize) + position / BlockSize] * BlockSize + position % BlockSize) * KvHeads + head) * headDim,
        };
    }
}
