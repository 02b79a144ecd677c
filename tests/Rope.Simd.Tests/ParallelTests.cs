using System.Diagnostics;
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

/// <summary>Tests that run alone: they count bytes allocated by every thread, or jobs on the parallel engine's board, which tests running beside them would add to.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;

[Collection(nameof(RunsAlone))]
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
        void Calls(int count)
        {
            for (int call = 0; call < count; call++)
            {
                parallel.Apply(table, queries, queryShape, keys, keyShape, 0, RopeLayout.HalfSplit);
                parallel.Apply(table, packed, queryShape, 0, RopeLayout.Interleaved);
            }
        }

        Calls(50);

        // The calling thread runs chunks, queues helpers and waits; its own count is exact, whatever else runs, but
        // the runtime may still allocate once on it (tiering up a method after its call count). A window of 200
        // calls must come out clean at least once in a few; an allocation per call would show in every one.
        var callerWindows = new List<long>();
        for (int window = 0; window < 5 && (callerWindows.Count == 0 || callerWindows[^1] != 0); window++)
        {
            long callerBefore = GC.GetAllocatedBytesForCurrentThread();
            Calls(200);
            callerWindows.Add(GC.GetAllocatedBytesForCurrentThread() - callerBefore);
        }

        Assert.True(callerWindows[^1] == 0, $"bytes the calling thread allocated per window of 200 calls: {string.Join(", ", callerWindows)}");

        // Helpers run on pool threads, counted only among every thread's bytes, where the runtime's and the test host's
        // own threads add some now and then (more when the machine is loaded). Short windows are taken, for up to a few
        // seconds, until one in which helpers ran chunks comes out clean; an allocation per call would show in every one.
        // Between them, idle windows of the same length show how noisy the process is, so a failure tells the two apart.
        var windows = new List<(long Bytes, long HelperChunks)>();
        var idleWindows = new List<long>();
        var budget = Stopwatch.StartNew();
        while (budget.Elapsed < TimeSpan.FromSeconds(5) && !windows.Any(window => window is { Bytes: 0, HelperChunks: > 0 }))
        {
            long helperChunks = Parallelism.ParallelJob.ChunksRunByHelpers;
            long before = GC.GetTotalAllocatedBytes(precise: true), start = Stopwatch.GetTimestamp();
            Calls(10);
            long length = Stopwatch.GetTimestamp() - start;
            windows.Add((GC.GetTotalAllocatedBytes(precise: true) - before, Parallelism.ParallelJob.ChunksRunByHelpers - helperChunks));

            before = GC.GetTotalAllocatedBytes(precise: true);
            for (long idleStart = Stopwatch.GetTimestamp(); Stopwatch.GetTimestamp() - idleStart < length;)
            {
                Thread.SpinWait(16);
            }

            idleWindows.Add(GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        var helped = windows.Where(window => window.HelperChunks > 0).Select(window => window.Bytes).ToList();
        Assert.True(helped.Contains(0),
            $"{windows.Count} windows of 10 calls, helpers ran chunks in {helped.Count}, none clean; bytes allocated by all threads " +
            $"in those: {string.Join(", ", helped.Take(20))}; idle windows of the same length: {idleWindows.Count(bytes => bytes == 0)} " +
            $"of {idleWindows.Count} clean, first {string.Join(", ", idleWindows.Take(20))}");
    }
}

[Collection(nameof(RunsAlone))]
public class ParallelInterruptTests
{
    [Fact]
    public void InterruptedParallelCallsFinishTheirWorkAndReleaseTheirJob()
    {
        RopeEngine parallel = RopeEngine.Default.WithParallelism(2, minElementsPerThread: 1);
        var table = RopeTable.Create(128, 512);
        var shape = new RopeShape(tokens: 512, heads: 8, headDim: 128);
        float[] input = TestData.Activations(new Random(9), shape.RequiredLength), expected = (float[])input.Clone();
        RopeEngine.Default.Apply(table, expected, shape, 0, RopeLayout.Interleaved);

        int escaped = 0, wrong = 0, delivered = 0;
        var worker = new Thread(() =>
        {
            var buffer = new float[input.Length];
            for (int call = 0; call < 400; call++)
            {
                input.CopyTo(buffer, 0);
                try
                {
                    parallel.Apply(table, buffer, shape, 0, RopeLayout.Interleaved);
                }
                catch (ThreadInterruptedException)
                {
                    escaped++;
                }

                // Compared after the call: a helper still writing then would leave some other bits.
                wrong += buffer.AsSpan().SequenceEqual(expected) ? 0 : 1;
                try
                {
                    Thread.Sleep(0);
                }
                catch (ThreadInterruptedException)
                {
                    delivered++;
                }
            }
        });
        worker.Start();
        while (worker.IsAlive)
        {
            worker.Interrupt();
            Thread.Sleep(1);
        }

        worker.Join();
        Assert.True(escaped == 0, $"{escaped} interrupts escaped a parallel call");
        Assert.True(wrong == 0, $"{wrong} results differ from the single-threaded rotation");
        Assert.True(delivered > 0, "no interrupt reached the worker, so the test proved nothing");
        Assert.Equal(0, Parallelism.ParallelJob.PublishedJobs);
    }
}
