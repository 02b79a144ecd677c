using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Rotation with cos/sin the caller holds (<see cref="RopeRows"/>): every layout of rows and value type, against the
/// table path bit for bit where the values are a table's, and against the formula in double for arbitrary values.
/// </summary>
public class CallerRowsTests
{
    public enum Format
    {
        Interleaved,
        CosThenSin,
        Separate,
        Duplicated,
    }

    public static TheoryData<RopePath, RopeLayout, Format> PathsLayoutsFormats
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, Format>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    foreach (Format format in Enum.GetValues<Format>())
                    {
                        data.Add(engine.Path, layout, format);
                    }
                }
            }

            return data;
        }
    }

    /// <summary>Caller buffers holding <paramref name="table"/>'s rows in one format, rows <paramref name="padding"/> values apart beyond their width.</summary>
    private static (float[] First, float[] Second, int Stride) Export(RopeTable table, Format format, int padding)
    {
        int rotaryDim = table.RotaryDim, positions = table.PositionCount, pairs = rotaryDim / 2;
        int width = format == Format.Separate ? pairs : rotaryDim, stride = width + padding;
        float[] first = new float[positions * stride], second = format is Format.Separate or Format.Duplicated ? new float[positions * stride] : [];
        for (int position = 0; position < positions; position++)
        {
            ReadOnlySpan<float> row = table.GetRow(table.FirstPosition + position);
            for (int pair = 0; pair < pairs; pair++)
            {
                float c = row[2 * pair], s = row[2 * pair + 1];
                int at = position * stride;
                switch (format)
                {
                    case Format.Interleaved:
                        first[at + 2 * pair] = c;
                        first[at + 2 * pair + 1] = s;
                        break;
                    case Format.CosThenSin:
                        first[at + pair] = c;
                        first[at + pairs + pair] = s;
                        break;
                    case Format.Separate:
                        first[at + pair] = c;
                        second[at + pair] = s;
                        break;
                    default:
                        first[at + pair] = first[at + pairs + pair] = c;
                        second[at + pair] = second[at + pairs + pair] = s;
                        break;
                }
            }
        }

        return (first, second, stride);
    }

    private static RopeRows Wrap<TValue>(Format format, ReadOnlySpan<TValue> first, ReadOnlySpan<TValue> second, int rotaryDim, int stride)
        where TValue : unmanaged => format switch
        {
            Format.Interleaved => RopeRows.Interleaved(first, rotaryDim, stride),
            Format.CosThenSin => RopeRows.CosThenSin(first, rotaryDim, stride),
            Format.Separate => RopeRows.Separate(first, second, rotaryDim, stride),
            _ => RopeRows.Duplicated(first, second, rotaryDim, stride),
        };

    [Theory]
    [MemberData(nameof(PathsLayoutsFormats))]
    public void RowsExportedFromATableRotateToTheTablesBits(RopePath path, RopeLayout layout, Format format)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(HashCode.Combine(path, layout, format));
        // Rotary dims around the vector widths, partial rotary, a few padded strides.
        foreach ((int rotaryDim, int headDim, int padding) in (ReadOnlySpan<(int, int, int)>)[(2, 2, 0), (6, 8, 3), (16, 16, 0), (34, 64, 1), (80, 80, 0), (128, 160, 7)])
        {
            var table = RopeTable.Create(RopeFrequencies.Create(rotaryDim, 10000), 0, 50);
            (float[] first, float[] second, int stride) = Export(table, format, padding);
            var queryShape = new RopeShape(tokens: 5, heads: 3, headDim: headDim);
            var keyShape = new RopeShape(tokens: 5, heads: 1, headDim: headDim);
            float[] queries = TestData.Activations(random, queryShape.RequiredLength), keys = TestData.Activations(random, keyShape.RequiredLength);
            int[] positions = [.. Enumerable.Range(0, 5).Select(_ => random.Next(50))];

            float[] expectedQueries = [.. queries], expectedKeys = [.. keys];
            engine.Apply(table, expectedQueries, queryShape, expectedKeys, keyShape, positions, layout);
            engine.Apply(Wrap<float>(format, first, second, rotaryDim, stride), queries, queryShape, keys, keyShape, positions, layout);
            Assert.Equal(expectedQueries, queries);
            Assert.Equal(expectedKeys, keys);

            // 16-bit rows are widened exactly: the same bits as float rows holding the widened values.
            foreach (PackedType type in PackedElements.All)
            {
                ushort[] first16 = PackedElements.Round(type, first), second16 = PackedElements.Round(type, second);
                float[] widenedFirst = PackedElements.Widen(type, first16), widenedSecond = PackedElements.Widen(type, second16);
                float[] fromWidened = TestData.Activations(new Random(rotaryDim), queryShape.RequiredLength), from16 = [.. fromWidened];
                engine.Apply(Wrap<float>(format, widenedFirst, widenedSecond, rotaryDim, stride), fromWidened, queryShape, positions, layout, inverse: true);
                RopeRows rows16 = type == PackedType.BFloat16
                    ? Wrap(format, MemoryMarshal.Cast<ushort, BFloat16>(first16), MemoryMarshal.Cast<ushort, BFloat16>(second16), rotaryDim, stride)
                    : Wrap(format, MemoryMarshal.Cast<ushort, Half>(first16), MemoryMarshal.Cast<ushort, Half>(second16), rotaryDim, stride);
                engine.Apply(rows16, from16, queryShape, positions, layout, inverse: true);
                Assert.Equal(fromWidened, from16);
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathsLayoutsFormats))]
    public void SixteenBitActivationsRotateWithCallerRowsAsWithTheTable(RopePath path, RopeLayout layout, Format format)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(HashCode.Combine(path, layout, format, 16));
        foreach ((int rotaryDim, int headDim, int padding) in (ReadOnlySpan<(int, int, int)>)[(2, 2, 0), (8, 8, 0), (6, 8, 3), (16, 16, 0), (34, 64, 1), (80, 80, 0), (128, 128, 0), (128, 160, 7)])
        {
            var table = RopeTable.Create(RopeFrequencies.Create(rotaryDim, 10000), 0, 50);
            (float[] first, float[] second, int stride) = Export(table, format, padding);
            RopeRows rows = Wrap<float>(format, first, second, rotaryDim, stride);
            var shape = new RopeShape(tokens: 5, heads: 3, headDim: headDim);
            int[] positions = [.. Enumerable.Range(0, 5).Select(_ => random.Next(50))];
            foreach (bool inverse in (ReadOnlySpan<bool>)[false, true])
            {
                BFloat16[] bf16 = ElementKinds.Activations<BFloat16>(random, shape.RequiredLength), bf16Rows = [.. bf16];
                engine.Apply(table, bf16, shape, positions, layout, inverse);
                engine.Apply(rows, bf16Rows, shape, positions, layout, inverse);
                Assert.True(ElementKinds.SameBits(bf16, bf16Rows), $"bfloat16, {format} rows, rotary dim {rotaryDim}, inverse {inverse}");

                Half[] half = ElementKinds.Activations<Half>(random, shape.RequiredLength), halfRows = [.. half];
                engine.Apply(table, half, shape, positions, layout, inverse);
                engine.Apply(rows, halfRows, shape, positions, layout, inverse);
                Assert.True(ElementKinds.SameBits(half, halfRows), $"float16, {format} rows, rotary dim {rotaryDim}, inverse {inverse}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void HalfSplitSixteenBitHeadsTakeEachPairsOwnCosine(RopePath path)
    {
        // cos [1, 2, 3, 4], sin 0: pair i of a head of ones becomes cos i in both halves.
        float[] cos = [1, 2, 3, 4], sin = new float[4];
        BFloat16[] values = [.. Enumerable.Repeat((BFloat16)1f, 8)];
        RopeEngine.Get(path).Apply(RopeRows.Separate<float>(cos, sin, 8), values, new RopeShape(1, 1, 8), 0, RopeLayout.HalfSplit);
        Assert.Equal([1f, 2, 3, 4, 1, 2, 3, 4], values.Select(value => (float)value));
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void ArbitraryCachesFollowTheFormulaWithTheValuesGiven(RopePath path, RopeLayout layout)
    {
        // As ONNX RotaryEmbedding's own tests do: random cos and sin, so cos² + sin² is anything from about 0 to 2.
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(7 + (int)path);
        const int RotaryDim = 48, HeadDim = 64, Positions = 20, Tokens = 6, Heads = 3;
        int pairs = RotaryDim / 2;
        float[] cos = [.. Enumerable.Range(0, Positions * pairs).Select(_ => (float)(random.NextDouble() * 2.4 - 1.2))];
        float[] sin = [.. Enumerable.Range(0, Positions * pairs).Select(_ => (float)(random.NextDouble() * 2.4 - 1.2))];
        var shape = new RopeShape(Tokens, Heads, HeadDim);
        long[] positions = [.. Enumerable.Range(0, Tokens).Select(_ => (long)random.Next(Positions))];
        foreach (bool inverse in (ReadOnlySpan<bool>)[false, true])
        {
            float[] input = TestData.Activations(random, shape.RequiredLength), output = new float[input.Length];
            engine.Apply(RopeRows.Separate<float>(cos, sin, RotaryDim), input, output, shape, positions, layout, inverse);
            for (int token = 0; token < Tokens; token++)
            {
                for (int head = 0; head < Heads; head++)
                {
                    int start = (token * Heads + head) * HeadDim;
                    for (int pair = 0; pair < pairs; pair++)
                    {
                        int i = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair), j = layout == RopeLayout.Interleaved ? i + 1 : i + pairs;
                        double c = cos[positions[token] * pairs + pair], s = inverse ? -sin[positions[token] * pairs + pair] : sin[positions[token] * pairs + pair];
                        double a = input[i], b = input[j];
                        double bound = 2.0 / (1 << 23) * Math.Max(Math.Abs(a), Math.Abs(b)) * Math.Max(1, Math.Abs(c) + Math.Abs(s)) + 1e-44;
                        Assert.InRange(output[i], a * c - b * s - bound, a * c - b * s + bound);
                        Assert.InRange(output[j], a * s + b * c - bound, a * s + b * c + bound);
                    }

                    for (int d = RotaryDim; d < HeadDim; d++)
                    {
                        Assert.Equal(input[start + d], output[start + d]);
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void Int64PositionsRotateAsInt32Positions(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 64, positionCount: 4096);
        var shape = new RopeShape(tokens: 9, heads: 4, headDim: 64);
        var random = new Random(3);
        int[] positions = [.. Enumerable.Range(0, 9).Select(_ => random.Next(4096))];
        float[] viaInt = TestData.Activations(random, shape.RequiredLength), viaLong = [.. viaInt];
        engine.Apply(table, viaInt, shape, positions, layout);
        engine.Apply(table, viaLong, shape, positions.Select(p => (long)p).ToArray(), layout);
        Assert.Equal(viaInt, viaLong);
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void MultimodalAndParallelCallsReadCallerRowsToo(RopePath path)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 256);
        (float[] rows, _, int stride) = Export(table, Format.CosThenSin, padding: 0);
        var random = new Random(11);
        var shape = new RopeShape(tokens: 200, heads: 8, headDim: 128);
        int[] temporal = [.. Enumerable.Range(0, 200).Select(_ => random.Next(256))];
        int[] height = [.. temporal.Select(p => (p * 7) % 256)], width = [.. temporal.Select(p => (p * 13) % 256)];
        RopePositions Multimodal() => RopePositions.Multimodal(temporal, height, width, MropeSections.Contiguous(16, 24, 24));

        float[] expected = TestData.Activations(random, shape.RequiredLength), actual = [.. expected];
        engine.Apply(table, expected, shape, Multimodal(), RopeLayout.HalfSplit);
        engine.Apply(RopeRows.CosThenSin<float>(rows, 128, stride), actual, shape, Multimodal(), RopeLayout.HalfSplit);
        Assert.Equal(expected, actual);

        float[] parallel = [.. expected], single = [.. expected];
        engine.WithParallelism(2, minElementsPerThread: 1024).Apply(RopeRows.CosThenSin<float>(rows, 128), parallel, shape, temporal, RopeLayout.Interleaved);
        engine.Apply(RopeRows.CosThenSin<float>(rows, 128), single, shape, temporal, RopeLayout.Interleaved);
        Assert.Equal(single, parallel);
    }

    [Fact]
    public void CallerRowsAreCheckedBeforeAnythingIsWritten()
    {
        float[] cos = new float[10 * 32], sin = new float[9 * 32];
        var shape = new RopeShape(tokens: 2, heads: 1, headDim: 64);
        float[] values = [.. Enumerable.Repeat(1f, shape.RequiredLength)];

        // Positions covered by both spans have rows: 9 here.
        Assert.Equal(9, RopeRows.Separate<float>(cos, sin, 64).PositionCount);
        var outside = Assert.Throws<ArgumentOutOfRangeException>(
            () => RopeEngine.Default.Apply(RopeRows.Separate<float>(cos, sin, 64), values, shape, new long[] { 3, 9 }, RopeLayout.HalfSplit));
        Assert.Equal("positions", outside.ParamName);
        Assert.Contains("the caller's rows [0, 9)", outside.Message);
        Assert.All(values, value => Assert.Equal(1f, value));

        // A position whose offset would wrap around 2^64 (2^58 × a stride of 64) is outside, not row 0.
        Assert.False(RopeRows.CosThenSin<float>(cos, 32, rowStride: 64).Contains(1L << 58));
        Assert.Equal("positions", Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.Apply(
            RopeRows.CosThenSin<float>(cos, 32, rowStride: 64), values.AsSpan(0, 64), new RopeShape(1, 1, 64), new long[] { 1L << 58 }, RopeLayout.HalfSplit)).ParamName);

        Assert.Equal("rowStride", Assert.Throws<ArgumentOutOfRangeException>(() => RopeRows.CosThenSin<float>(cos, 64, rowStride: 63)).ParamName);
        Assert.Equal("rotaryDim", Assert.Throws<ArgumentOutOfRangeException>(() => RopeRows.Interleaved<float>(cos, 63)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => RopeRows.Interleaved<float>(cos.AsSpan(0, 63), 64)).ParamName);
        Assert.Equal("sin", Assert.Throws<ArgumentException>(() => RopeRows.Duplicated<float>(cos, sin.AsSpan(0, 10), 64)).ParamName);
        Assert.Throws<NotSupportedException>(() => RopeRows.Interleaved<double>(new double[64], 64));
        Assert.Throws<NotSupportedException>(() => RopeEngine.Default.Apply(RopeRows.Interleaved<float>(cos, 64), new int[64], new RopeShape(1, 1, 64), 0, RopeLayout.HalfSplit));

        // Rows wider than the heads.
        var narrow = new RopeShape(tokens: 2, heads: 1, headDim: 32);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(RopeRows.Interleaved<float>(cos, 64), values.AsSpan(0, 64), narrow, 0, RopeLayout.HalfSplit)).ParamName);
    }
}
