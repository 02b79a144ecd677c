using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Interleaved rows to and from vLLM's cos|sin rows, ONNX's split caches and Hugging Face's duplicated halves.</summary>
public class TableFormatTests
{
    private static readonly RopeTable Table = RopeTable.Create(RopeFrequencies.Create(6, 10000), 3, 4);

    [Fact]
    public void CosThenSinRowsHoldEveryCosineThenEverySine()
    {
        float[] rows = Table.Rows.ToArray();
        var converted = new float[rows.Length];
        RopeTableFormats.ToCosThenSin(rows, 6, converted);

        for (int position = 0; position < 4; position++)
        {
            ReadOnlySpan<float> row = Table.GetRow(3 + position);
            Assert.Equal([row[0], row[2], row[4], row[1], row[3], row[5]], converted.AsSpan(position * 6, 6).ToArray());
        }

        var back = new float[rows.Length];
        RopeTableFormats.FromCosThenSin(converted, 6, back);
        Assert.Equal(rows, back);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SplitCachesRoundTrip(bool duplicated)
    {
        float[] rows = Table.Rows.ToArray();
        int width = duplicated ? 6 : 3;
        float[] cos = new float[4 * width], sin = new float[4 * width];
        RopeTableFormats.ToCosAndSin(rows, 6, cos, sin, duplicated);

        ReadOnlySpan<float> row = Table.GetRow(4);
        float[] expectedCos = duplicated ? [row[0], row[2], row[4], row[0], row[2], row[4]] : [row[0], row[2], row[4]];
        Assert.Equal(expectedCos, cos.AsSpan(width, width).ToArray());
        Assert.Equal(row[5], sin[width + 2]);

        var back = new float[rows.Length];
        RopeTableFormats.FromCosAndSin(cos, sin, 6, back, duplicated);
        Assert.Equal(rows, back);
    }

    [Fact]
    public void BadLengthsAndOverlapsAreRejected()
    {
        var rows = new float[12];
        Assert.Equal("interleaved", Assert.Throws<ArgumentException>(() => RopeTableFormats.ToCosThenSin(rows.AsSpan(0, 10), 6, new float[12])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RopeTableFormats.ToCosThenSin(rows, 6, new float[11])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RopeTableFormats.FromCosThenSin(rows, 6, rows)).ParamName);
        Assert.Equal("rotaryDim", Assert.Throws<ArgumentOutOfRangeException>(() => RopeTableFormats.ToCosThenSin(rows, 5, new float[12])).ParamName);
        Assert.Equal("sin", Assert.Throws<ArgumentException>(() => RopeTableFormats.FromCosAndSin(new float[6], new float[3], 6, new float[12])).ParamName);
        var shared = new float[12];
        Assert.Equal("sin", Assert.Throws<ArgumentException>(() => RopeTableFormats.ToCosAndSin(rows, 6, shared.AsSpan(0, 6), shared.AsSpan(3, 6))).ParamName);
    }
}
