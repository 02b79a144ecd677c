using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Seeded random calls as a careless or hostile caller makes them: dims, bases, shapes and strides (overlapping ones
/// too), queries and keys placed anywhere in one buffer, positions in and out of range (sometimes changed by another
/// thread during the call), all element types, every path and a parallel engine. Each call either throws an
/// ArgumentException-family exception naming one of its parameters, having written nothing, or gives the same bits
/// as the scalar path on a copy (every path is checked against the double reference elsewhere). The default tier makes
/// the first fifth of the calls, the exhaustive tier (<see cref="TestTier"/>) all of them.
/// </summary>
public class RandomMisuseTests
{
    private static readonly int Cases = TestTier.Choose(2_000, 10_000);

    private static readonly HashSet<string> Parameters = new(StringComparer.Ordinal)
    {
        "rotaryDim", "base", "positionCount", "firstPosition", "tokens", "heads", "headDim", "tokenStride", "headStride",
        "values", "queries", "keys", "shape", "queryShape", "keyShape", "source", "destination", "positions", "layout",
    };

    [Fact]
    public void RandomMisuseIsRejectedNamingAParameterOrMatchesTheScalarPath()
    {
        var random = new Random(20261203);
        RopeEngine[] engines = [.. RopeEngine.Supported, RopeEngine.Default.WithParallelism(2, minElementsPerThread: 1)];
        int accepted = 0, rejected = 0;
        for (int trial = 0; trial < Cases; trial++)
        {
            RopeEngine engine = engines[random.Next(engines.Length)];
            bool outcome = random.Next(3) switch
            {
                0 => Trial<float>(random, engine, trial),
                1 => Trial<BFloat16>(random, engine, trial),
                _ => Trial<Half>(random, engine, trial),
            };
            accepted += outcome ? 1 : 0;
            rejected += outcome ? 0 : 1;
        }

        // Both outcomes are common, so the trials probe the checks and the kernels alike.
        Assert.InRange(accepted, Cases / 10, Cases - Cases / 10);
        Assert.InRange(rejected, Cases / 10, Cases - Cases / 10);
    }

    /// <summary>One random call; true when it was accepted.</summary>
    private static bool Trial<T>(Random random, RopeEngine engine, int trial)
        where T : unmanaged
    {
        int rotaryDim = random.Next(12) == 0 ? Pick(random, 0, -2, 7, 1 << 20) : 2 * random.Next(1, 20);
        double @base = random.Next(12) == 0 ? Pick(random, 0, 1, double.NaN, 1e-320, double.PositiveInfinity) : Pick(random, 10000, 500000, 1e6);
        int tokens = random.Next(0, 7), queryHeads = random.Next(0, 4), keyHeads = random.Next(0, 3);
        int queryHeadDim = HeadDim(random, rotaryDim), keyHeadDim = HeadDim(random, rotaryDim);
        bool withKeys = random.Next(2) == 0, useTable = random.Next(2) == 0, race = random.Next(8) == 0;
        var layout = random.Next(20) == 0 ? (RopeLayout)7 : (RopeLayout)random.Next(2);
        T[] buffer = ElementKinds.Activations<T>(random, random.Next(0, 400));
        int queryOffset = random.Next(0, buffer.Length + 1), keyOffset = random.Next(0, buffer.Length + 1);
        int[] explicitPositions = [.. Enumerable.Range(0, random.Next(8) == 0 ? tokens + 1 : tokens).Select(_ => random.Next(10) == 0 ? random.Next(-5, int.MaxValue) : random.Next(0, 40))];
        int start = random.Next(10) == 0 ? Pick(random, -1, int.MaxValue, 30) : random.Next(0, 20);
        bool isExplicit = random.Next(2) == 0;

        T[] original = (T[])buffer.Clone();
        object rows;
        RopeShape queryShape, keyShape;
        try
        {
            RopeFrequencies frequencies = RopeFrequencies.Create(rotaryDim, @base);
            rows = useTable ? RopeTable.Create(frequencies, 0, 40) : frequencies;
            queryShape = new RopeShape(tokens, queryHeads, queryHeadDim, Stride(random, queryHeads * queryHeadDim), Stride(random, queryHeadDim));
            keyShape = new RopeShape(tokens, keyHeads, keyHeadDim, Stride(random, keyHeads * keyHeadDim), Stride(random, keyHeadDim));
        }
        catch (ArgumentException exception)
        {
            AssertNamesAParameter(exception, trial);
            return false;
        }

        Thread? flipper = null;
        using var stop = new CancellationTokenSource();
        if (race && explicitPositions.Length > 0)
        {
            int index = random.Next(explicitPositions.Length), valid = explicitPositions[index];
            flipper = new Thread(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    Volatile.Write(ref explicitPositions[index], int.MinValue + 3);
                    Volatile.Write(ref explicitPositions[index], valid);
                }
            });
            flipper.Start();
        }

        int[] positionsSnapshot = (int[])explicitPositions.Clone();
        void Call(RopeEngine on, T[] memory, int[] positionValues)
        {
            Span<T> all = memory;
            Span<T> queries = all[queryOffset..], keys = all[keyOffset..];
            RopePositions positions = isExplicit ? positionValues : RopePositions.Sequential(start);
            ElementKinds.Apply(on, rows, queries, queryShape, keys, keyShape, withKeys, positions, layout, inverse: trial % 2 == 0);
        }

        try
        {
            Call(engine, buffer, explicitPositions);
        }
        catch (ArgumentException exception)
        {
            AssertNamesAParameter(exception, trial);
            if (flipper is null)
            {
                Assert.True(ElementKinds.SameBits(original, buffer), $"trial {trial}: a rejected call wrote ({exception.Message})");
            }

            return false;
        }
        finally
        {
            stop.Cancel();
            flipper?.Join();
        }

        if (flipper is null)
        {
            T[] expected = (T[])original.Clone();
            Call(RopeEngine.Get(RopePath.Scalar), expected, positionsSnapshot);
            Assert.True(ElementKinds.SameBits(expected, buffer), $"trial {trial}: {engine} differs from the scalar path");
        }

        return true;
    }

    private static int HeadDim(Random random, int rotaryDim) =>
        random.Next(10) == 0 ? Pick(random, 0, 3, Math.Max(2, rotaryDim - 2)) : Math.Max(2, rotaryDim) + 2 * random.Next(0, 3);

    private static int Stride(Random random, int packed) => random.Next(3) switch
    {
        0 => packed,
        1 => random.Next(0, 80),
        _ => packed + random.Next(0, 9),
    };

    private static TValue Pick<TValue>(Random random, params TValue[] values) => values[random.Next(values.Length)];

    private static void AssertNamesAParameter(ArgumentException exception, int trial)
    {
        Assert.True(exception.ParamName is { } name && Parameters.Contains(name), $"trial {trial}: {exception.GetType().Name} names '{exception.ParamName}': {exception.Message}");
        Assert.False(string.IsNullOrWhiteSpace(exception.Message));
    }
}
