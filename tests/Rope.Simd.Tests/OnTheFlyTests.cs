using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Rotation from frequencies, rows computed per call: the same bits as rotation with a table of those frequencies
/// (so the table's accuracy guarantee carries over), on every path and element type, at any position up to 2^31 - 1.
/// </summary>
public class OnTheFlyTests
{
    [Theory]
    [MemberData(nameof(ElementKinds.SupportedPathsWithTypes), MemberType = typeof(ElementKinds))]
    public void ComputedRowsRotateLikeTheTableBitForBit(RopePath path, string type)
    {
        switch (type)
        {
            case nameof(Single): RandomCasesMatch<float>(path); break;
            case nameof(BFloat16): RandomCasesMatch<BFloat16>(path); break;
            default: RandomCasesMatch<Half>(path); break;
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void MultimodalPositionsAssembleComputedRows(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(RopeFrequencies.Create(128, 1000000), 0, 600);
        var shape = new RopeShape(tokens: 5, heads: 3, headDim: 136);
        float[] input = TestData.Activations(new Random(23), shape.RequiredLength);
        int[] temporal = [0, 4, 4, 4, 500], height = [0, 10, 11, 12, 500], width = [0, 20, 21, 599, 500];
        var positions = RopePositions.Multimodal(temporal, height, width, MropeSections.Interleaved(24, 20, 20));
        float[] fromTable = (float[])input.Clone(), computed = (float[])input.Clone();

        engine.Apply(table, fromTable, shape, positions, layout);
        engine.Apply(table.Frequencies, computed, shape, positions, layout);

        Assert.Equal(fromTable, computed);
    }

    [Fact]
    public void NegativePositionsAndNullFrequenciesAreRejected()
    {
        RopeFrequencies frequencies = RopeFrequencies.Create(64);
        var shape = new RopeShape(tokens: 2, heads: 1, headDim: 64);
        var values = new float[shape.RequiredLength];
        Assert.Equal("positions", Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.Apply(frequencies, values, shape, -1, RopeLayout.Interleaved)).ParamName);
        Assert.Equal("positions", Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.Apply(frequencies, values, shape, new[] { 3, -5 }, RopeLayout.Interleaved)).ParamName);
        Assert.Equal("positions", Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.Apply(frequencies, values, shape, int.MaxValue, RopeLayout.Interleaved)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => RopeEngine.Default.Apply(frequencies, new float[32], new RopeShape(1, 1, 32), 0, RopeLayout.Interleaved)).ParamName);
        Assert.Equal("frequencies", Assert.Throws<ArgumentNullException>(() => RopeEngine.Default.Apply((RopeFrequencies)null!, values, shape, 0, RopeLayout.Interleaved)).ParamName);
        Assert.All(values, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void ComputedRowsAllocateNothing()
    {
        RopeFrequencies frequencies = RopeFrequencies.Create(128, 500000);
        var queryShape = new RopeShape(tokens: 4, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 4, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];
        Assert.Equal(0, Allocations.OfSteadyState(
            () => RopeEngine.Default.Apply(frequencies, queries, queryShape, keys, keyShape, 100, RopeLayout.HalfSplit)));
    }

    private static void RandomCasesMatch<T>(RopePath path)
        where T : unmanaged
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(81 + (int)path);
        for (int trial = 0; trial < 40; trial++)
        {
            int rotaryDim = 2 * random.Next(1, 129), headDim = rotaryDim + 2 * random.Next(0, 3);
            RopeFrequencies frequencies = random.Next(3) == 0
                ? RopeScaling.Yarn(rotaryDim, 1000000, factor: 4, originalMaxPositionEmbeddings: 32768)
                : RopeFrequencies.Create(rotaryDim, random.Next(2) == 0 ? 10000 : 500000);
            // Near 0 or at the top of the position range, where the exact angle reduction matters.
            int first = random.Next(3) switch { 0 => 0, 1 => (1 << 20) - 40, _ => int.MaxValue - 47 };
            var table = RopeTable.Create(frequencies, first, 48);
            int tokens = random.Next(1, 7), queryHeads = random.Next(1, 6), keyHeads = random.Next(0, 3);
            var layout = (RopeLayout)random.Next(2);
            bool inverse = random.Next(2) == 0;
            RopeShape queryShape = StridedTensor.RandomShape(random, tokens, queryHeads, headDim);
            RopeShape keyShape = StridedTensor.RandomShape(random, tokens, keyHeads, headDim);
            int[] explicitPositions = [.. Enumerable.Range(0, tokens).Select(_ => first + random.Next(48))];
            RopePositions positions = random.Next(2) == 0 ? explicitPositions : RopePositions.Sequential(first + random.Next(48 - tokens));

            T[] queries = ElementKinds.Activations<T>(random, queryShape.RequiredLength), keys = ElementKinds.Activations<T>(random, keyShape.RequiredLength);
            T[] expectedQueries = (T[])queries.Clone(), expectedKeys = (T[])keys.Clone();
            ElementKinds.Apply<T>(engine, table, expectedQueries, queryShape, expectedKeys, keyShape, keyHeads > 0, positions, layout, inverse);
            ElementKinds.Apply<T>(engine, frequencies, queries, queryShape, keys, keyShape, keyHeads > 0, positions, layout, inverse);

            string context = $"{path} {typeof(T).Name} trial {trial}: first {first} tokens {tokens} heads {queryHeads}/{keyHeads} rotary {rotaryDim}/{headDim} {layout}";
            Assert.True(ElementKinds.SameBits(expectedQueries, queries), context);
            Assert.True(ElementKinds.SameBits(expectedKeys, keys), context);
        }
    }
}
