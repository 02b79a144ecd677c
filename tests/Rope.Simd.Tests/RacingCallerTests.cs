using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Caller memory that another thread changes while a call runs: the call may rotate by either value or throw an
/// ArgumentOutOfRangeException naming the positions, but it never reads outside the table (which would end the process).
/// </summary>
public class RacingCallerTests
{
    private const int Tokens = 2048;
    private const int CallsPerCase = 300;

    public static TheoryData<RopePath, bool> PathsWithParallelism
    {
        get
        {
            var data = new TheoryData<RopePath, bool>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                data.Add(engine.Path, false);
                data.Add(engine.Path, true);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(PathsWithParallelism))]
    public void PositionsChangedDuringACallNeverIndexOutsideTheTable(RopePath path, bool parallel)
    {
        RopeEngine engine = Engine(path, parallel);
        var table = RopeTable.Create(64, 2 * Tokens);
        var shape = new RopeShape(Tokens, heads: 1, headDim: 64);
        int[] positions = [.. Enumerable.Range(0, Tokens)];
        var queries = new float[shape.RequiredLength];
        RaceOn(positions, Tokens / 2, 2_000_000_000, () => engine.Apply(table, queries, shape, positions, RopeLayout.Interleaved));
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public async Task AKeyAppendedWhilePositionsChangeIsRotatedForThePlaceItIsStoredAt(RopePath path)
    {
        // Token t's position flips between t and t + Tokens while the append runs: whichever value the call reads, the
        // key stored at a place must be the key rotated for that place's position (the position is read once).
        const int Tokens = 64, HeadDim = 64, Calls = 400;
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(HeadDim, 2 * Tokens);
        var shape = new RopeShape(Tokens, heads: 1, headDim: HeadDim);
        var random = new Random(5);
        float[] keys = TestData.Activations(random, shape.RequiredLength), values = new float[keys.Length];
        // The key of token t rotated for position t and for position t + Tokens.
        float[] atFirst = [.. keys], atSecond = [.. keys];
        engine.Apply(table, atFirst, shape, 0, RopeLayout.HalfSplit);
        engine.Apply(table, atSecond, shape, Tokens, RopeLayout.HalfSplit);
        int[] positions = [.. Enumerable.Range(0, Tokens)];
        var keyCache = new float[2 * Tokens * HeadDim];
        var valueCache = new float[keyCache.Length];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var flipper = Task.Run(() =>
        {
            for (int flip = 0; !stop.IsCancellationRequested; flip++)
            {
                int token = flip % Tokens;
                Volatile.Write(ref positions[token], positions[token] < Tokens ? token + Tokens : token);
            }
        }, CancellationToken.None);
        try
        {
            for (int call = 0; call < Calls; call++)
            {
                keyCache.AsSpan().Fill(float.NaN);
                engine.ApplyAndAppend(table, Span<float>.Empty, new RopeShape(Tokens, 0, HeadDim), keys, values, shape,
                    RopeKvCache<float>.PositionMajor(keyCache, valueCache, 1, 2 * Tokens, 1, HeadDim), positions, RopeLayout.HalfSplit);
                for (int place = 0; place < 2 * Tokens; place++)
                {
                    float[] expected = place < Tokens ? atFirst : atSecond;
                    int token = place % Tokens;
                    if (!float.IsNaN(keyCache[place * HeadDim]))
                    {
                        Assert.True(keyCache.AsSpan(place * HeadDim, HeadDim).SequenceEqual(expected.AsSpan(token * HeadDim, HeadDim)),
                            $"call {call}: the key stored at position {place} was rotated for another position");
                    }
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await flipper;
        }
    }

    [Theory]
    [MemberData(nameof(PathsWithParallelism))]
    public void PositionsTurnedNegativeDuringACallNeverComputeOrIndexARow(RopePath path, bool parallel)
    {
        RopeEngine engine = Engine(path, parallel);
        RopeFrequencies frequencies = RopeFrequencies.Create(16);
        var shape = new RopeShape(Tokens / 4, heads: 1, headDim: 16);
        int[] positions = [.. Enumerable.Range(0, shape.Tokens)];
        var queries = new BFloat16[shape.RequiredLength];
        RaceOn(positions, shape.Tokens / 2, int.MinValue, () => engine.Apply(frequencies, queries, shape, positions, RopeLayout.HalfSplit));
    }

    [Theory]
    [MemberData(nameof(PathsWithParallelism))]
    public void MultimodalStreamsChangedDuringACallNeverIndexOutsideTheTable(RopePath path, bool parallel)
    {
        RopeEngine engine = Engine(path, parallel);
        var table = RopeTable.Create(16, Tokens);
        var sections = MropeSections.Contiguous(2, 3, 3);
        var shape = new RopeShape(Tokens, heads: 1, headDim: 16);
        int[] temporal = [.. Enumerable.Range(0, Tokens)], height = (int[])temporal.Clone(), width = (int[])temporal.Clone();
        var queries = new Half[shape.RequiredLength];
        RaceOn(width, Tokens / 2, -7, () => engine.Apply(table, queries, shape, RopePositions.Multimodal(temporal, height, width, sections), RopeLayout.Interleaved));
        RaceOn(height, Tokens / 3, int.MaxValue, () => engine.Apply(table, queries, shape, RopePositions.Multimodal(temporal, height, width, sections), RopeLayout.Interleaved));
    }

    [Theory]
    [MemberData(nameof(PathsWithParallelism))]
    public void Int64PositionsAndSequenceStartsChangedDuringACallNeverIndexOutsideCallerRows(RopePath path, bool parallel)
    {
        RopeEngine engine = Engine(path, parallel);
        float[] cos = new float[Tokens * 8], sin = new float[Tokens * 8];
        var shape = RopeShape.Bshd(2, Tokens / 2, heads: 1, headDim: 16);
        long[] positions = [.. Enumerable.Range(0, Tokens).Select(p => (long)p)];
        var queries = new float[shape.RequiredLength];
        RaceOn(positions, Tokens / 2, long.MaxValue, () => engine.Apply(RopeRows.Separate<float>(cos, sin, 16), queries, shape, positions, RopeLayout.HalfSplit));
        int[] starts = [0, 0];
        RaceOn(starts, 1, Tokens, () => engine.Apply(RopeRows.CosThenSin<float>(cos, 16), queries, shape, RopePositions.Sequential(starts), RopeLayout.Interleaved));
    }

    private static RopeEngine Engine(RopePath path, bool parallel) =>
        parallel ? RopeEngine.Get(path).WithParallelism(2, minElementsPerThread: 1) : RopeEngine.Get(path);

    /// <summary>
    /// Runs <paramref name="call"/> while another thread flips <c>values[index]</c> between its value and
    /// <paramref name="hostile"/>; a call that notices the hostile value must reject it naming the positions.
    /// </summary>
    private static void RaceOn(int[] values, int index, int hostile, Action call)
    {
        int valid = values[index];
        Race(useHostile => Volatile.Write(ref values[index], useHostile ? hostile : valid), call);
    }

    private static void RaceOn(long[] values, int index, long hostile, Action call)
    {
        long valid = values[index];
        Race(useHostile => Volatile.Write(ref values[index], useHostile ? hostile : valid), call);
    }

    private static void Race(Action<bool> setHostile, Action call)
    {
        using var stop = new CancellationTokenSource();
        var flipper = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                setHostile(true);
                Thread.SpinWait(20);
                setHostile(false);
                Thread.SpinWait(20);
            }
        }) { IsBackground = true };
        flipper.Start();
        try
        {
            for (int callIndex = 0; callIndex < CallsPerCase; callIndex++)
            {
                try
                {
                    call();
                }
                catch (ArgumentOutOfRangeException exception)
                {
                    Assert.Equal("positions", exception.ParamName);
                }
            }
        }
        finally
        {
            stop.Cancel();
            flipper.Join();
            setHostile(false);
        }
    }
}
