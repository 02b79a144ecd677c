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
    private static readonly RopeTable Table = RopeTable.Create(RotaryDim, 64);

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

    public static TheoryData<RopePath, RopeLayout, CacheKind, Types> Cases
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, CacheKind, Types>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    foreach (CacheKind cache in Enum.GetValues<CacheKind>())
                    {
                        foreach (Types types in Enum.GetValues<Types>())
                        {
                            data.Add(engine.Path, layout, cache, types);
                        }
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryPlaceOfTheCacheIsTheSpecifiedResult(RopePath path, RopeLayout layout, CacheKind cache, Types types)
    {
        RopeEngine engine = RopeEngine.Get(path);
        switch (types)
        {
            case Types.SingleToSingle:
                Check<float, float>(engine, layout, cache, value => value, value => value, value => value);
                break;
            case Types.SingleToBFloat16:
                Check<float, BFloat16>(engine, layout, cache, value => value, value => value, value => (BFloat16)value);
                break;
            case Types.BFloat16ToBFloat16:
                Check<BFloat16, BFloat16>(engine, layout, cache, value => (BFloat16)value, value => value, value => (BFloat16)value);
                break;
            case Types.BFloat16ToSingle:
                Check<BFloat16, float>(engine, layout, cache, value => (BFloat16)value, value => value, value => value);
                break;
            case Types.HalfToHalf:
                Check<Half, Half>(engine, layout, cache, value => (Half)value, value => (float)value, value => (Half)value);
                break;
            default:
                Check<BFloat16, Half>(engine, layout, cache, value => (BFloat16)value, value => value, value => (Half)value);
                break;
        }
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

    private static void Check<TElement, TCache>(RopeEngine engine, RopeLayout layout, CacheKind kind, Func<float, TElement> toElement,
        Func<TElement, float> widen, Func<float, TCache> toCache)
        where TElement : unmanaged
        where TCache : unmanaged
    {
        var setup = new Setup<TElement, TCache>(kind, toElement);
        TElement[] queries = [.. setup.Queries];
        TCache[] keyCache = [.. setup.KeyCache], valueCache = [.. setup.ValueCache];
        engine.ApplyAndAppend(Table, queries.AsSpan(), setup.QueryShape, setup.Keys, setup.Values, setup.KeyShape, setup.Cache(keyCache, valueCache),
            setup.Positions, layout);

        // Queries: exactly Apply.
        TElement[] expectedQueries = [.. setup.Queries];
        engine.Apply(Table, expectedQueries.AsSpan(), setup.QueryShape, setup.Positions, layout);
        Assert.Equal(Bits(expectedQueries), Bits(queries));

        // Keys widened, rotated as specified for the cache's type; values converted; then placed.
        float[] widened = [.. setup.Keys.Select(widen)];
        float[] rotated;
        if (typeof(TCache) == typeof(float))
        {
            rotated = [.. widened];
            engine.Apply(Table, rotated.AsSpan(), setup.KeyShape, setup.Positions, layout);
        }
        else
        {
            rotated = RotatedRoundedTwice(widened, setup.Positions, layout);
        }

        TCache[] expectedKeys = [.. setup.KeyCache], expectedValues = [.. setup.ValueCache];
        for (int sequence = 0; sequence < Batch; sequence++)
        {
            for (int token = 0; token < Tokens; token++)
            {
                int position = setup.Positions[sequence * Tokens + token];
                for (int head = 0; head < KvHeads; head++)
                {
                    int source = ((sequence * Tokens + token) * KvHeads + head) * HeadDim, place = setup.Place(sequence, position, head);
                    for (int i = 0; i < HeadDim; i++)
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
    private static float[] RotatedRoundedTwice(float[] values, int[] positions, RopeLayout layout)
    {
        float[] result = [.. values];
        int pairs = RotaryDim / 2;
        for (int token = 0; token < positions.Length; token++)
        {
            ReadOnlySpan<float> row = Table.Rows.Slice(positions[token] * RotaryDim, RotaryDim);
            for (int head = 0; head < KvHeads; head++)
            {
                int start = (token * KvHeads + head) * HeadDim;
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

    private static byte[] Bits<T>(T[] values)
        where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>Activations, positions (distinct within a sequence), a canary-filled cache and where each position lives in it.</summary>
    private sealed class Setup<TElement, TCache>
        where TElement : unmanaged
        where TCache : unmanaged
    {
        private readonly CacheKind kind;

        public Setup(CacheKind kind, Func<float, TElement> toElement)
        {
            this.kind = kind;
            var random = new Random(17 + (int)kind);
            QueryShape = RopeShape.Bshd(Batch, Tokens, QueryHeads, HeadDim);
            KeyShape = RopeShape.Bshd(Batch, Tokens, KvHeads, HeadDim);
            Queries = [.. Enumerable.Range(0, QueryShape.RequiredLength).Select(_ => toElement(4 * random.NextSingle() - 2))];
            Keys = [.. Enumerable.Range(0, KeyShape.RequiredLength).Select(_ => toElement(4 * random.NextSingle() - 2))];
            Values = [.. Enumerable.Range(0, KeyShape.RequiredLength).Select(_ => toElement(4 * random.NextSingle() - 2))];
            Positions = [.. Enumerable.Range(0, Batch).SelectMany(_ => Enumerable.Range(0, Capacity).OrderBy(_ => random.Next()).Take(Tokens))];
            // Paged: 2·Capacity/BlockSize blocks, each sequence's table a shuffle of them.
            int blocks = Batch * Capacity / BlockSize;
            BlockTable = [.. Enumerable.Range(0, blocks).OrderBy(_ => random.Next())];
            int length = kind == CacheKind.Paged ? blocks * BlockSize * KvHeads * HeadDim : Batch * Capacity * KvHeads * HeadDim;
            KeyCache = new TCache[length];
            ValueCache = new TCache[length];
            MemoryMarshal.AsBytes(KeyCache.AsSpan()).Fill(0x5A);
            MemoryMarshal.AsBytes(ValueCache.AsSpan()).Fill(0xA5);
        }

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
            CacheKind.PositionMajor => RopeKvCache<TCache>.PositionMajor(keys, values, Batch, Capacity, KvHeads, HeadDim),
            CacheKind.HeadMajor => RopeKvCache<TCache>.HeadMajor(keys, values, Batch, KvHeads, Capacity, HeadDim),
            _ => RopeKvCache<TCache>.Paged(keys, values, BlockSize, KvHeads, HeadDim, BlockTable, Capacity / BlockSize),
        };

        /// <summary>Where head <paramref name="head"/> of <paramref name="position"/> of <paramref name="sequence"/> starts, written out per layout.</summary>
        public int Place(int sequence, int position, int head) => kind switch
        {
            CacheKind.PositionMajor => ((sequence * Capacity + position) * KvHeads + head) * HeadDim,
            CacheKind.HeadMajor => ((sequence * KvHeads + head) * Capacity + position) * HeadDim,
            _ => ((BlockTable[sequence * (Capacity / BlockSize) + position / BlockSize] * BlockSize + position % BlockSize) * KvHeads + head) * HeadDim,
        };
    }
}
