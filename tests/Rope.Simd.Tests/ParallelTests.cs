using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Parallel engines: the same bits as their single-threaded path for every shape, split over tokens or, with few
/// tokens, over heads; thread-safe under concurrent calls; allocation-free once warm.
/// </summary>
public class ParallelTests
{
    [Theory]
    [MemberData(nameof(ElementKinds.SupportedPathsWithTypes), MemberType = typeof(ElementKinds))]
    public void ParallelRotationEqualsSingleThreadedBitForBit(RopePath path, string type)
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
    public void OutOfPlaceAndMultimodalSplitLikeInPlace(RopePath path, RopeLayout layout)
    {
        RopeEngine single = RopeEngine.Get(path), parallel = single.WithParallelism(3, minElementsPerThread: 64);
        var table = RopeTable.Create(RopeFrequencies.Create(64, 1000000), 0, 300);
        var queryShape = new RopeShape(tokens: 37, heads: 5, headDim: 72);
        var keyShape = new RopeShape(tokens: 37, heads: 2, headDim: 72, tokenStride: 72, headStride: 37 * 72 + 4);
        var random = new Random(71);
        float[] queries = TestData.Activations(random, queryShape.RequiredLength), keys = TestData.Activations(random, keyShape.RequiredLength);
        int[] temporal = [.. Enumerable.Range(0, 37).Select(_ => random.Next(300))];
        int[] height = [.. temporal.Select(p => (p * 7) % 300)], width = [.. temporal.Select(p => (p * 13) % 300)];
        var positions = RopePositions.Multimodal(temporal, height, width, MropeSections.Contiguous(8, 12, 12));

        float[] expectedQueries = new float[queries.Length], expectedKeys = new float[keys.Length];
        float[] actualQueries = new float[queries.Length], actualKeys = new float[keys.Length];
        single.Apply(table, queries, expectedQueries, queryShape, keys, expectedKeys, keyShape, positions, layout, inverse: true);
        parallel.Apply(table, queries, actualQueries, queryShape, keys, actualKeys, keyShape, positions, layout, inverse: true);

        Assert.Equal(expectedQueries, actualQueries);
        Assert.Equal(expectedKeys, actualKeys);
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void RotaryDimsBeyondTheStackScratchSplitLikeSmallOnes(RopePath path)
    {
        // Rotary dim 2200 rents its scratch from the array pool on every worker.
        RopeEngine single = RopeEngine.Get(path), parallel = single.WithParallelism(3, minElementsPerThread: 2048);
        var table = RopeTable.Create(2200, 64);
        var shape = new RopeShape(tokens: 9, heads: 3, headDim: 2204);
        float[] expected = TestData.Activations(new Random(91), shape.RequiredLength), actual = (float[])expected.Clone();

        single.Apply(table, expected, shape, 40, RopeLayout.Interleaved);
        parallel.Apply(table, actual, shape, 40, RopeLayout.Interleaved);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ConcurrentCallersOfOneParallelEngineEachGetTheirOwnResult()
    {
        RopeEngine parallel = RopeEngine.Default.WithParallelism(4, minElementsPerThread: 256);
        var table = RopeTable.Create(128, 4096);
        var shape = new RopeShape(tokens: 64, heads: 8, headDim: 128);

        Parallel.For(0, 8, caller =>
        {
            float[] input = TestData.Activations(new Random(caller), shape.RequiredLength);
            float[] expected = (float[])input.Clone();
            RopeEngine.Default.Apply(table, expected, shape, caller * 100, RopeLayout.HalfSplit);
            for (int repeat = 0; repeat < 20; repeat++)
            {
                float[] actual = (float[])input.Clone();
                parallel.Apply(table, actual, shape, caller * 100, RopeLayout.HalfSplit);
                Assert.Equal(expected, actual);
            }
        });
    }

    [Fact]
    public void DegreeAndThresholdAreReportedAndChecked()
    {
        RopeEngine parallel = RopeEngine.Default.WithParallelism(2);
        Assert.Equal(2, parallel.MaxDegreeOfParallelism);
        Assert.Equal(RopeEngine.DefaultMinElementsPerThread, parallel.MinElementsPerThread);
        Assert.Equal(RopeEngine.Default.Path, parallel.Path);
        Assert.Equal(1, RopeEngine.Default.MaxDegreeOfParallelism);
        Assert.Equal(5, parallel.WithParallelism(5, 100).MaxDegreeOfParallelism);
        Assert.Equal("maxDegreeOfParallelism", Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.WithParallelism(0)).ParamName);
        Assert.Equal("minElementsPerThread", Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.WithParallelism(2, 0)).ParamName);
    }

    [Fact]
    public void ParallelEngineValidatesLikeEveryEngine()
    {
        RopeEngine parallel = RopeEngine.Default.WithParallelism(2, minElementsPerThread: 1);
        var table = RopeTable.Create(64, 16);
        var shape = new RopeShape(tokens: 16, heads: 4, headDim: 64);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => parallel.Apply(table, new float[shape.RequiredLength - 1], shape, 0, RopeLayout.Interleaved)).ParamName);
        Assert.Equal("positions", Assert.Throws<ArgumentOutOfRangeException>(() => parallel.Apply(table, new float[shape.RequiredLength], shape, 1, RopeLayout.Interleaved)).ParamName);
    }

    private static void RandomCasesMatch<T>(RopePath path)
        where T : unmanaged
    {
        RopeEngine single = RopeEngine.Get(path);
        var random = new Random(61 + (int)path);
        for (int trial = 0; trial < 40; trial++)
        {
            RopeEngine parallel = single.WithParallelism(random.Next(2, 5), minElementsPerThread: random.Next(1, 3000));
            int rotaryDim = 2 * random.Next(1, 65), headDim = rotaryDim + 2 * random.Next(0, 3);
            // Few tokens with many heads split over heads; many tokens split over tokens.
            int tokens = random.Next(2) == 0 ? random.Next(1, 4) : random.Next(4, 60);
            int queryHeads = random.Next(1, 12), keyHeads = random.Next(0, 5);
            var layout = (RopeLayout)random.Next(2);
            bool inverse = random.Next(2) == 0, withKeys = keyHeads > 0;
            var table = RopeTable.Create(RopeFrequencies.Create(rotaryDim, 10000), 0, 256);
            RopeShape queryShape = StridedTensor.RandomShape(random, tokens, queryHeads, headDim);
            RopeShape keyShape = StridedTensor.RandomShape(random, tokens, keyHeads, headDim);
            int[] explicitPositions = [.. Enumerable.Range(0, tokens).Select(_ => random.Next(256))];
            RopePositions positions = random.Next(2) == 0 ? explicitPositions : RopePositions.Sequential(random.Next(256 - tokens));

            T[] queries = ElementKinds.Activations<T>(random, queryShape.RequiredLength), keys = ElementKinds.Activations<T>(random, keyShape.RequiredLength);
            T[] expectedQueries = (T[])queries.Clone(), expectedKeys = (T[])keys.Clone();
            ElementKinds.Apply<T>(single, table, expectedQueries, queryShape, expectedKeys, keyShape, withKeys, positions, layout, inverse);
            ElementKinds.Apply<T>(parallel, table, queries, queryShape, keys, keyShape, withKeys, positions, layout, inverse);

            string context = $"{path} {typeof(T).Name} trial {trial}: {parallel} tokens {tokens} heads {queryHeads}/{keyHeads} rotary {rotaryDim}/{headDim} {layout}";
            Assert.True(ElementKinds.SameBits(expectedQueries, queries), context);
            Assert.True(ElementKinds.SameBits(expectedKeys, keys), context);
        }
    }
}

/// <summary>Runs alone: it counts bytes allocated by every thread, which other tests running beside it would add to.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

[Collection(nameof(AllocationCounting))]
public class ParallelAllocationTests
{
    [Fact]
    public void ParallelRotationAllocatesNothingOnceWarm()
    {
        RopeEngine parallel = RopeEngine.Default.WithParallelism(2, minElementsPerThread: 1024);
        var table = RopeTable.Create(128, 1024);
        var queryShape = new RopeShape(tokens: 64, heads: 8, headDim: 128);
        var keyShape = new RopeShape(tokens: 64, heads: 2, headDim: 128);
        float[] queries = TestData.Activations(new Random(5), queryShape.RequiredLength), keys = TestData.Activations(new Random(6), keyShape.RequiredLength);
        BFloat16[] packed = new BFloat16[queryShape.RequiredLength];
        for (int warm = 0; warm < 50; warm++)
        {
            parallel.Apply(table, queries, queryShape, keys, keyShape, 0, RopeLayout.HalfSplit);
            parallel.Apply(table, packed, queryShape, 0, RopeLayout.Interleaved);
        }

        // Bytes allocated by every thread: the test host's own threads can allocate now and then, so a window of 200
        // calls must come out clean at least once in a few tries; an allocation per call would show in all of them.
        var windows = new List<long>();
        for (int window = 0; window < 5 && (windows.Count == 0 || windows[^1] != 0); window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int call = 0; call < 200; call++)
            {
                parallel.Apply(table, queries, queryShape, keys, keyShape, 0, RopeLayout.HalfSplit);
                parallel.Apply(table, packed, queryShape, 0, RopeLayout.Interleaved);
            }

            windows.Add(GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        Assert.True(windows[^1] == 0, $"bytes allocated per window of 200 calls: {string.Join(", ", windows)}");
    }
}
