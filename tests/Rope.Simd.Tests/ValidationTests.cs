using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Bad input is rejected with an ArgumentException-family exception naming the parameter, before anything is written.</summary>
public class ValidationTests
{
    private static readonly RopeTable Table = RopeTable.Create(rotaryDim: 8, positionCount: 16);
    private static readonly RopeEngine Engine = RopeEngine.Default;

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    [InlineData(7)]
    public void OddOrNonPositiveRotaryDimIsRejected(int rotaryDim)
    {
        AssertThrowsNaming<ArgumentOutOfRangeException>("rotaryDim", () => RopeFrequencies.Create(rotaryDim));
        AssertThrowsNaming<ArgumentOutOfRangeException>("rotaryDim", () => RopeTable.Create(rotaryDim, 4));
    }

    [Fact]
    public void BadBaseOrFrequenciesAreRejected()
    {
        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeFrequencies.Create(8, 0));
        AssertThrowsNaming<ArgumentOutOfRangeException>("base", () => RopeFrequencies.Create(8, double.NaN));
        AssertThrowsNaming<ArgumentException>("inverseFrequencies", () => RopeFrequencies.FromInverseFrequencies([]));
        AssertThrowsNaming<ArgumentException>("inverseFrequencies", () => RopeFrequencies.FromInverseFrequencies([1, -0.5]));
        AssertThrowsNaming<ArgumentException>("inverseFrequencies", () => RopeFrequencies.FromInverseFrequencies([double.PositiveInfinity]));
    }

    [Fact]
    public void OddHeadDimAndNegativeCountsAreRejected()
    {
        AssertThrowsNaming<ArgumentOutOfRangeException>("headDim", () => new RopeShape(1, 1, 9));
        AssertThrowsNaming<ArgumentOutOfRangeException>("headDim", () => new RopeShape(1, 1, 0));
        AssertThrowsNaming<ArgumentOutOfRangeException>("tokens", () => new RopeShape(-1, 1, 8));
        AssertThrowsNaming<ArgumentOutOfRangeException>("heads", () => new RopeShape(1, -3, 8));
        AssertThrowsNaming<ArgumentOutOfRangeException>("tokenStride", () => new RopeShape(2, 1, 8, -8, 8));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positionCount", () => RopeTable.Create(8, 0));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positionCount", () => RopeTable.Fill(Table.Frequencies, 0, -1, new float[8]));
        AssertThrowsNaming<ArgumentOutOfRangeException>("firstPosition", () => RopeTable.Create(Table.Frequencies, -1, 4));
    }

    [Fact]
    public void SizesWhoseProductOverflowsAreRejected()
    {
        AssertThrowsNaming<ArgumentException>("heads", () => new RopeShape(1, 1 << 20, 1 << 12));
        AssertThrowsNaming<ArgumentException>("tokens", () => new RopeShape(1 << 16, 1 << 8, 1 << 8));
        AssertThrowsNaming<ArgumentException>("tokens", () => new RopeShape(3, 2, 8, int.MaxValue / 2, 8));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positionCount", () => RopeTable.Create(Table.Frequencies, int.MaxValue - 2, 4));
        AssertThrowsNaming<ArgumentException>("positionCount", () => RopeTable.Create(RopeFrequencies.Create(1024), 0, 1 << 22));
    }

    [Fact]
    public void OverlappingHeadsAreRejected()
    {
        AssertThrowsNaming<ArgumentException>("headStride", () => new RopeShape(1, 2, 8, 16, 4));
        AssertThrowsNaming<ArgumentException>("tokenStride", () => new RopeShape(2, 2, 8, 12, 8));
        AssertThrowsNaming<ArgumentException>("tokenStride", () => new RopeShape(2, 2, 8, 8, 8));
        _ = new RopeShape(3, 2, 8, tokenStride: 8, headStride: 24);
        _ = new RopeShape(1, 2, 8, tokenStride: 0, headStride: 8);
    }

    [Fact]
    public void RotaryDimAboveHeadDimIsRejected()
    {
        var shape = new RopeShape(1, 1, 6);
        AssertThrowsNaming<ArgumentException>("shape", () => Engine.Apply(Table, new float[6], shape, 0, RopeLayout.HalfSplit));
    }

    [Fact]
    public void SpansShorterThanTheShapeAreRejectedAndNothingIsWritten()
    {
        var shape = new RopeShape(2, 3, 8);
        var values = new float[47];
        values.AsSpan().Fill(1);
        AssertThrowsNaming<ArgumentException>("values", () => Engine.Apply(Table, values, shape, 0, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("keys", () => Engine.Apply(Table, new float[48], shape, values, shape, 0, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("destination", () => Engine.Apply(Table, new float[48], values, shape, 0, RopeLayout.Interleaved));
        Assert.All(values, v => Assert.Equal(1f, v));
    }

    [Fact]
    public void PositionsOutsideTheTableAreRejectedBeforeAnyWrite()
    {
        var shape = new RopeShape(4, 1, 8);
        var values = new float[32];
        values.AsSpan().Fill(1);
        AssertThrowsNaming<ArgumentOutOfRangeException>("positions", () => Engine.Apply(Table, values, shape, 13, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positions", () => Engine.Apply(Table, values, shape, -1, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positions", () => Engine.Apply(Table, values, shape, int.MaxValue, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positions", () => Engine.Apply(Table, values, shape, new[] { 0, 1, 2, 16 }, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentOutOfRangeException>("positions", () => Engine.Apply(Table, values, shape, new[] { 0, -5, 2, 3 }, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentException>("positions", () => Engine.Apply(Table, values, shape, new[] { 0, 1, 2 }, RopeLayout.Interleaved));
        AssertThrowsNaming<ArgumentOutOfRangeException>("position", () => Table.GetRow(16));
        Assert.All(values, v => Assert.Equal(1f, v));
    }

    [Fact]
    public void QueryAndKeyTokenCountsMustMatch()
    {
        AssertThrowsNaming<ArgumentException>("keyShape", () =>
            Engine.Apply(Table, new float[32], new RopeShape(4, 1, 8), new float[24], new RopeShape(3, 1, 8), 0, RopeLayout.HalfSplit));
    }

    [Fact]
    public void PartlyOverlappingSourceAndDestinationAreRejected()
    {
        var buffer = new float[40];
        var shape = new RopeShape(4, 1, 8);
        AssertThrowsNaming<ArgumentException>("destination", () =>
            Engine.Apply(Table, buffer.AsSpan(0, 32), buffer.AsSpan(8, 32), shape, 0, RopeLayout.HalfSplit));
        Engine.Apply(Table, buffer.AsSpan(0, 32), buffer.AsSpan(0, 32), shape, 0, RopeLayout.HalfSplit);
    }

    [Fact]
    public void UnknownLayoutAndNullTableAreRejected()
    {
        var shape = new RopeShape(1, 1, 8);
        AssertThrowsNaming<ArgumentOutOfRangeException>("layout", () => Engine.Apply(Table, new float[8], shape, 0, (RopeLayout)7));
        AssertThrowsNaming<ArgumentNullException>("table", () => Engine.Apply((RopeTable)null!, new float[8], shape, 0, RopeLayout.HalfSplit));
        AssertThrowsNaming<ArgumentNullException>("frequencies", () => Engine.Apply((RopeFrequencies)null!, new float[8], shape, 0, RopeLayout.HalfSplit));
        AssertThrowsNaming<ArgumentException>("shape", () => Engine.Apply(Table, new float[8], default, 0, RopeLayout.HalfSplit));
    }

    [Fact]
    public void SixteenBitOverloadsValidateLikeTheFloatOnesAndWriteNothing()
    {
        var shape = new RopeShape(2, 3, 8);
        foreach (PackedType type in PackedElements.All)
        {
            var values = new ushort[47];
            values.AsSpan().Fill(0x3F80);
            var fits = new ushort[48];
            AssertThrowsNaming<ArgumentException>("values", () => PackedElements.Apply(Engine, type, Table, values, shape, 0, RopeLayout.Interleaved));
            AssertThrowsNaming<ArgumentException>("keys", () => PackedElements.Apply(Engine, type, Table, fits, shape, values, shape, 0, RopeLayout.Interleaved));
            AssertThrowsNaming<ArgumentException>("destination", () => PackedElements.Apply(Engine, type, Table, fits, values, shape, 0, RopeLayout.HalfSplit));
            AssertThrowsNaming<ArgumentException>("keyDestination", () =>
                PackedElements.Apply(Engine, type, Table, fits, new ushort[48], shape, fits, values, shape, 0, RopeLayout.HalfSplit));
            AssertThrowsNaming<ArgumentOutOfRangeException>("positions", () =>
                PackedElements.Apply(Engine, type, Table, fits, shape, new[] { 0, 16 }, RopeLayout.Interleaved));
            AssertThrowsNaming<ArgumentException>("keyShape", () =>
                PackedElements.Apply(Engine, type, Table, fits, shape, new ushort[48], new RopeShape(3, 1, 8), 0, RopeLayout.HalfSplit));
            AssertThrowsNaming<ArgumentOutOfRangeException>("layout", () => PackedElements.Apply(Engine, type, Table, fits, shape, 0, (RopeLayout)7));
            AssertThrowsNaming<ArgumentException>("destination", () =>
                PackedElements.Apply(Engine, type, Table, fits.AsSpan(0, 47), fits.AsSpan(1, 47), new RopeShape(1, 1, 8), 0, RopeLayout.HalfSplit));
            Assert.All(values, v => Assert.Equal(0x3F80, v));
            Assert.All(fits, v => Assert.Equal(0, v));
        }
    }

    [Fact]
    public void EmptyTensorsAreANoOp()
    {
        Engine.Apply(Table, Span<float>.Empty, new RopeShape(0, 4, 8), 0, RopeLayout.Interleaved);
        Engine.Apply(Table, Span<float>.Empty, new RopeShape(3, 0, 8), 2, RopeLayout.Interleaved);
    }

    [Fact]
    public void EmptyPackedBuffersAndHeadlessNormalizedTensorsAreANoOp()
    {
        // No tokens in a packed buffer: every packed overload returns at once.
        var table = RopeTable.Create(64, 16);
        var packing = new RopePackedQkv(0, 4, 2, 64);
        RopeHeadNorm norm = RopeHeadNorm.RmsUnweighted(1e-6f);
        float[] keyCache = new float[16 * 2 * 64], valueCache = new float[keyCache.Length];
        Engine.ApplyWithNorm(table, Span<float>.Empty, packing, norm, norm, 0, RopeLayout.HalfSplit);
        Engine.ApplyAndAppend(table, Span<Half>.Empty, packing, norm, norm,
            RopeKvCache<float>.PositionMajor(keyCache, valueCache, 1, 16, 2, 64), 0, RopeLayout.HalfSplit);
        Engine.ApplyAndAppend(table, Span<BFloat16>.Empty, new RopePackedQkv(3, 0, 4, 2, 64), norm, norm,
            RopeKvCache<float>.PositionMajor(new float[3 * 16 * 2 * 64], new float[3 * 16 * 2 * 64], 3, 16, 2, 64), 0, RopeLayout.Interleaved);
        Assert.All(keyCache, value => Assert.Equal(0f, value));

        // No query heads, with a token stride, a norm and 16-bit keys: only the keys are normalized and rotated.
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            var keyShape = new RopeShape(4, 2, 64, tokenStride: 3 * 64, headStride: 64);
            Half[] keys = [.. Enumerable.Range(0, keyShape.RequiredLength).Select(i => (Half)MathF.Sin(i))], expected = [.. keys];
            engine.ApplyWithNorm(table, Span<Half>.Empty, new RopeShape(4, 0, 64, tokenStride: 3 * 64, headStride: 64), norm, keys.AsSpan(), keyShape, norm,
                0, RopeLayout.HalfSplit);
            engine.ApplyWithNorm(table, expected.AsSpan(), keyShape, norm, 0, RopeLayout.HalfSplit);
            Assert.Equal(expected, keys);
        }
    }

    [Fact]
    public void UnsupportedPathIsReportedAsSuch()
    {
        foreach (RopePath path in Enum.GetValues<RopePath>().Where(path => !RopeEngine.IsSupported(path)))
        {
            Assert.Throws<PlatformNotSupportedException>(() => RopeEngine.Get(path));
        }
    }

    internal static void AssertThrowsNaming<TException>(string parameter, Action action)
        where TException : ArgumentException
    {
        TException exception = Assert.Throws<TException>(action);
        Assert.Equal(parameter, exception.ParamName);
        Assert.False(string.IsNullOrWhiteSpace(exception.Message));
    }
}
