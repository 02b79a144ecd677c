using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Every path against the double reference over sizes, layouts, strides, offsets and positions.</summary>
public class RotationTests
{
    private const int HighPositionBase = RandomCase.HighPositionBase;

    public static readonly int[] RotaryDims =
        [.. Enumerable.Range(1, 40).Select(pairs => pairs * 2), 96, 120, 128, 136, 250, 256, 512];

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void EveryRotaryDimAroundVectorWidthsMatchesReference(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(17);
        foreach (int rotaryDim in RotaryDims)
        {
            var table = RopeTable.Create(RopeFrequencies.Create(rotaryDim), HighPositionBase, 64);
            foreach (int extra in (ReadOnlySpan<int>)[0, 6])
            {
                foreach (bool inverse in (ReadOnlySpan<bool>)[false, true])
                {
                    int headDim = rotaryDim + extra, tokens = 3, heads = 2;
                    int[] positions = [HighPositionBase, HighPositionBase + 63, HighPositionBase + 7];
                    float[] input = TestData.Activations(random, tokens * heads * headDim);
                    float[] actual = (float[])input.Clone();
                    engine.Apply(table, actual, new RopeShape(tokens, heads, headDim), positions, layout, inverse);
                    double[] expected = RotationOracle.Expected(input, heads, headDim, positions, table, layout, inverse);
                    RotationOracle.AssertClose(input, actual, expected, headDim, rotaryDim, layout,
                        $"{path} {layout} rotary {rotaryDim} head {headDim} inverse {inverse}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void RandomShapesStridesOffsetsAndGqaMatchReference(RopePath path)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(2026 + (int)path);
        for (int trial = 0; trial < 150; trial++)
        {
            RandomCase problem = RandomCase.Next(random);
            (int rotaryDim, int headDim, int tokens, int queryHeads, int keyHeads, RopeLayout layout, bool inverse, bool outOfPlace,
                _, RopeTable table, int[] positions) = problem;
            RopePositions ropePositions = problem.RopePositions;

            var querySource = StridedTensor.Create(TestData.Activations(random, tokens * queryHeads * headDim),
                StridedTensor.RandomShape(random, tokens, queryHeads, headDim), random.Next(16));
            var keySource = StridedTensor.Create(TestData.Activations(random, tokens * keyHeads * headDim),
                StridedTensor.RandomShape(random, tokens, keyHeads, headDim), random.Next(16));
            float[] queryInput = querySource.Gather(), keyInput = keySource.Gather();
            string context = $"{path} trial {trial}: {problem} q {querySource.Shape} k {keySource.Shape}";

            StridedTensor<float> queryResult = querySource, keyResult = keySource;
            if (outOfPlace)
            {
                queryResult = StridedTensor.Create(new float[queryInput.Length], querySource.Shape, random.Next(16));
                keyResult = StridedTensor.Create(new float[keyInput.Length], keySource.Shape, random.Next(16));
                engine.Apply(table, querySource.Span, queryResult.Span, querySource.Shape,
                    keySource.Span, keyResult.Span, keySource.Shape, ropePositions, layout, inverse);
                Assert.Equal(queryInput, querySource.Gather());
            }
            else
            {
                engine.Apply(table, querySource.Span, querySource.Shape, keySource.Span, keySource.Shape, ropePositions, layout, inverse);
            }

            queryResult.AssertCanariesIntact(context + " (queries)");
            keyResult.AssertCanariesIntact(context + " (keys)");
            RotationOracle.AssertClose(queryInput, queryResult.Gather(),
                RotationOracle.Expected(queryInput, queryHeads, headDim, positions, table, layout, inverse), headDim, rotaryDim, layout, context);
            RotationOracle.AssertClose(keyInput, keyResult.Gather(),
                RotationOracle.Expected(keyInput, keyHeads, headDim, positions, table, layout, inverse), headDim, rotaryDim, layout, context);
        }
    }

    /// <summary>
    /// Queries and keys out of place with partial rotary, for rotary dims that take the register-resident loops (whole
    /// blocks on every width) and one that does not: the same bits as in place, pass-through elements copied.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void QueriesAndKeysOutOfPlaceWithPassThroughEqualInPlace(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(6);
        foreach (int rotaryDim in (ReadOnlySpan<int>)[64, 128, 72])
        {
            var table = RopeTable.Create(rotaryDim, positionCount: 40);
            var queryShape = new RopeShape(tokens: 5, heads: 4, headDim: rotaryDim + 32);
            var keyShape = new RopeShape(tokens: 5, heads: 2, headDim: rotaryDim + 32);
            float[] queries = TestData.Activations(random, queryShape.RequiredLength), keys = TestData.Activations(random, keyShape.RequiredLength);
            float[] queriesInPlace = (float[])queries.Clone(), keysInPlace = (float[])keys.Clone();
            var queriesOut = new float[queries.Length];
            var keysOut = new float[keys.Length];

            engine.Apply(table, queriesInPlace, queryShape, keysInPlace, keyShape, 3, layout);
            engine.Apply(table, queries, queriesOut, queryShape, keys, keysOut, keyShape, 3, layout);

            Assert.Equal(queriesInPlace, queriesOut);
            Assert.Equal(keysInPlace, keysOut);
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void SingleTensorOutOfPlaceEqualsInPlaceBitForBit(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(5);
        var table = RopeTable.Create(rotaryDim: 64, positionCount: 300);
        var shape = new RopeShape(tokens: 9, heads: 4, headDim: 80);
        float[] input = TestData.Activations(random, shape.RequiredLength);
        float[] inPlace = (float[])input.Clone();
        var outOfPlace = new float[input.Length];

        engine.Apply(table, inPlace, shape, 250, layout);
        engine.Apply(table, input, outOfPlace, shape, 250, layout);

        Assert.Equal(inPlace, outOfPlace);
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void GqaInOneCallEqualsSeparateCalls(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(11);
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 64, @base: 500000);
        var queryShape = new RopeShape(tokens: 5, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 5, heads: 8, headDim: 128);
        float[] queries = TestData.Activations(random, queryShape.RequiredLength);
        float[] keys = TestData.Activations(random, keyShape.RequiredLength);
        float[] separateQueries = (float[])queries.Clone(), separateKeys = (float[])keys.Clone();

        engine.Apply(table, queries, queryShape, keys, keyShape, 40, layout);
        engine.Apply(table, separateQueries, queryShape, 40, layout);
        engine.Apply(table, separateKeys, keyShape, 40, layout);

        Assert.Equal(separateQueries, queries);
        Assert.Equal(separateKeys, keys);
    }
}
