using System.Runtime.InteropServices;
using Rope.Simd;
using static Rope.Simd.Tests.ValidationTests;

namespace Rope.Simd.Tests;

/// <summary>
/// Sizes, schedules and overlaps chosen to break the library: each is rejected with the argument named
/// (quickly, before anything is allocated or written), or, where it is valid, computed right.
/// </summary>
public class HostileInputTests
{
    private static readonly RopeTable Table = RopeTable.Create(rotaryDim: 8, positionCount: 16);

    [Fact]
    public void HugeRotaryDimsAreRejectedBeforeAnythingIsAllocated()
    {
        AssertThrowsNaming<ArgumentOutOfRangeException>("rotaryDim", () => RopeTable.Create(2147483646, 1));
        AssertThrowsNaming<ArgumentOutOfRangeException>("rotaryDim", () => RopeFrequencies.Create(RopeFrequencies.MaxRotaryDim + 2));
        AssertThrowsNaming<ArgumentOutOfRangeException>("rotaryDim", () => RopeReference.InverseFrequencies(1 << 30));
        AssertThrowsNaming<ArgumentOutOfRangeException>("rotaryDim", () => RopeScaling.Yarn(1 << 30, 10000, 4, 4096));
        AssertThrowsNaming<ArgumentOutOfRangeException>("headDim", () => RopeScaling.Proportional(1 << 30, 10000, 0.5));
        AssertThrowsNaming<ArgumentException>("inverseFrequencies", () => RopeFrequencies.FromInverseFrequencies(new double[RopeFrequencies.MaxRotaryDim / 2 + 1]));
        Assert.Equal(RopeFrequencies.MaxRotaryDim, RopeFrequencies.Create(RopeFrequencies.MaxRotaryDim).RotaryDim);
    }

    [Fact]
    public void SchedulesThatCannotGiveFiniteRowsAreRejectedNamingTheArgument()
    {
        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeFrequencies.Create(128, 1e-320));
        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeFrequencies.Create(128, 1));
        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeFrequencies.Create(128, 0.5));
        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeReference.InverseFrequencies(128, double.PositiveInfinity));
        AssertThrowsNaming<ArgumentException>("inverseFrequencies", () => RopeFrequencies.FromInverseFrequencies([1, 1e9]));
        AssertThrowsNaming<ArgumentException>("inverseFrequencies", () => RopeFrequencies.FromInverseFrequencies([double.NaN]));
        AssertThrowsNaming<ArgumentOutOfRangeException>("attentionFactor", () => RopeFrequencies.FromInverseFrequencies([1], 1e300));
        AssertThrowsNaming<ArgumentOutOfRangeException>("attentionFactor", () => RopeFrequencies.FromInverseFrequencies([1], 1e-300));
        AssertThrowsNaming<ArgumentOutOfRangeException>("attentionFactor", () => RopeScaling.Yarn(64, 10000, 4, 4096, attentionFactor: 1e300));
        AssertThrowsNaming<ArgumentOutOfRangeException>("factor", () => RopeScaling.Linear(64, 10000, 1e-10));
        AssertThrowsNaming<ArgumentOutOfRangeException>("factor", () => RopeScaling.FixedNtk(64, 10000, 1e-10));
        AssertThrowsNaming<ArgumentException>("factors", () => RopeScaling.WithFactors(RopeFrequencies.Create(4), [1, 1e-300]));
        AssertThrowsNaming<ArgumentException>("longFactor", () =>
            RopeScaling.LongRope(4, 10000, [1, 1], [1e-300, 1], 4096, 131072, LongRopeSelection.AlwaysLong));

        // The extremes of the domain still give rows within the guarantee (finite, |A·cos| ≤ A).
        var extreme = RopeTable.Create(RopeFrequencies.FromInverseFrequencies([RopeFrequencies.MaxInverseFrequency, 0], RopeFrequencies.MaxAttentionFactor),
            int.MaxValue - 4, 4);
        Assert.All(extreme.Rows.ToArray(), value => Assert.InRange(value, -(float)RopeFrequencies.MaxAttentionFactor, (float)RopeFrequencies.MaxAttentionFactor));
        double angle = (double)(int.MaxValue - 1) * RopeFrequencies.MaxInverseFrequency;
        Assert.Equal(RopeFrequencies.MaxAttentionFactor * Math.Cos(angle), extreme.GetRow(int.MaxValue - 1)[0], 1e-2);
    }

    [Fact]
    public void ScalingArgumentsAreNamedForWhatTheyAre()
    {
        foreach (double bad in new[] { double.NaN, 0, -1 })
        {
            AssertThrowsNaming<ArgumentOutOfRangeException>("betaFast", () => RopeScaling.Yarn(64, 10000, 4, 4096, betaFast: bad));
            AssertThrowsNaming<ArgumentOutOfRangeException>("betaSlow", () => RopeScaling.Yarn(64, 10000, 4, 4096, betaSlow: bad));
        }

        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeScaling.Yarn(64, 1, 4, 4096));
        AssertThrowsNaming<ArgumentOutOfRangeException>("mscale", () => RopeScaling.Yarn(64, 10000, 4, 4096, mscale: double.NaN, mscaleAllDim: 1));
        AssertThrowsNaming<ArgumentOutOfRangeException>("mscaleAllDim", () => RopeScaling.Yarn(64, 10000, 4, 4096, mscale: 1, mscaleAllDim: double.NaN));
        AssertThrowsNaming<ArgumentOutOfRangeException>("headDim", () => RopeScaling.Proportional(127, 10000, 0.5));
        AssertThrowsNaming<ArgumentOutOfRangeException>("factor", () => RopeScaling.DynamicNtk(64, 10000, 1e300, 4096, 8192));
        AssertThrowsNaming<ArgumentOutOfRangeException>("mscaleAllDim", () => RopeScaling.DeepSeekSoftmaxScale(40, double.NaN));
        AssertThrowsNaming<ArgumentOutOfRangeException>("mscaleAllDim", () => RopeScaling.DeepSeekSoftmaxScale(40, -1));
    }

    [Fact]
    public void MisalignedOverlappingSpansNameTheDestination()
    {
        var bytes = new byte[2 * 16 + 1];
        Span<Half> source = MemoryMarshal.Cast<byte, Half>(bytes.AsSpan(0, 32)), destination = MemoryMarshal.Cast<byte, Half>(bytes.AsSpan(1, 32));
        var table = RopeTable.Create(8, 4);
        var shape = new RopeShape(2, 1, 8);
        var sourceCopy = source.ToArray();
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() =>
            RopeEngine.Default.Apply(table, MemoryMarshal.Cast<byte, Half>(bytes.AsSpan(0, 32)), MemoryMarshal.Cast<byte, Half>(bytes.AsSpan(1, 32)), shape, 0, RopeLayout.Interleaved)).ParamName);
        Assert.True(MemoryMarshal.AsBytes(source).SequenceEqual(MemoryMarshal.AsBytes(sourceCopy.AsSpan())));
        Assert.Equal(16, destination.Length);
    }

    [Fact(Timeout = 60_000)]
    public async Task EmptyWorkReturnsAtOnceWhateverTheTokenCount()
    {
        // 2^31 - 1 tokens of no heads: nothing to read or write, so no token loop either (it took minutes).
        var noHeads = new RopeShape(int.MaxValue, 0, 64);
        RopeFrequencies frequencies = RopeFrequencies.Create(64);
        await Task.Run(() =>
        {
            foreach (RopeEngine engine in RopeEngine.Supported.Append(RopeEngine.Default.WithParallelism(2, 1)))
            {
                engine.Apply(frequencies, Span<float>.Empty, noHeads, 0, RopeLayout.Interleaved);
                engine.Apply(frequencies, Span<Half>.Empty, noHeads, Span<Half>.Empty, noHeads, 0, RopeLayout.HalfSplit);
                engine.Apply(frequencies, Span<BFloat16>.Empty, noHeads, 0, RopeLayout.HalfSplit);
            }
        }, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void QueriesAndKeysThatShareElementsAreRejected()
    {
        var shape = new RopeShape(4, 1, 8);
        float[] buffer = [.. Enumerable.Range(0, 64).Select(i => (float)i)];
        float[] before = (float[])buffer.Clone();
        RopeEngine engine = RopeEngine.Default;
        AssertThrowsNaming<ArgumentException>("keys", () => engine.Apply(Table, buffer.AsSpan(0, 32), shape, buffer.AsSpan(0, 32), shape, 0, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("keys", () => engine.Apply(Table, buffer.AsSpan(0, 32), shape, buffer.AsSpan(20, 32), shape, 0, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("keys", () => engine.Apply(RopeFrequencies.Create(8), buffer.AsSpan(0, 32), shape, buffer.AsSpan(31, 32), shape, 0, RopeLayout.HalfSplit));
        AssertThrowsNaming<ArgumentException>("queryDestination", () => engine.Apply(Table,
            buffer.AsSpan(0, 32), buffer.AsSpan(32, 32), shape, buffer.AsSpan(32, 32), new float[32], shape, 0, RopeLayout.Interleaved));
        float[] keys = new float[32];
        AssertThrowsNaming<ArgumentException>("queryDestination", () => engine.Apply(Table,
            buffer.AsSpan(0, 32), keys, shape, keys, new float[32], shape, 0, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("keyDestination", () => engine.Apply(Table,
            buffer.AsSpan(0, 32), new float[32], shape, new float[32], buffer.AsSpan(16, 32), shape, 0, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("keyDestination", () => engine.Apply(Table,
            new float[32], buffer.AsSpan(0, 32), shape, new float[32], buffer.AsSpan(24, 32), shape, 0, RopeLayout.Interleaved));
        Assert.Equal(before, buffer);

        // Both read from one source into separate destinations: reading shared memory is fine.
        engine.Apply(Table, buffer.AsSpan(0, 32), new float[32], shape, buffer.AsSpan(0, 32), new float[32], shape, 0, RopeLayout.Interleaved);
        // Partial rotary in place: the keys may sit in the queries' pass-through elements, which are never touched.
        var wide = new RopeShape(4, 1, 16, tokenStride: 16, headStride: 16);
        var inGaps = new RopeShape(4, 1, 8, tokenStride: 16, headStride: 16);
        engine.Apply(Table, buffer.AsSpan(0, 64), wide, buffer.AsSpan(8, 56), inGaps, 0, RopeLayout.Interleaved);
    }

    [Theory]
    [MemberData(nameof(ElementKinds.SupportedPathsWithTypes), MemberType = typeof(ElementKinds))]
    public void PackedQkvSlicesInterleaveAndStayLegal(RopePath path, string type)
    {
        switch (type)
        {
            case nameof(Single): PackedQkv<float>(path); break;
            case nameof(BFloat16): PackedQkv<BFloat16>(path); break;
            default: PackedQkv<Half>(path); break;
        }
    }

    private static void PackedQkv<T>(RopePath path)
        where T : unmanaged
    {
        // [tokens][(4 + 2 + 2) heads × 16]: queries at 0, keys at 4·16, values after them, one row stride for all.
        const int Tokens = 5, HeadDim = 16, Row = 8 * HeadDim;
        var table = RopeTable.Create(HeadDim, 8);
        var queryShape = new RopeShape(Tokens, 4, HeadDim, Row, HeadDim);
        var keyShape = new RopeShape(Tokens, 2, HeadDim, Row, HeadDim);
        T[] packed = ElementKinds.Activations<T>(new Random(3), Tokens * Row);
        T[] queries = (T[])packed.Clone(), keys = (T[])packed.Clone();
        RopeEngine engine = RopeEngine.Get(path);
        ElementKinds.Apply<T>(engine, table, queries, queryShape, default, default, false, 0, RopeLayout.HalfSplit, false);
        ElementKinds.Apply<T>(engine, table, keys.AsSpan(4 * HeadDim), keyShape, default, default, false, 0, RopeLayout.HalfSplit, false);
        ElementKinds.Apply<T>(engine, table, packed, queryShape, packed.AsSpan(4 * HeadDim), keyShape, true, 0, RopeLayout.HalfSplit, false);
        for (int token = 0; token < Tokens; token++)
        {
            Assert.True(packed.AsSpan(token * Row, 4 * HeadDim).SequenceEqual(queries.AsSpan(token * Row, 4 * HeadDim)));
            Assert.True(packed.AsSpan(token * Row + 4 * HeadDim, 4 * HeadDim).SequenceEqual(keys.AsSpan(token * Row + 4 * HeadDim, 4 * HeadDim)));
        }
    }
}
