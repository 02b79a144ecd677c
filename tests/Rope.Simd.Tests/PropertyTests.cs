using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Algebraic properties of rotation that hold on every path.</summary>
public class PropertyTests
{
    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void InverseUndoesRotation(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(3);
        var table = RopeTable.Create(RopeFrequencies.Create(96), (1 << 20) - 8, 16);
        var shape = new RopeShape(tokens: 7, heads: 3, headDim: 104);
        float[] input = TestData.Activations(random, shape.RequiredLength);
        float[] values = (float[])input.Clone();
        int[] positions = [.. Enumerable.Range(0, 7).Select(_ => table.FirstPosition + random.Next(16))];

        engine.Apply(table, values, shape, positions, layout);
        engine.Apply(table, values, shape, positions, layout, inverse: true);

        // Two rotations by angles that cancel: the identity is exact; the errors add up to (2 + 2√2)·2^-23·M at most.
        double[] identity = [.. input.Select(v => (double)v)];
        RotationOracle.AssertClose(input, values, identity, shape.HeadDim, 96, layout, $"{path} {layout} round trip", boundScale: 2.5);
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void RotatingByAThenByBEqualsRotatingByTheSum(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(4);
        var table = RopeTable.Create(rotaryDim: 64, positionCount: 5000);
        var shape = new RopeShape(tokens: 1, heads: 6, headDim: 64);
        float[] input = TestData.Activations(random, shape.RequiredLength);
        foreach ((int a, int b) in (ReadOnlySpan<(int, int)>)[(1, 2), (100, 7), (4000, 999), (0, 0)])
        {
            float[] twoSteps = (float[])input.Clone();
            engine.Apply(table, twoSteps, shape, a, layout);
            engine.Apply(table, twoSteps, shape, b, layout);
            double[] expected = RotationOracle.Expected(input, shape.Heads, shape.HeadDim, [a + b], table, layout, inverse: false);
            RotationOracle.AssertClose(input, twoSteps, expected, shape.HeadDim, 64, layout, $"{path} {layout} {a}+{b}", boundScale: 2.5);
        }
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void KeyShiftByDeltaMovesKeysToTheirNewPositions(RopePath path)
    {
        // Context shift: keys cached at positions 600.. are re-rotated by -500 to sit at 100...
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 1024);
        var shape = new RopeShape(tokens: 4, heads: 8, headDim: 128);
        float[] raw = TestData.Activations(new Random(6), shape.RequiredLength);
        float[] shifted = (float[])raw.Clone(), direct = (float[])raw.Clone();

        engine.Apply(table, shifted, shape, 600, RopeLayout.HalfSplit);
        engine.Apply(table, shifted, shape, Enumerable.Repeat(500, 4).ToArray(), RopeLayout.HalfSplit, inverse: true);
        engine.Apply(table, direct, shape, 100, RopeLayout.HalfSplit);

        double[] expected = RotationOracle.Expected(raw, shape.Heads, shape.HeadDim, [100, 101, 102, 103], table, RopeLayout.HalfSplit, false);
        RotationOracle.AssertClose(raw, shifted, expected, 128, 128, RopeLayout.HalfSplit, $"{path} K-shift", boundScale: 2.5);
        RotationOracle.AssertClose(raw, direct, expected, 128, 128, RopeLayout.HalfSplit, $"{path} direct");
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void NaNAndInfinityPropagateAsInTheReference(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 40, positionCount: 8);
        var shape = new RopeShape(tokens: 4, heads: 2, headDim: 40);
        float[] input = TestData.Activations(new Random(8), shape.RequiredLength);
        input[0] = float.NaN;
        input[3] = float.PositiveInfinity;
        input[25] = float.NegativeInfinity;
        input[41] = float.PositiveInfinity;
        input[120] = float.NaN;
        input[155] = float.MaxValue;
        int[] positions = [0, 1, 5, 7];
        float[] actual = (float[])input.Clone();

        engine.Apply(table, actual, shape, positions, layout);

        double[] expected = RotationOracle.Expected(input, shape.Heads, shape.HeadDim, positions, table, layout, false);
        Assert.Contains(expected, double.IsNaN);
        RotationOracle.AssertClose(input, actual, expected, 40, 40, layout, $"{path} {layout} special values");
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void RotationAllocatesNothing(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 96, positionCount: 64);
        var queryShape = new RopeShape(tokens: 4, heads: 4, headDim: 128);
        var keyShape = new RopeShape(tokens: 4, heads: 2, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];
        float[] output = new float[queryShape.RequiredLength];
        int[] positions = [3, 9, 27, 63];

        void RotateEveryWay()
        {
            engine.Apply(table, queries, queryShape, 10, layout);
            engine.Apply(table, queries, queryShape, keys, keyShape, positions, layout, inverse: true);
            engine.Apply(table, queries, output, queryShape, positions, layout);
        }

        Assert.Equal(0, Allocations.OfSteadyState(RotateEveryWay));
    }

    [Fact]
    public void OneTableUsedFromManyThreadsGivesIdenticalResults()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 2048, @base: 500000);
        var shape = new RopeShape(tokens: 64, heads: 8, headDim: 128);
        float[] input = TestData.Activations(new Random(9), shape.RequiredLength);
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            float[] single = (float[])input.Clone();
            engine.Apply(table, single, shape, 1000, RopeLayout.HalfSplit);

            var results = new float[8][];
            Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
            {
                for (int round = 0; round < 20; round++)
                {
                    float[] copy = (float[])input.Clone();
                    engine.Apply(table, copy, shape, 1000, RopeLayout.HalfSplit);
                    results[worker] = copy;
                }
            });

            Assert.All(results, result => Assert.Equal(single, result));
        }
    }
}
