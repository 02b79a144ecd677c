using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Batched shapes (BSHD, BHSD, packed QKV with a batch) and per-sequence positions in one call: the same bits as one
/// call per sequence, on every path, for both layouts and for float32 and bfloat16.
/// </summary>
public class BatchTests
{
    private const int Batch = 3, Tokens = 7, HeadDim = 48, RotaryDim = 32, Positions = 64;

    private static readonly RopeTable Table = RopeTable.Create(RopeFrequencies.Create(RotaryDim, 10000), 0, Positions);

    public enum PositionForm
    {
        Sequential,
        SequenceStarts,
        ExplicitInt32,
        ExplicitInt64,
    }

    public static TheoryData<RopePath, RopeLayout, PositionForm> Cases
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, PositionForm>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    foreach (PositionForm form in Enum.GetValues<PositionForm>())
                    {
                        data.Add(engine.Path, layout, form);
                    }
                }
            }

            return data;
        }
    }

    private static readonly int[] Starts = [5, 0, 40];

    private static int[] PositionIds()
    {
        var random = new Random(19);
        return [.. Enumerable.Range(0, Batch * Tokens).Select(_ => random.Next(Positions))];
    }

    /// <summary>The positions of sequence <paramref name="sequence"/> alone, as one call per sequence takes them.</summary>
    private static int[] PositionsOf(PositionForm form, int sequence) => form switch
    {
        PositionForm.Sequential => [.. Enumerable.Range(10, Tokens)],
        PositionForm.SequenceStarts => [.. Enumerable.Range(Starts[sequence], Tokens)],
        _ => PositionIds().AsSpan(sequence * Tokens, Tokens).ToArray(),
    };

    private static RopePositions Batched(PositionForm form, long[] longIds, int[] ids) => form switch
    {
        PositionForm.Sequential => 10,
        PositionForm.SequenceStarts => RopePositions.Sequential(Starts),
        PositionForm.ExplicitInt32 => ids,
        _ => longIds,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BshdAndBhsdInOneCallMatchOneCallPerSequence(RopePath path, RopeLayout layout, PositionForm form)
    {
        RopeEngine engine = RopeEngine.Get(path);
        Check<float>(engine, layout, form, RopeShape.Bshd(Batch, Tokens, heads: 4, HeadDim), RopeShape.Bshd(Batch, Tokens, heads: 2, HeadDim));
        Check<float>(engine, layout, form, RopeShape.Bhsd(Batch, heads: 4, Tokens, HeadDim), RopeShape.Bhsd(Batch, heads: 2, Tokens, HeadDim));
        Check<BFloat16>(engine, layout, form, RopeShape.Bhsd(Batch, heads: 3, Tokens, HeadDim), RopeShape.Bshd(Batch, Tokens, heads: 1, HeadDim));
        // The parallel engine splits the batch's tokens over threads: the same bits.
        Check<float>(engine.WithParallelism(2, minElementsPerThread: 256), layout, form,
            RopeShape.Bshd(Batch, Tokens, heads: 4, HeadDim), RopeShape.Bshd(Batch, Tokens, heads: 2, HeadDim));
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void PackedQkvWithABatchRotatesQueriesAndKeysInPlace(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        const int QueryHeads = 4, KeyHeads = 2, Row = (QueryHeads + 2 * KeyHeads) * HeadDim;
        var queryShape = new RopeShape(Batch, Tokens, QueryHeads, HeadDim, batchStride: Tokens * Row, tokenStride: Row, headStride: HeadDim);
        var keyShape = new RopeShape(Batch, Tokens, KeyHeads, HeadDim, batchStride: Tokens * Row, tokenStride: Row, headStride: HeadDim);
        float[] qkv = TestData.Activations(new Random(23), Batch * Tokens * Row), expected = [.. qkv];
        int[] ids = PositionIds();

        Span<float> all = qkv;
        engine.Apply(Table, all, queryShape, all[(QueryHeads * HeadDim)..], keyShape, ids, layout);
        for (int sequence = 0; sequence < Batch; sequence++)
        {
            Span<float> one = expected.AsSpan(sequence * Tokens * Row);
            engine.Apply(Table, one, new RopeShape(Tokens, QueryHeads, HeadDim, Row, HeadDim), one[(QueryHeads * HeadDim)..],
                new RopeShape(Tokens, KeyHeads, HeadDim, Row, HeadDim), ids.AsSpan(sequence * Tokens, Tokens), layout);
        }

        Assert.Equal(expected, qkv);
    }

    private static void Check<TElement>(RopeEngine engine, RopeLayout layout, PositionForm form, RopeShape queryShape, RopeShape keyShape)
        where TElement : unmanaged
    {
        var random = new Random(HashCode.Combine(engine.Path, layout, form, queryShape));
        TElement[] queries = Values<TElement>(random, queryShape.RequiredLength), keys = Values<TElement>(random, keyShape.RequiredLength);
        TElement[] expectedQueries = [.. queries], expectedKeys = [.. keys];
        int[] ids = PositionIds();
        long[] longIds = [.. ids.Select(id => (long)id)];

        engine.Apply(Table, queries, queryShape, keys, keyShape, Batched(form, longIds, ids), layout);
        for (int sequence = 0; sequence < Batch; sequence++)
        {
            RopeShape oneQuery = new(Tokens, queryShape.Heads, HeadDim, queryShape.TokenStride, queryShape.HeadStride);
            RopeShape oneKey = new(Tokens, keyShape.Heads, HeadDim, keyShape.TokenStride, keyShape.HeadStride);
            engine.Apply(Table, expectedQueries.AsSpan(sequence * queryShape.BatchStride, oneQuery.RequiredLength), oneQuery,
                expectedKeys.AsSpan(sequence * keyShape.BatchStride, oneKey.RequiredLength), oneKey, PositionsOf(form, sequence), layout);
        }

        Assert.Equal(Bits(expectedQueries), Bits(queries));
        Assert.Equal(Bits(expectedKeys), Bits(keys));
    }

    private static TElement[] Values<TElement>(Random random, int length)
        where TElement : unmanaged
    {
        float[] values = TestData.Activations(random, length);
        return typeof(TElement) == typeof(float)
            ? (TElement[])(object)values
            : MemoryMarshal.Cast<ushort, TElement>(PackedElements.Round(PackedType.BFloat16, values)).ToArray();
    }

    private static byte[] Bits<TElement>(TElement[] values)
        where TElement : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Fact]
    public void BatchesAreCheckedBeforeAnythingIsWritten()
    {
        // A sequence's heads must fit in the batch stride.
        Assert.Equal("batchStride", Assert.Throws<ArgumentException>(() => new RopeShape(2, 4, 2, 8, batchStride: 60, tokenStride: 16, headStride: 8)).ParamName);
        var shape = RopeShape.Bshd(2, 4, 2, 8);
        Assert.Equal((2, 64, 128), (shape.Batch, shape.BatchStride, shape.RequiredLength));
        var bhsd = RopeShape.Bhsd(2, heads: 2, tokens: 4, headDim: 8);
        Assert.Equal((8, 32, 64), (bhsd.TokenStride, bhsd.HeadStride, bhsd.BatchStride));

        var table = RopeTable.Create(rotaryDim: 8, positionCount: 16);
        float[] values = [.. Enumerable.Repeat(1f, shape.RequiredLength)], keys = new float[RopeShape.Bshd(3, 4, 1, 8).RequiredLength];
        void Unchanged() => Assert.All(values, value => Assert.Equal(1f, value));

        Assert.Equal("keyShape", Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(table, values, shape, keys, RopeShape.Bshd(3, 4, 1, 8), 0, RopeLayout.HalfSplit)).ParamName);
        Assert.Equal("positions", Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(table, values, shape, new int[4], RopeLayout.HalfSplit)).ParamName);
        Assert.Equal("positions", Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(table, values, shape, RopePositions.Sequential([0, 1, 2]), RopeLayout.HalfSplit)).ParamName);
        Assert.Equal("positions", Assert.Throws<ArgumentOutOfRangeException>(
            () => RopeEngine.Default.Apply(table, values, shape, RopePositions.Sequential([0, 13]), RopeLayout.HalfSplit)).ParamName);
        Unchanged();

        // Keys inside the queries' sequences are refused, keys beside them in a packed row accepted.
        var packedQueries = new RopeShape(2, 4, 2, 8, batchStride: 4 * 32, tokenStride: 32, headStride: 8);
        var packedKeys = new RopeShape(2, 4, 1, 8, batchStride: 4 * 32, tokenStride: 32, headStride: 8);
        float[] qkv = new float[2 * 4 * 32];
        RopeEngine.Default.Apply(table, qkv, packedQueries, qkv.AsSpan(16), packedKeys, 0, RopeLayout.HalfSplit);
        Assert.Equal("keys", Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(table, qkv, packedQueries, qkv.AsSpan(8), packedKeys, 0, RopeLayout.HalfSplit)).ParamName);
    }
}
